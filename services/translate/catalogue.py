"""The built-in catalogue of translation models ``models fetch NAME`` installs.

Each entry pins one hub repository at one commit and the SHA-256 of the files taken from it, so a
fetch installs exactly the bytes that were reviewed, whatever the hub serves later. Where a
CTranslate2 conversion is published on the hub, the entry names it (``conversion="ctranslate2"``);
otherwise it names the original and ``fetch`` converts it through the optional ``convert`` extra.

What the hub publishes decides what can be pinned. Large files live in Git LFS and the hub shows
their SHA-256: those are in ``files``. Small files kept in git itself (``config.json``, the
vocabularies) have no published SHA-256, only the git blob id the pinned commit fixes: those are in
``unpinned_files``, taken at the pinned commit and digested on install. An entry whose repository
or digests could not be checked against the hub is listed with ``verified=False``: ``fetch``
refuses it and says how to add a checked entry through ``--catalogue FILE``.

Every digest and revision below was read off the hub's own pages (docs/models.md says which page);
none is guessed. Licences matter to a city: NLLB-200 is CC-BY-NC-4.0 (non-commercial), which
every listing says.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.translate.ct2 import COMPUTE_TYPES

CatalogueFamily = Literal["marian", "m2m100", "nllb", "madlad"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NON_COMMERCIAL = re.compile(r"(^|-)NC(-|$)")


class CatalogueError(ValueError):
    """A catalogue file that cannot be used, with a message meant for an operator."""


class PublishedScore(BaseModel):
    """A score the model's authors published (not measured here): where it comes from matters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair: str = Field(description="`fa-en`, or `xx-yy` for an average the source reports.")
    metric: str = Field(description="chrF++, spBLEU, BLEU ...")
    value: float
    test_set: str = Field(description="FLORES-200 devtest, Tatoeba ...")
    source: str = Field(description="Where it is published (a URL).")


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]*$",
        description="What `models fetch NAME` takes, e.g. `m2m100-418m`.",
    )
    title: str
    family: CatalogueFamily
    repo: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Hugging Face hub repository id; None only for an entry not on the hub.",
    )
    revision: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{40}$",
        description="The pinned commit; None only for an unverified entry.",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Files taken from the repository whose SHA-256 the hub publishes (Git LFS) "
        "-> that SHA-256 (lowercase hex).",
    )
    unpinned_files: list[str] = Field(
        default_factory=list,
        description="Small files kept in git, not LFS (config.json, vocabularies): the hub "
        "publishes no SHA-256 for them, only the git blob id the pinned commit fixes. Taken at "
        "the pinned revision and their SHA-256 recorded in the installed manifest.",
    )
    verified: bool = Field(
        default=True,
        description="False: the repository, revision or digests could not be checked against "
        "the hub; the entry is listed for its licence and scores but never fetched.",
    )
    conversion: Literal["ctranslate2", "transformers"] = Field(
        description="`ctranslate2`: the repository is a published CTranslate2 conversion; "
        "`transformers`: the original, converted on fetch (needs the `convert` extra)."
    )
    quantization: str | None = Field(
        default=None,
        description="The conversion's weights (int8, float16 ...), or what to "
        "quantize to when converting.",
    )
    compute_types: list[str] = Field(
        default_factory=list,
        description="The only compute types the model works with (MADLAD: int8); empty: any.",
    )
    licence: str = Field(description="SPDX identifier.")
    non_commercial: bool = False
    languages: list[str] | list[tuple[str, str]] = Field(
        description="Codes (any pair among them) or explicit (source, target) pairs."
    )
    sentencepiece: str | tuple[str, str] = Field(
        description="The SentencePiece file, or (source, target) files."
    )
    size_mib: int = Field(ge=0, description="About how much is downloaded.")
    scores: list[PublishedScore] = Field(default_factory=list)
    source_url: str | None = Field(
        default=None, description="Where the model is published when it is not a hub repository."
    )
    notes: str = ""

    @field_validator("files")
    @classmethod
    def _check_digests(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not _SHA256.match(digest):
                raise ValueError(f"{name}: not a lowercase hex SHA-256 digest")
        return value

    @field_validator("compute_types")
    @classmethod
    def _check_compute_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in COMPUTE_TYPES]
        if unknown:
            raise ValueError(f"unknown CTranslate2 compute types: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _check_entry(self) -> CatalogueEntry:
        if bool(_NON_COMMERCIAL.search(self.licence.upper())) != self.non_commercial:
            raise ValueError(f"licence {self.licence}: non_commercial must say whether it is NC")
        if isinstance(self.sentencepiece, str) and not self.sentencepiece:
            raise ValueError("sentencepiece names no file")
        if self.family == "marian" and not all(isinstance(p, tuple) for p in self.languages):
            raise ValueError("a marian model translates fixed pairs: list (source, target) pairs")
        if len(self.languages) < (1 if self.family == "marian" else 2):
            raise ValueError("too few languages")
        overlap = set(self.files) & set(self.unpinned_files)
        if overlap:
            raise ValueError(f"both pinned and unpinned: {', '.join(sorted(overlap))}")
        if self.verified:
            self._check_fetchable()
        return self

    def _check_fetchable(self) -> None:
        if self.repo is None or self.revision is None:
            raise ValueError("a verified entry names its repository and pinned revision")
        if not self.files:
            raise ValueError("a verified entry pins the SHA-256 of at least one file")
        if self.conversion == "ctranslate2":
            taken = {*self.files, *self.unpinned_files}
            needed = ["model.bin", "config.json", *self.spm_files()]
            missing = [f for f in dict.fromkeys(needed) if f not in taken]
            if missing:
                raise ValueError(f"a CTranslate2 model needs {', '.join(missing)}")

    def spm_files(self) -> tuple[str, str]:
        """(source, target) SentencePiece file names."""
        if isinstance(self.sentencepiece, str):
            return self.sentencepiece, self.sentencepiece
        return self.sentencepiece

    def language_codes(self) -> list[str]:
        """Every language the model reads or writes, in catalogue order."""
        codes: list[str] = []
        for item in self.languages:
            codes.extend([item] if isinstance(item, str) else item)
        return list(dict.fromkeys(codes))


def _tatoeba_fas_eng_scores() -> list[PublishedScore]:
    source = (
        "https://github.com/Helsinki-NLP/Tatoeba-Challenge/blob/master/models/fas-eng/README.md"
    )
    return [
        PublishedScore(
            pair="fa-en", metric="BLEU", value=38.2, test_set="Tatoeba-test", source=source
        ),
        PublishedScore(
            pair="fa-en", metric="chrF", value=56.6, test_set="Tatoeba-test", source=source
        ),
        PublishedScore(pair="fa-en", metric="BLEU", value=18.5, test_set="TICO-19", source=source),
        PublishedScore(pair="fa-en", metric="chrF", value=45.1, test_set="TICO-19", source=source),
    ]


_LEADERBOARD = "https://github.com/Helsinki-NLP/OPUS-MT-leaderboard"


def _flores101_chrf(fa_en: float, fa_ar: float | None, fa_ru: float | None) -> list[PublishedScore]:
    """The OPUS-MT leaderboard's FLORES-101 devtest chrF++ (it scores other models too)."""
    pairs = {"fa-en": fa_en, "fa-ar": fa_ar, "fa-ru": fa_ru}
    return [
        PublishedScore(
            pair=pair, metric="chrF++", value=value, test_set="FLORES-101 devtest",
            source=_LEADERBOARD,
        )
        for pair, value in pairs.items()
        if value is not None
    ]  # fmt: skip


# The languages a multilingual entry installs: the platform's, and those ct2.NLLB_CODES maps.
_PLATFORM_LANGUAGES = ["fa", "en", "ar", "ru", "de", "fr", "es", "it", "tr", "zh", "ur", "hi"]

CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="m2m100-418m",
        title="M2M100 418M (Meta), CTranslate2 float16 conversion",
        family="m2m100",
        repo="michaelfeil/ct2fast-m2m100_418M",
        revision="06bd83294674f3737eb929e501aa5beafaa229d8",
        files={
            "model.bin": "0b70f12bc9af78a921f2f4b2049aeae745c0a70613a0cd58d3d26bd4571177bd",
            "sentencepiece.bpe.model": (
                "d8f7c76ed2a5e0822be39f0a4f95a55eb19c78f4593ce609e2edbc2aea4d380a"
            ),
        },
        unpinned_files=["config.json", "shared_vocabulary.txt"],
        conversion="ctranslate2",
        quantization="float16",
        licence="MIT",
        languages=_PLATFORM_LANGUAGES,
        sentencepiece="sentencepiece.bpe.model",
        size_mib=929,
        scores=_flores101_chrf(53.7, 41.1, 41.1),
        notes="facebook/m2m100_418M converted with CTranslate2 3.13 (float16 weights; CTranslate2 "
        "quantizes them to int8 on CPU when loading). 100 languages; the entry installs the "
        "platform's twelve.",
    ),
    CatalogueEntry(
        name="nllb-200-distilled-600m",
        title="NLLB-200 distilled 600M (Meta), CTranslate2 conversion",
        family="nllb",
        repo="entai2965/nllb-200-distilled-600M-ctranslate2",
        revision="7925aecb738d6db0ed02a14864bf486e4144794e",
        files={
            "model.bin": "c04fb4ea42229c5f43f645e73d49175d34c3e0883ee5b3b110cbb1612dd4bcda",
            "sentencepiece.bpe.model": (
                "14bb8dfb35c0ffdea7bc01e56cea38b9e3d5efcdcb9c251d6b40538e1aab555a"
            ),
        },
        unpinned_files=["config.json", "shared_vocabulary.json"],
        conversion="ctranslate2",
        quantization="float32",
        licence="CC-BY-NC-4.0",
        non_commercial=True,
        languages=_PLATFORM_LANGUAGES,
        sentencepiece="sentencepiece.bpe.model",
        size_mib=2361,
        scores=_flores101_chrf(55.4, 38.7, 40.8),
        notes="Non-commercial licence (CC-BY-NC-4.0): not for commercial syndication. "
        "facebook/nllb-200-distilled-600M in float32 (2.46 GB); CTranslate2 quantizes to int8 on "
        "CPU when loading. 200 languages; the entry installs the platform's twelve.",
    ),
    CatalogueEntry(
        name="nllb-200-distilled-1.3b",
        title="NLLB-200 distilled 1.3B (Meta), CTranslate2 conversion",
        family="nllb",
        repo="entai2965/nllb-200-distilled-1.3B-ctranslate2",
        revision="565383875bf7ccb94c64865e600480ab282f35d3",
        files={
            "model.bin": "ab2ad0bf0f95aedfd8e79373d122f2e5e417690b28f5dbcc7671aff43eeaf073",
            "sentencepiece.bpe.model": (
                "14bb8dfb35c0ffdea7bc01e56cea38b9e3d5efcdcb9c251d6b40538e1aab555a"
            ),
        },
        unpinned_files=["config.json", "shared_vocabulary.json"],
        conversion="ctranslate2",
        quantization="float32",
        licence="CC-BY-NC-4.0",
        non_commercial=True,
        languages=_PLATFORM_LANGUAGES,
        sentencepiece="sentencepiece.bpe.model",
        size_mib=5243,
        scores=_flores101_chrf(58.8, 43.5, 44.6),
        notes="Non-commercial licence (CC-BY-NC-4.0): not for commercial syndication. "
        "facebook/nllb-200-distilled-1.3B in float32 (5.49 GB); int8 on CPU when loading.",
    ),
    CatalogueEntry(
        name="opus-mt-fa-en",
        title="OPUS-MT Persian to English (University of Helsinki, Tatoeba-Challenge)",
        family="marian",
        verified=False,
        conversion="transformers",
        licence="CC-BY-4.0",
        languages=[("fa", "en")],
        sentencepiece=("source.spm", "target.spm"),
        size_mib=300,
        scores=[*_flores101_chrf(46.6, None, None), *_tatoeba_fas_eng_scores()],
        source_url="https://object.pouta.csc.fi/Tatoeba-MT-models/fas-eng/opus-2021-02-23.zip",
        notes="Not on the Hugging Face hub (there is no Helsinki-NLP/opus-mt-fa-en repository) "
        "and its archive has no published SHA-256. Check the archive, then install it with "
        "`python -m services.translate.model_cli fetch opus-mt fa en --url "
        "https://object.pouta.csc.fi/Tatoeba-MT-models/fas-eng/opus-2021-02-23.zip --sha256 HEX`, "
        "or add a checked entry with --catalogue FILE.",
    ),
    CatalogueEntry(
        name="madlad400-3b-mt",
        title="MADLAD-400 3B MT (Google), CTranslate2 int8 conversion",
        family="madlad",
        repo="santhosh/madlad400-3b-ct2",
        revision="b67a31bb6d29daed632d6ba9e3332bf4c490f2f3",
        files={
            "model.bin": "f3c87256a2c888100c179d7dcd7f41df17c767469546c59d32c7dde86c740a6b",
            "sentencepiece.model": (
                "ef11ac9a22c7503492f56d48dce53be20e339b63605983e9f27d2cd0e0f3922c"
            ),
        },
        unpinned_files=["config.json", "shared_vocabulary.json"],
        conversion="ctranslate2",
        quantization="int8",
        compute_types=["int8", "int8_float32", "float32"],
        licence="Apache-2.0",
        languages=[code for code in _PLATFORM_LANGUAGES if code != "zh"],
        sentencepiece="sentencepiece.model",
        size_mib=2823,
        notes="T5 architecture: runs in int8 (or float32) only; its float16 output is known to "
        "be broken in CTranslate2 (OpenNMT/CTranslate2#1560), so the engine never runs it in "
        "float16. 419 languages; the entry installs the platform's.",
    ),
)

DEFAULT_MODEL = "m2m100-418m"


def _read_extra(extra: Path) -> list[CatalogueEntry]:
    try:
        raw = json.loads(extra.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CatalogueError(f"unreadable catalogue {extra}: {e}") from None
    if not isinstance(raw, list):
        raise CatalogueError(f"{extra}: a catalogue file is a JSON list of entries")
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(CatalogueEntry.model_validate(item))
        except ValidationError as e:
            problem = e.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "(entry)"
            raise CatalogueError(f"{extra}: entry {index}: {where}: {problem['msg']}") from None
    return entries


def load_catalogue(extra: Path | None = None) -> dict[str, CatalogueEntry]:
    """The built-in entries, plus those of a JSON file (a list of entries; private models, and
    the tests' tiny model), which may not reuse a built-in name."""
    entries = {e.name: e for e in CATALOGUE}
    if extra is not None:
        for entry in _read_extra(extra):
            if entry.name in entries:
                raise CatalogueError(f"{extra}: {entry.name!r} is already a catalogue name")
            entries[entry.name] = entry
    return entries
