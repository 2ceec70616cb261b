"""The CTranslate2 engine against a tiny random-weight Marian model built on the spot.

Random weights produce random words, so these tests check the plumbing (tokenization, batching,
order, empty segments, manifest and provenance), never the translation itself.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm

from services.translate import ct2
from services.translate.ct2 import (
    MADLAD_COMPUTE_TYPES,
    MANIFEST_NAME,
    CTranslate2Engine,
    ModelDirectoryError,
    ModelManifest,
    choose_compute_type,
    digest_files,
    madlad_source_text,
    verify,
)
from services.translate.engines import TranslationEngine
from tools.tiny_models import ENGLISH_LINES, PERSIAN_LINES, build_tiny_marian

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


# --- MADLAD-400 (T5): target token in the source text, never float16 -----------------------------


def test_madlad_source_layout() -> None:
    """The target language is asked for in the source text; there is no source-language token."""
    assert madlad_source_text("شهرداری مشهد", "en") == "<2en> شهرداری مشهد"
    assert madlad_source_text("Mashhad", "fa") == "<2fa> Mashhad"
    manifest = ModelManifest.model_validate(
        {
            "name": "madlad",
            "family": "madlad",
            "version": "1",
            "licence": "Apache-2.0",
            "languages": ["fa", "en", "ar"],
            "sentencepiece": "sentencepiece.model",
        }
    )
    assert [manifest.language_token(c) for c in ("fa", "en", "ar")] == ["<2fa>", "<2en>", "<2ar>"]
    assert manifest.allowed_compute_types() == MADLAD_COMPUTE_TYPES


@pytest.mark.parametrize(
    "requested", ["float16", "int8_float16", "bfloat16", "int8_bfloat16", "default", "auto"]
)
def test_madlad_never_gets_a_float16_compute_type(requested: str) -> None:
    # "default" keeps what the conversion saved and "auto" is float16 on a GPU: both replaced.
    assert choose_compute_type(requested, MADLAD_COMPUTE_TYPES) == "int8"


def test_allowed_compute_types_are_kept() -> None:
    assert choose_compute_type("float32", MADLAD_COMPUTE_TYPES) == "float32"
    assert choose_compute_type("int8", MADLAD_COMPUTE_TYPES) == "int8"
    assert choose_compute_type("float16", ()) == "float16"  # other families: any


def _madlad_spm(path: Path, symbols: list[str]) -> None:
    """A shared SentencePiece model that keeps ``<2xx>`` whole, as MADLAD's spiece.model does."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([*PERSIAN_LINES, *ENGLISH_LINES]),
        model_writer=model,
        vocab_size=300,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        user_defined_symbols=symbols,
        eos_id=0,
        unk_id=1,
        bos_id=-1,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())


@pytest.fixture(scope="module")
def madlad_style_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Marian network dressed as MADLAD: shared SentencePiece knowing <2fa> and <2en>, and the
    real conversion's config (the caller appends </s>)."""
    directory = build_tiny_marian(
        tmp_path_factory.mktemp("ct2") / "tiny-madlad", extra_tokens=["<2fa>", "<2en>"]
    )
    _madlad_spm(directory / "madlad.spm", ["<2fa>", "<2en>"])
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    config["add_source_eos"] = False
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest = ModelManifest.load(directory)
    manifest.family = "madlad"
    manifest.languages = ["fa", "en"]
    manifest.sentencepiece = "madlad.spm"
    manifest.sha256 = digest_files(directory)
    manifest.save(directory)
    return directory


async def test_madlad_translates_and_runs_in_int8(madlad_style_dir: Path) -> None:
    engine = CTranslate2Engine(madlad_style_dir, max_decoding_length=8)
    out = await engine.translate(["شهرداری مشهد", "", "پارک"], "fa", "en")
    assert len(out) == 3 and out[1] == ""
    assert not any("<2en>" in s for s in out)
    assert engine.info()["compute_type"] in MADLAD_COMPUTE_TYPES


class _RecordingTranslator:
    """Stands in for CTranslate2: records what the engine asks for, answers ``reply`` each."""

    reply: tuple[str, ...] = ("▁",)

    def __init__(self, path: Path, *, device: str, compute_type: str, **_: object) -> None:
        self.device = device
        self.compute_type = compute_type
        self.calls: list[tuple[list[list[str]], list[list[str]] | None]] = []

    def translate(
        self, source: list[list[str]], target_prefix: list[list[str]] | None, **_: object
    ) -> list[list[str]]:
        self.calls.append((source, target_prefix))
        return [list(self.reply) for _ in source]


def _recorded(engine: CTranslate2Engine) -> _RecordingTranslator:
    translator = engine._translator
    assert isinstance(translator, _RecordingTranslator)
    return translator


@pytest.mark.parametrize("requested", ["float16", "int8_float16", "auto", None])
def test_madlad_is_never_run_in_float16(
    madlad_style_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    requested: str | None,
) -> None:
    monkeypatch.setattr(ct2, "_Translator", _RecordingTranslator)
    # What the engine picks by itself on a GPU: int8 weights with float16 activations.
    monkeypatch.setattr(ct2, "_default_compute_type", lambda device: "int8_float16")
    with caplog.at_level(logging.WARNING, logger="services.translate.ct2"):
        engine = CTranslate2Engine(madlad_style_dir, device="cuda", compute_type=requested)
    assert _recorded(engine).compute_type == "int8"
    assert "float16 output is broken for MADLAD-400" in caplog.text


def test_other_families_keep_float16(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ct2, "_Translator", _RecordingTranslator)
    engine = CTranslate2Engine(model_dir, device="cuda", compute_type="float16")
    assert _recorded(engine).compute_type == "float16"


async def test_madlad_token_layout(madlad_style_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    processor = spm.SentencePieceProcessor(model_file=str(madlad_style_dir / "madlad.spm"))
    monkeypatch.setattr(ct2, "_Translator", _RecordingTranslator)
    reply = tuple(processor.encode("Mashhad city", out_type=str))
    monkeypatch.setattr(_RecordingTranslator, "reply", reply)
    engine = CTranslate2Engine(madlad_style_dir)
    # The whole output is text: no language token comes back to be dropped.
    assert await engine.translate(["شهرداری مشهد"], "fa", "en") == ["Mashhad city"]
    [(batch, prefix)] = _recorded(engine).calls
    tokens = batch[0]
    assert prefix is None  # no target prefix: the target is in the source
    assert tokens.count("<2en>") == 1 and "<2fa>" not in tokens
    assert tokens[: tokens.index("<2en>")] in ([], ["▁"])  # only the word-boundary piece before
    assert tokens[-1] == "</s>"  # the T5 conversion leaves </s> to the caller
    assert tokens[:-1] == processor.encode("<2en> شهرداری مشهد", out_type=str)


def test_madlad_tokenizer_that_splits_the_target_token_is_refused(
    madlad_style_dir: Path, tmp_path: Path
) -> None:
    copy = _copy(madlad_style_dir, tmp_path)
    _madlad_spm(copy / "madlad.spm", [])  # knows no <2xx>: would feed the model "<", "2", ...
    with pytest.raises(ModelDirectoryError, match=r"splits <2fa>, <2en> into pieces"):
        CTranslate2Engine(copy)


def test_a_manifest_restricting_compute_types_is_obeyed(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(model_dir, tmp_path)
    manifest = ModelManifest.load(copy)
    manifest.compute_types = ["int8"]
    manifest.save(copy)
    monkeypatch.setattr(ct2, "_Translator", _RecordingTranslator)
    assert _recorded(CTranslate2Engine(copy, compute_type="float16")).compute_type == "int8"
    with pytest.raises(ValueError, match="unknown CTranslate2 compute types: float8"):
        ModelManifest.model_validate(manifest.model_dump() | {"compute_types": ["float8"]})
