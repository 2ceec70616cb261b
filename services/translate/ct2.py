"""Local machine translation with CTranslate2.

A *model directory* is what a deployment fetches once and then serves offline: a converted
CTranslate2 model (``model.bin``, ``config.json``, vocabulary files), the SentencePiece model(s)
it was trained with, and a ``cityfeeds-model.json`` manifest saying what the model is, under which
licence, which languages it covers and (optionally) the SHA-256 of every file. Provenance on each
translation comes from that manifest, so a model is never served without one.

Three families are understood, because they differ in how languages are signalled:

* ``marian`` (OPUS-MT): one model per language pair, no language tokens; the converted model
  appends ``</s>`` to the source itself (``add_source_eos`` in its ``config.json``).
* ``m2m100``: source is ``__fa__ <pieces> </s>`` (what the Hugging Face tokenizer produces); the
  target language is forced by the target prefix ``__en__``, which comes back as the first output
  token and is dropped.
* ``nllb``: the same layout with FLORES-200 codes: ``pes_Arab <pieces> </s>`` and target prefix
  ``eng_Latn`` (the tokenizer's current, non-legacy layout).
* ``madlad`` (MADLAD-400, a T5): the *target* language is a ``<2en>`` token written at the start of
  the source text (``"<2en> " + text``, as the model card does), no source token, no target
  prefix. Its float16 output is known to be broken in CTranslate2, so it only ever runs in int8
  (or float32): see ``choose_compute_type``.

Nothing here downloads anything, and importing the module loads nothing: CTranslate2 and
SentencePiece are imported when an engine is built.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.translate.segment import translate_non_blank

MANIFEST_NAME = "cityfeeds-model.json"

Family = Literal["marian", "m2m100", "nllb", "madlad"]
Device = Literal["cpu", "cuda", "auto"]

# ISO 639-1 codes (as used across the platform) to NLLB's FLORES-200 codes. Persian is the
# Western Persian of Iran (pes), Arabic is Modern Standard Arabic (arb). A manifest may override or
# extend these with ``language_tokens``.
NLLB_CODES: Mapping[str, str] = {
    "fa": "pes_Arab",
    "en": "eng_Latn",
    "ar": "arb_Arab",
    "ru": "rus_Cyrl",
    "de": "deu_Latn",
    "fr": "fra_Latn",
    "es": "spa_Latn",
    "it": "ita_Latn",
    "tr": "tur_Latn",
    "zh": "zho_Hans",
    "ur": "urd_Arab",
    "hi": "hin_Deva",
}

# MADLAD-400 in CTranslate2: int8 and float32 translate well; float16 (and the int8_float16 mix)
# produce garbage, a known T5 issue (https://github.com/OpenNMT/CTranslate2/issues/1560).
MADLAD_COMPUTE_TYPES: tuple[str, ...] = ("int8", "int8_float32", "float32")
# Every compute type CTranslate2 knows (https://opennmt.net/CTranslate2/quantization.html).
COMPUTE_TYPES = frozenset(
    {
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    }
)

logger = logging.getLogger(__name__)


def madlad_token(target: str) -> str:
    """The token that asks MADLAD-400 for ``target``: ``<2en>``."""
    return f"<2{target}>"


def madlad_source_text(text: str, target: str) -> str:
    """The source as MADLAD-400 reads it: the target token, a space, the text.

    The token goes into the text rather than the token list so that SentencePiece segments it as
    in training: prepending a bare ``<2en>`` piece loses the word-boundary piece in front of it.
    """
    return f"{madlad_token(target)} {text}"


def choose_compute_type(requested: str, allowed: Sequence[str]) -> str:
    """``requested``, unless the model works only with ``allowed`` types and it is not one of
    them: then the first allowed one. ``default`` and ``auto`` are replaced too, as they may
    resolve to float16 (the saved type, or the fastest on a GPU)."""
    if not allowed or requested in allowed:
        return requested
    return allowed[0]


class ModelDirectoryError(ValueError):
    """A model directory that cannot be served, with a message meant for an operator."""


class LanguagePairs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pairs: list[tuple[str, str]] = Field(min_length=1)


class SentencePieceFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    target: str


def _relative_file(name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{name!r} must be a file name inside the model directory")
    return name


class ModelManifest(BaseModel):
    """``cityfeeds-model.json``: identity, licence and languages of a model directory."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    family: Family
    version: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    source_url: str | None = None
    languages: LanguagePairs | list[str]
    """Explicit ``{"pairs": [[src, tgt], ...]}``, or for multilingual families a list of codes
    meaning any two different ones."""
    sentencepiece: SentencePieceFiles | str
    """Separate source and target models, or one shared file."""
    language_tokens: dict[str, str] = Field(default_factory=dict)
    """Overrides of the family's language tokens (``{"fa": "pes_Arab"}``)."""
    sha256: dict[str, str] = Field(default_factory=dict)
    compute_types: list[str] = Field(default_factory=list)
    """The only CTranslate2 compute types the model works with; empty: its family's (MADLAD:
    ``MADLAD_COMPUTE_TYPES``), or any."""

    @field_validator("sentencepiece")
    @classmethod
    def _check_spm(cls, value: SentencePieceFiles | str) -> SentencePieceFiles | str:
        if isinstance(value, str):
            return _relative_file(value)
        _relative_file(value.source)
        _relative_file(value.target)
        return value

    @field_validator("compute_types")
    @classmethod
    def _check_compute_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in COMPUTE_TYPES]
        if unknown:
            raise ValueError(f"unknown CTranslate2 compute types: {', '.join(unknown)}")
        return value

    @field_validator("sha256")
    @classmethod
    def _check_digests(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            _relative_file(name)
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{name}: not a lowercase hex SHA-256 digest")
        return value

    @model_validator(mode="after")
    def _check_languages(self) -> ModelManifest:
        if isinstance(self.languages, list):
            if self.family == "marian":
                raise ValueError('a marian model translates fixed pairs: use {"pairs": [...]}')
            if len(set(self.languages)) < 2:
                raise ValueError("a multilingual model lists at least two languages")
        for lang in self.language_codes():
            if (
                self.family == "nllb"
                and lang not in self.language_tokens
                and lang not in NLLB_CODES
            ):
                raise ValueError(
                    f"no FLORES-200 code known for {lang!r}: add it to language_tokens"
                )
        return self

    def language_codes(self) -> list[str]:
        """Every language the model reads or writes, in manifest order."""
        if isinstance(self.languages, list):
            return list(dict.fromkeys(self.languages))
        return list(dict.fromkeys(code for pair in self.languages.pairs for code in pair))

    def language_token(self, lang: str) -> str | None:
        """The token that names ``lang`` to the model; ``None`` for Marian, which has none."""
        if lang in self.language_tokens:
            return self.language_tokens[lang]
        if self.family == "m2m100":
            return f"__{lang}__"
        if self.family == "nllb":
            return NLLB_CODES[lang]
        if self.family == "madlad":
            return madlad_token(lang)
        return None

    def allowed_compute_types(self) -> tuple[str, ...]:
        """The compute types the model may run in; empty: any."""
        if self.compute_types:
            return tuple(self.compute_types)
        return MADLAD_COMPUTE_TYPES if self.family == "madlad" else ()

    def supports(self, source: str, target: str) -> bool:
        if isinstance(self.languages, list):
            return source != target and source in self.languages and target in self.languages
        return (source, target) in self.languages.pairs

    def spm_files(self) -> tuple[str, str]:
        """(source, target) SentencePiece file names."""
        if isinstance(self.sentencepiece, str):
            return self.sentencepiece, self.sentencepiece
        return self.sentencepiece.source, self.sentencepiece.target

    @classmethod
    def load(cls, directory: Path | str) -> ModelManifest:
        """Read and validate the manifest, and check the files it and CTranslate2 need exist."""
        manifest = cls.read(directory)
        missing = manifest.missing_files(directory)
        if missing:
            raise ModelDirectoryError(
                f"incomplete model directory {directory}: {', '.join(missing)} missing"
            )
        return manifest

    @classmethod
    def read(cls, directory: Path | str) -> ModelManifest:
        """Read and validate the manifest alone."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ModelDirectoryError(f"not a model directory: {directory} does not exist")
        path = directory / MANIFEST_NAME
        if not path.is_file():
            raise ModelDirectoryError(
                f"not a model directory: {MANIFEST_NAME} missing in {directory}"
            )
        try:
            manifest = cls.model_validate_json(path.read_bytes())
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                for err in e.errors()
            )
            raise ModelDirectoryError(f"invalid {path}: {problems}") from None
        return manifest

    def missing_files(self, directory: Path | str) -> list[str]:
        """Files the engine needs that are not in ``directory``."""
        needed = dict.fromkeys(("model.bin", "config.json", *self.spm_files()))
        return [name for name in needed if not (Path(directory) / name).is_file()]

    def save(self, directory: Path | str) -> Path:
        path = Path(directory) / MANIFEST_NAME
        path.write_text(self.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")
        return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Written beside the model after install (``models evaluate``): measured, not part of the model.
SCORES_NAME = "cityfeeds-scores.json"


def digest_files(directory: Path | str) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` but the manifest and the measured scores, for
    writing a manifest."""
    directory = Path(directory)
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
        and path.relative_to(directory).as_posix() not in (MANIFEST_NAME, SCORES_NAME)
    }


def verify(directory: Path | str) -> list[str]:
    """Problems with a model directory as readable lines; an empty list means it is intact.

    Checks the manifest and the digests it lists (a manifest without digests verifies nothing
    more than its own validity and the presence of the files the engine needs).
    """
    directory = Path(directory)
    try:
        manifest = ModelManifest.read(directory)
    except ModelDirectoryError as e:
        return [str(e)]
    missing = set(manifest.missing_files(directory))
    problems = [f"{name}: missing" for name in sorted(missing)]
    for name, expected in sorted(manifest.sha256.items()):
        path = directory / name
        if not path.is_file():
            if name not in missing:
                problems.append(f"{name}: missing")
        elif (actual := sha256_file(path)) != expected:
            problems.append(f"{name}: sha256 mismatch (manifest {expected}, file {actual})")
    return problems


class _Tokenizer:
    """Typed wrapper around a SentencePiece processor (whose values are ``Any`` to mypy)."""

    def __init__(self, path: Path) -> None:
        import sentencepiece

        self._sp: Any = sentencepiece.SentencePieceProcessor(model_file=str(path))

    def encode(self, text: str) -> list[str]:
        return [str(piece) for piece in self._sp.encode(text, out_type=str)]

    def decode(self, pieces: Sequence[str]) -> str:
        return str(self._sp.decode_pieces(list(pieces)))


class _Translator:
    """Typed wrapper around ``ctranslate2.Translator``."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        compute_type: str,
        inter_threads: int,
        intra_threads: int,
    ) -> None:
        import ctranslate2

        self._translator: Any = ctranslate2.Translator(
            str(path),
            device=device,
            compute_type=compute_type,
            inter_threads=inter_threads,
            intra_threads=intra_threads,
        )

    @property
    def device(self) -> str:
        return str(self._translator.device)

    @property
    def compute_type(self) -> str:
        return str(self._translator.compute_type)

    def translate(
        self,
        source: list[list[str]],
        target_prefix: list[list[str]] | None,
        *,
        max_batch_size: int,
        beam_size: int,
        max_input_length: int,
        max_decoding_length: int,
    ) -> list[list[str]]:
        results = self._translator.translate_batch(
            source,
            target_prefix=target_prefix,
            max_batch_size=max_batch_size,
            beam_size=beam_size,
            max_input_length=max_input_length,
            max_decoding_length=max_decoding_length,
        )
        return [[str(token) for token in result.hypotheses[0]] for result in results]


def _resolve_device(device: Device) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if int(ctranslate2.get_cuda_device_count()) > 0 else "cpu"


def _default_compute_type(device: str) -> str:
    """int8 on CPU (about twice float32's speed at no visible quality cost for these models),
    int8 weights with float16 activations on GPU; whatever the model was saved in otherwise."""
    import ctranslate2

    supported = {str(t) for t in ctranslate2.get_supported_compute_types(device)}
    for candidate in ("int8",) if device == "cpu" else ("int8_float16", "float16"):
        if candidate in supported:
            return candidate
    return "default"


class EngineInfo(TypedDict):
    engine: str
    name: str
    version: str
    family: str
    licence: str
    source_url: str | None
    device: str
    compute_type: str
    languages: list[str]
    pairs: list[list[str]] | None
    """Explicit pairs, or ``None`` when any two different ``languages`` go."""


class CTranslate2Engine:
    """The production engine: a local CTranslate2 model directory, served offline."""

    name = "ctranslate2"

    def __init__(
        self,
        model_dir: Path | str,
        *,
        device: Device = "cpu",
        compute_type: str | None = None,
        inter_threads: int = 1,
        intra_threads: int = 0,
        max_batch_size: int = 32,
        beam_size: int = 2,
        max_input_length: int = 1024,
        max_decoding_length: int = 256,
    ) -> None:
        """Load the model now, so a broken directory fails at start-up rather than mid-stream.

        ``compute_type=None`` picks int8 on CPU and int8_float16 (or float16) on GPU;
        ``intra_threads=0`` lets CTranslate2 choose. ``max_decoding_length`` bounds the output in
        tokens: segments come from the sentence splitter, so it is a guard, not a limit.
        """
        self.model_dir = Path(model_dir)
        self.manifest = ModelManifest.load(self.model_dir)
        self.model: str | None = self.manifest.name
        self.model_version: str | None = self.manifest.version
        resolved_device = _resolve_device(device)
        self._translator = _Translator(
            self.model_dir,
            device=resolved_device,
            compute_type=self._compute_type(compute_type or _default_compute_type(resolved_device)),
            inter_threads=inter_threads,
            intra_threads=intra_threads,
        )
        self._check_compute_type()
        source_spm, target_spm = self.manifest.spm_files()
        self._source_tokenizer = _Tokenizer(self.model_dir / source_spm)
        self._target_tokenizer = (
            self._source_tokenizer
            if target_spm == source_spm
            else _Tokenizer(self.model_dir / target_spm)
        )
        config = _read_json(self.model_dir / "config.json")
        # Marian conversions append </s> themselves; Hugging Face conversions expect the caller to
        # pass the tokenizer's full output, </s> included.
        self._append_eos: str | None = (
            None if config.get("add_source_eos") else str(config.get("eos_token") or "</s>")
        )
        self._check_language_tokens()
        if self.manifest.family == "madlad":
            self._check_madlad_tokenizer()
        self.max_batch_size = max_batch_size
        self.beam_size = beam_size
        self.max_input_length = max_input_length
        self.max_decoding_length = max_decoding_length

    def _compute_type(self, requested: str) -> str:
        """``requested``, or a type the model works with (with a warning saying why)."""
        allowed = self.manifest.allowed_compute_types()
        chosen = choose_compute_type(requested, allowed)
        if chosen != requested:
            logger.warning(
                "model %s: compute type %s replaced by %s: it works only with %s%s",
                self.manifest.name,
                requested,
                chosen,
                ", ".join(allowed),
                " (float16 output is broken for MADLAD-400)"
                if self.manifest.family == "madlad"
                else "",
            )
        return chosen

    def _check_compute_type(self) -> None:
        """What CTranslate2 actually runs must be allowed too (it may substitute on a device)."""
        allowed = self.manifest.allowed_compute_types()
        actual = self._translator.compute_type
        if allowed and actual not in allowed:
            raise ModelDirectoryError(
                f"{self.model_dir}: model {self.manifest.name} runs in {actual} on "
                f"{self._translator.device}, but works only with {', '.join(allowed)}"
            )

    def _check_madlad_tokenizer(self) -> None:
        """``<2en>`` must be one SentencePiece piece, or MADLAD gets garbage without an error."""
        split = [
            madlad_token(lang)
            for lang in self.manifest.language_codes()
            if madlad_token(lang) not in self._source_tokenizer.encode(madlad_source_text("", lang))
        ]
        if split:
            raise ModelDirectoryError(
                f"{self.model_dir}: the SentencePiece model splits {', '.join(split)} into "
                "pieces: not a MADLAD-400 tokenizer"
            )

    def _check_language_tokens(self) -> None:
        """A language token missing from the vocabulary would silently become ``<unk>``."""
        tokens = [self.manifest.language_token(lang) for lang in self.manifest.language_codes()]
        wanted = {t for t in tokens if t is not None}
        if not wanted:
            return
        vocabulary = _vocabulary(self.model_dir)
        if vocabulary is None:
            return
        missing = sorted(wanted - vocabulary)
        if missing:
            raise ModelDirectoryError(
                f"{self.model_dir}: language tokens not in the model's vocabulary: "
                + ", ".join(missing)
            )

    def supports(self, source: str, target: str) -> bool:
        return self.manifest.supports(source, target)

    def info(self) -> EngineInfo:
        """What is being served, for provenance and for listing installed models."""
        languages = self.manifest.languages
        return EngineInfo(
            engine=self.name,
            name=self.manifest.name,
            version=self.manifest.version,
            family=self.manifest.family,
            licence=self.manifest.licence,
            source_url=self.manifest.source_url,
            device=self._translator.device,
            compute_type=self._translator.compute_type,
            languages=self.manifest.language_codes(),
            pairs=None if isinstance(languages, list) else [list(p) for p in languages.pairs],
        )

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise ValueError(f"model {self.manifest.name} does not translate {source}→{target}")
        # CTranslate2 releases the GIL while translating, so the event loop keeps serving.
        return await translate_non_blank(
            segments, lambda texts: asyncio.to_thread(self._translate_sync, texts, source, target)
        )

    def _encode(self, text: str, source: str, target: str) -> list[str]:
        """The source tokens in the family's layout (see the module docstring)."""
        if self.manifest.family == "madlad":
            tokens = self._source_tokenizer.encode(madlad_source_text(text, target))
        else:
            tokens = self._source_tokenizer.encode(text)
            source_token = self.manifest.language_token(source)
            if source_token is not None:
                tokens.insert(0, source_token)
        if self._append_eos is not None:
            tokens.append(self._append_eos)
        return tokens

    def _translate_sync(self, texts: list[str], source: str, target: str) -> list[str]:
        # MADLAD has its target token in the source: no target prefix.
        target_token = (
            None if self.manifest.family == "madlad" else self.manifest.language_token(target)
        )
        batch = [self._encode(text, source, target) for text in texts]
        prefix = None if target_token is None else [[target_token] for _ in texts]
        hypotheses = self._translator.translate(
            batch,
            prefix,
            max_batch_size=self.max_batch_size,
            beam_size=self.beam_size,
            max_input_length=self.max_input_length,
            max_decoding_length=self.max_decoding_length,
        )
        results = []
        for tokens in hypotheses:
            if target_token is not None and tokens[:1] == [target_token]:
                tokens = tokens[1:]
            results.append(self._target_tokenizer.decode(tokens).strip())
        return results


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelDirectoryError(f"unreadable {path}: {e}") from None
    if not isinstance(data, dict):
        raise ModelDirectoryError(f"unexpected content in {path}: not a JSON object")
    return data


def _vocabulary(directory: Path) -> set[str] | None:
    """The target (or shared) vocabulary of a converted model; ``None`` if in an unknown layout."""
    for name in ("shared_vocabulary", "target_vocabulary"):
        json_path = directory / f"{name}.json"
        if json_path.is_file():
            tokens = json.loads(json_path.read_text(encoding="utf-8"))
            return {str(t) for t in tokens}
        txt_path = directory / f"{name}.txt"
        if txt_path.is_file():
            return set(txt_path.read_text(encoding="utf-8").splitlines())
    return None
