from pathlib import Path

import pytest

from services.translate.ct2 import CTranslate2Engine
from services.translate.engines import EngineNotConfigured, PseudoEngine, engines_from_settings
from services.translate.settings import TranslateSettings
from tools.tiny_models import build_tiny_marian


def test_no_engine_is_a_choice_and_unknown_names_fail_loudly() -> None:
    assert engines_from_settings(TranslateSettings(engine="")) == []
    (pseudo,) = engines_from_settings(TranslateSettings(engine="pseudo"))
    assert isinstance(pseudo, PseudoEngine)
    with pytest.raises(EngineNotConfigured, match="unknown translation engine 'deepl'"):
        engines_from_settings(TranslateSettings(engine="deepl"))
    with pytest.raises(EngineNotConfigured, match="needs TRANSLATE_MODEL_DIR"):
        engines_from_settings(TranslateSettings(engine="ctranslate2"))


async def test_ctranslate2_is_configured_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = build_tiny_marian(tmp_path / "tiny")
    monkeypatch.setenv("TRANSLATE_ENGINE", "ctranslate2")
    monkeypatch.setenv("TRANSLATE_MODEL_DIR", str(model))
    monkeypatch.setenv("TRANSLATE_BEAM_SIZE", "1")
    monkeypatch.setenv("TRANSLATE_MAX_DECODING_LENGTH", "7")
    (engine,) = engines_from_settings(TranslateSettings())
    assert engine.name == "ctranslate2"
    assert isinstance(engine, CTranslate2Engine)
    assert (engine.beam_size, engine.max_decoding_length) == (1, 7)
    assert engine.supports("fa", "en")
    (out,) = await engine.translate(["شهرداری مشهد"], "fa", "en")
    assert isinstance(out, str)


def test_a_chain_of_engines_is_read_in_order_and_each_needs_its_settings() -> None:
    from services.translate.http_engines import LibreTranslateEngine

    chain = engines_from_settings(
        TranslateSettings(engine="libretranslate, pseudo", libretranslate_url="http://lt:5000")
    )
    assert [e.name for e in chain] == ["libretranslate", "pseudo"]
    assert isinstance(chain[0], LibreTranslateEngine)
    with pytest.raises(EngineNotConfigured, match="TRANSLATE_OPENAI_URL"):
        engines_from_settings(TranslateSettings(engine="openai-compatible"))
