"""Glossaries: how each publisher wants its names translated, per target language, versioned.

Editors maintain them (the ingest API's ``/glossary`` endpoints, or ``python -m tools.glossary
load FILE``); the translate service reads them from the database with a short cache, so an edit
reaches every replica within seconds, without a restart. Every edit makes a new version, kept in
``glossary_versions``; a translation records the version it was made with.

The file format names each term once with all its translations::

    mashhad:
      - fa: مشهد
        en: Mashhad
        ar: مشهد
        ru: Мешхед
      - {fa: شهرداری مشهد, en: Mashhad Municipality, required: true}
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pymongo.errors import DuplicateKeyError

from shared.contracts import LanguageTag, PublisherId, utcnow
from shared.persian import normalise
from shared.storage import Collection, Database

GLOSSARIES = Collection("glossaries")  # _id "<publisher>:<language>": the current version
GLOSSARY_VERSIONS = Collection("glossary_versions")  # _id "<publisher>:<language>:<version>"
COLLECTIONS = (GLOSSARIES, GLOSSARY_VERSIONS)

TermText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Term(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: TermText = Field(description="As written in the source language, e.g. `مشهد`.")
    target: TermText = Field(description="How it must appear in the translation, e.g. `Mashhad`.")
    required: bool = Field(
        default=True,
        description="A translation without the target term is flagged for review.",
    )
    note: Annotated[str | None, StringConstraints(max_length=500)] = None


class Glossary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    publisher: PublisherId
    source_language: LanguageTag = "fa"
    language: LanguageTag = Field(description="The target language.")
    version: int = Field(default=0, ge=0)
    terms: list[Term] = Field(default_factory=list, max_length=5000)
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def label(self) -> str:
        """What provenance records, e.g. ``mashhad/en@3``."""
        return f"{self.publisher}/{self.language}@{self.version}"


class GlossaryConflict(Exception):
    """Someone else saved a new version first; reload and edit again."""


def clean_terms(terms: list[Term], source_language: str) -> list[Term]:
    """Source terms in the same normal form as ingested text (so they match it), one entry per
    source term (the last one wins), longest first (so the longest match is tried first)."""
    by_source: dict[str, Term] = {}
    for term in terms:
        source = normalise(term.source) if source_language == "fa" else term.source.strip()
        by_source[source] = term.model_copy(update={"source": source})
    return sorted(by_source.values(), key=lambda t: (-len(t.source), t.source))


class GlossaryStore:
    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.current = db[GLOSSARIES.name]
        self.versions = db[GLOSSARY_VERSIONS.name]
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Glossary | None]] = {}

    @staticmethod
    def key(publisher: str, language: str) -> str:
        return f"{publisher}:{language}"

    async def get(self, publisher: str, language: str, *, fresh: bool = False) -> Glossary | None:
        """The current glossary, at most ``ttl`` seconds old unless ``fresh``."""
        key = self.key(publisher, language)
        cached = self._cache.get(key)
        if not fresh and cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        doc = await self.current.find_one({"_id": key})
        glossary = Glossary.model_validate(doc) if doc else None
        self._cache[key] = (time.monotonic(), glossary)
        return glossary

    async def version(self, publisher: str, language: str, version: int) -> Glossary | None:
        doc = await self.versions.find_one({"_id": f"{self.key(publisher, language)}:{version}"})
        return Glossary.model_validate(doc) if doc else None

    async def put(
        self,
        publisher: str,
        language: str,
        terms: list[Term],
        *,
        source_language: str = "fa",
        by: str | None = None,
        expected_version: int | None = None,
    ) -> Glossary:
        """Save ``terms`` as the next version; unchanged terms keep the current version.

        The history entry is written first under a unique ``_id``, so two concurrent edits
        cannot both become version n+1: the second raises :class:`GlossaryConflict`.
        """
        current = await self.get(publisher, language, fresh=True)
        now_version = current.version if current else 0
        if expected_version is not None and expected_version != now_version:
            raise GlossaryConflict(
                f"the glossary is at version {now_version}, not {expected_version}"
            )
        cleaned = clean_terms(terms, source_language)
        if current and current.terms == cleaned:
            return current
        glossary = Glossary(
            publisher=publisher,
            source_language=source_language,
            language=language,
            version=now_version + 1,
            terms=cleaned,
            updated_at=utcnow(),
            updated_by=by,
        )
        doc = glossary.model_dump(mode="python")
        key = self.key(publisher, language)
        try:
            await self.versions.insert_one({"_id": f"{key}:{glossary.version}", **doc})
        except DuplicateKeyError:
            raise GlossaryConflict(
                f"version {glossary.version} was saved by someone else meanwhile"
            ) from None
        await self.current.replace_one({"_id": key}, doc, upsert=True)
        self._cache[key] = (time.monotonic(), glossary)
        return glossary


class _FileTerm(BaseModel):
    model_config = ConfigDict(extra="allow")

    required: bool = True
    note: str | None = None


def read_file(path: Path, source_languages: dict[str, str]) -> dict[tuple[str, str], list[Term]]:
    """``{(publisher, target language): terms}`` from a glossary YAML file.

    ``source_languages`` maps each publisher to the language its articles are written in."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of publisher ids to term lists")
    out: dict[tuple[str, str], list[Term]] = {}
    for publisher, entries in data.items():
        if publisher not in source_languages:
            raise ValueError(f"{path}: unknown publisher {publisher!r}: load the registry first")
        source_language = source_languages[publisher]
        for n, entry in enumerate(entries or [], 1):
            try:
                meta = _FileTerm.model_validate(entry)
            except ValidationError as exc:
                raise ValueError(f"{path}: {publisher} term {n}: {exc}") from None
            names = {k: str(v) for k, v in (meta.model_extra or {}).items()}
            if source_language not in names:
                raise ValueError(f"{path}: {publisher} term {n} has no {source_language!r} form")
            for language, target in names.items():
                if language == source_language:
                    continue
                out.setdefault((publisher, language), []).append(
                    Term(
                        source=names[source_language],
                        target=target,
                        required=meta.required,
                        note=meta.note,
                    )
                )
    return out
