"""The M2M100-layout random model (built as a CTranslate2 spec, no torch) serves like a real one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.translate.ct2 import CTranslate2Engine, ModelManifest, verify
from tools.tiny_models import build_tiny_m2m100


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_m2m100(
        tmp_path_factory.mktemp("m2m") / "tiny-m2m100", pad_vocab_to=400, quantization="int8"
    )


def test_directory_is_an_m2m100_model(model_dir: Path) -> None:
    assert verify(model_dir) == []
    manifest = ModelManifest.load(model_dir)
    assert manifest.family == "m2m100"
    assert manifest.spm_files() == ("sentencepiece.bpe.model",) * 2
    vocabulary = json.loads((model_dir / "shared_vocabulary.json").read_text(encoding="utf-8"))
    assert vocabulary[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert {"__fa__", "__en__", "__ar__", "__ru__"} <= set(vocabulary)
    assert len(vocabulary) == 400 and vocabulary[-1].startswith("madeupword")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["decoder_start_token"] == "</s>" and not config["add_source_eos"]


async def test_translates_with_language_tokens(model_dir: Path) -> None:
    engine = CTranslate2Engine(model_dir, max_decoding_length=6, beam_size=1)
    assert engine.supports("fa", "ru") and not engine.supports("fa", "fa")
    out = await engine.translate(["شهرداری مشهد امروز پارک جدیدی افتتاح کرد.", ""], "fa", "en")
    assert len(out) == 2 and out[0] and out[1] == ""
    assert "__en__" not in out[0]
    assert engine.info()["compute_type"].startswith("int8")
