"""The CTranslate2 engine against a tiny random-weight Marian model built on the spot.

Random weights produce random words, so these tests check the plumbing (tokenization, batching,
order, empty segments, manifest and provenance), never the translation itself.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from services.translate.ct2 import (
    MANIFEST_NAME,
    CTranslate2Engine,
    ModelDirectoryError,
    ModelManifest,
    verify,
)
from services.translate.engines import TranslationEngine
from tests.support.tiny_models import build_tiny_marian

SEGMENTS = [
    "شهرداری مشهد امروز از افتتاح یک پارک جدید خبر داد.",
    "",
    "قطار شهری مشهد",
    "   ",
    "شورای شهر بودجه را تصویب کرد.",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_marian(tmp_path_factory.mktemp("ct2") / "tiny-fa-en")


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> CTranslate2Engine:
    # Short outputs keep the test fast: random weights rarely emit </s> early.
    return CTranslate2Engine(model_dir, device="cpu", max_decoding_length=12, max_batch_size=2)


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


def test_is_a_translation_engine(engine: CTranslate2Engine) -> None:
    typed: TranslationEngine = engine
    assert typed.name == "ctranslate2"
    assert typed.model == "tiny-marian-fa-en"
    assert typed.model_version


def test_supports_only_the_manifest_pairs(engine: CTranslate2Engine) -> None:
    assert engine.supports("fa", "en")
    assert not engine.supports("fa", "ru")
    assert not engine.supports("en", "fa")


async def test_translates_in_order_and_keeps_empty_segments(engine: CTranslate2Engine) -> None:
    out = await engine.translate(SEGMENTS, "fa", "en")
    assert len(out) == len(SEGMENTS)
    assert all(isinstance(s, str) for s in out)
    assert out[1] == ""
    assert out[3] == "   "
    assert all(out[i].strip() for i in (0, 2, 4))
    # Order: each segment alone translates as it did inside the batch (decoding is deterministic
    # and every example is decoded independently of its neighbours).
    for i in (0, 2, 4):
        assert await engine.translate([SEGMENTS[i]], "fa", "en") == [out[i]]


async def test_only_empty_segments_need_no_model(engine: CTranslate2Engine) -> None:
    assert await engine.translate(["", " "], "fa", "en") == ["", " "]
    assert await engine.translate([], "fa", "en") == []


async def test_unsupported_pair_is_refused(engine: CTranslate2Engine) -> None:
    with pytest.raises(ValueError, match="fa→ru"):
        await engine.translate(["سلام"], "fa", "ru")


def test_info(engine: CTranslate2Engine) -> None:
    info = engine.info()
    assert info["engine"] == "ctranslate2"
    assert info["name"] == "tiny-marian-fa-en"
    assert info["family"] == "marian"
    assert info["version"] == engine.model_version
    assert info["licence"]
    assert info["device"] == "cpu"
    assert info["compute_type"].startswith("int8")
    assert info["languages"] == ["fa", "en"]
    assert info["pairs"] == [["fa", "en"]]
    json.dumps(info)  # serialisable for provenance and the CLI


def test_manifest_roundtrip(model_dir: Path) -> None:
    manifest = ModelManifest.load(model_dir)
    assert manifest.family == "marian"
    assert manifest.spm_files() == ("source.spm", "target.spm")
    assert set(manifest.sha256) >= {"model.bin", "config.json", "source.spm", "target.spm"}
    assert manifest.language_token("fa") is None


def test_missing_manifest_is_readable(tmp_path: Path) -> None:
    with pytest.raises(
        ModelDirectoryError, match=re.escape(f"not a model directory: {MANIFEST_NAME} missing")
    ):
        ModelManifest.load(tmp_path)
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        CTranslate2Engine(tmp_path / "nowhere")


def test_invalid_manifest_is_readable(model_dir: Path, tmp_path: Path) -> None:
    copy = _copy(model_dir, tmp_path)
    data = json.loads((copy / MANIFEST_NAME).read_text(encoding="utf-8"))
    (copy / MANIFEST_NAME).write_text(json.dumps(data | {"family": "gpt"}), encoding="utf-8")
    with pytest.raises(ModelDirectoryError, match=r"family: Input should be 'marian'"):
        ModelManifest.load(copy)

    (copy / MANIFEST_NAME).write_text(json.dumps(data | {"languages": ["fa", "en"]}), "utf-8")
    with pytest.raises(ModelDirectoryError, match="marian model translates fixed pairs"):
        ModelManifest.load(copy)

    (copy / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    (copy / "target.spm").unlink()
    with pytest.raises(ModelDirectoryError, match=r"target\.spm missing"):
        ModelManifest.load(copy)


def test_multilingual_manifests() -> None:
    base = {
        "name": "m",
        "version": "1",
        "licence": "MIT",
        "languages": ["fa", "en", "ar", "ru"],
        "sentencepiece": "sentencepiece.bpe.model",
    }
    m2m = ModelManifest.model_validate(base | {"family": "m2m100"})
    assert m2m.supports("fa", "ar") and not m2m.supports("fa", "fa")
    assert not m2m.supports("fa", "de")
    assert m2m.language_token("fa") == "__fa__"
    nllb = ModelManifest.model_validate(base | {"family": "nllb"})
    assert [nllb.language_token(c) for c in ("fa", "en", "ar", "ru")] == [
        "pes_Arab",
        "eng_Latn",
        "arb_Arab",
        "rus_Cyrl",
    ]
    with pytest.raises(ValueError, match="no FLORES-200 code known for 'xx'"):
        ModelManifest.model_validate(base | {"family": "nllb", "languages": ["fa", "xx"]})


@pytest.fixture(scope="module")
def m2m100_style_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Marian network whose manifest says m2m100: exercises language tokens and prefixes."""
    directory = build_tiny_marian(
        tmp_path_factory.mktemp("ct2") / "tiny-m2m", extra_tokens=["__fa__", "__en__"]
    )
    manifest = ModelManifest.load(directory)
    manifest.family = "m2m100"
    manifest.languages = ["fa", "en"]
    manifest.sentencepiece = "source.spm"
    manifest.save(directory)
    return directory


async def test_language_tokens(m2m100_style_dir: Path) -> None:
    engine = CTranslate2Engine(m2m100_style_dir, max_decoding_length=8)
    assert engine.supports("fa", "en") and engine.supports("en", "fa")
    assert not engine.supports("fa", "fa")
    out = await engine.translate(["شهرداری مشهد", "", "پارک"], "fa", "en")
    assert len(out) == 3 and out[1] == ""
    assert not any(s.startswith("__en__") for s in out)
    assert engine.info()["pairs"] is None


def test_language_token_missing_from_vocabulary(m2m100_style_dir: Path, tmp_path: Path) -> None:
    copy = _copy(m2m100_style_dir, tmp_path)
    manifest = ModelManifest.load(copy)
    manifest.languages = ["fa", "en", "ru"]
    manifest.save(copy)
    with pytest.raises(ModelDirectoryError, match="not in the model's vocabulary: __ru__"):
        CTranslate2Engine(copy)


def test_verify(model_dir: Path, tmp_path: Path) -> None:
    assert verify(model_dir) == []
    copy = _copy(model_dir, tmp_path)
    with (copy / "model.bin").open("ab") as f:
        f.write(b"\0")
    (copy / "source.spm").unlink()
    problems = verify(copy)
    assert any(p.startswith("model.bin: sha256 mismatch") for p in problems)
    assert "source.spm: missing" in problems
    assert verify(tmp_path / "nowhere") != []
