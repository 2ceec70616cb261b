"""The built-in model catalogue: what `models fetch NAME` may install, and the files that add to it.

The entries' digests and revisions come from the hub's pages (docs/models.md); these tests check
that every entry is well-formed and would install as a servable, honestly labelled model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.translate.catalogue import (
    CATALOGUE,
    DEFAULT_MODEL,
    CatalogueEntry,
    CatalogueError,
    load_catalogue,
)
from services.translate.ct2 import ModelManifest

HEX40 = set("0123456789abcdef")


def _private_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "city-fa-en",
        "title": "A city's own fa-en model",
        "family": "marian",
        "repo": "mashhad-city/opus-mt-fa-en-ct2",
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "files": {"model.bin": "ab" * 32, "source.spm": "cd" * 32, "target.spm": "ef" * 32},
        "unpinned_files": ["config.json", "shared_vocabulary.json"],
        "conversion": "ctranslate2",
        "licence": "CC-BY-4.0",
        "languages": [["fa", "en"]],
        "sentencepiece": ["source.spm", "target.spm"],
        "size_mib": 300,
    }
    return entry | changes


def _write(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_names_are_unique_and_the_default_is_a_verified_commercially_usable_entry() -> None:
    names = [entry.name for entry in CATALOGUE]
    assert len(names) == len(set(names))
    default = load_catalogue()[DEFAULT_MODEL]
    assert default.verified and not default.non_commercial and default.licence == "MIT"


def test_the_issue_s_models_are_all_listed() -> None:
    families = {entry.family for entry in CATALOGUE}
    assert families == {"m2m100", "nllb", "marian", "madlad"}
    assert {"m2m100-418m", "nllb-200-distilled-600m", "nllb-200-distilled-1.3b"} <= set(
        load_catalogue()
    )


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.name)
def test_every_entry_is_valid_and_well_formed(entry: CatalogueEntry) -> None:
    again = CatalogueEntry.model_validate(entry.model_dump())
    assert again == entry
    for digest in entry.files.values():
        assert len(digest) == 64 and set(digest) <= HEX40
    if entry.verified:
        assert entry.revision is not None and len(entry.revision) == 40
        assert set(entry.revision) <= HEX40
        taken = {*entry.files, *entry.unpinned_files}
        assert {"model.bin", "config.json", *entry.spm_files()} <= taken
        assert "model.bin" in entry.files  # the weights are always pinned by SHA-256


@pytest.mark.parametrize("entry", [e for e in CATALOGUE if e.verified], ids=lambda e: e.name)
def test_every_verified_entry_installs_a_manifest_the_engine_accepts(entry: CatalogueEntry) -> None:
    """What `fetch` writes as cityfeeds-model.json must validate (e.g. NLLB codes are known)."""
    spm_source, spm_target = entry.spm_files()
    languages: Any = (
        {"pairs": entry.languages} if entry.family == "marian" else list(entry.languages)  # codes
    )
    manifest = ModelManifest.model_validate(
        {
            "name": entry.name,
            "family": entry.family,
            "version": entry.revision,
            "licence": entry.licence,
            "languages": languages,
            "sentencepiece": spm_source
            if spm_source == spm_target
            else {"source": spm_source, "target": spm_target},
            "compute_types": entry.compute_types,
        }
    )
    assert manifest.supports("fa", "en")


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.name)
def test_non_commercial_licences_are_flagged(entry: CatalogueEntry) -> None:
    assert entry.non_commercial == ("-NC" in entry.licence.upper())
    if entry.non_commercial:
        assert "non-commercial" in entry.notes.lower()


def test_nllb_is_non_commercial() -> None:
    nllb = [e for e in CATALOGUE if e.family == "nllb"]
    assert nllb and all(e.non_commercial and e.licence == "CC-BY-NC-4.0" for e in nllb)


def test_a_licence_and_its_flag_must_agree() -> None:
    with pytest.raises(ValidationError, match="non_commercial must say"):
        CatalogueEntry.model_validate(_private_entry(licence="CC-BY-NC-4.0"))
    with pytest.raises(ValidationError, match="non_commercial must say"):
        CatalogueEntry.model_validate(_private_entry(licence="MIT", non_commercial=True))


def test_madlad_is_int8_or_float32_only() -> None:
    [madlad] = [e for e in CATALOGUE if e.family == "madlad"]
    assert madlad.compute_types and not any("16" in t for t in madlad.compute_types)
    assert madlad.licence == "Apache-2.0"


def test_an_unverified_entry_says_how_to_get_the_model_instead() -> None:
    unverified = [e for e in CATALOGUE if not e.verified]
    assert [e.name for e in unverified] == ["opus-mt-fa-en"]
    [opus] = unverified
    assert opus.revision is None and not opus.files
    assert "--catalogue" in opus.notes and opus.source_url
    assert opus.scores and all(s.source.startswith("https://") for s in opus.scores)


def test_a_verified_entry_needs_its_pins() -> None:
    with pytest.raises(ValidationError, match="names its repository and pinned revision"):
        CatalogueEntry.model_validate(_private_entry(revision=None))
    with pytest.raises(ValidationError, match=r"needs config\.json"):
        CatalogueEntry.model_validate(_private_entry(unpinned_files=["shared_vocabulary.json"]))
    with pytest.raises(ValidationError, match="not a lowercase hex SHA-256"):
        CatalogueEntry.model_validate(_private_entry(files={"model.bin": "AB" * 32}))
    with pytest.raises(ValidationError, match="String should match pattern"):
        CatalogueEntry.model_validate(_private_entry(revision="main"))
    with pytest.raises(ValidationError, match="unknown CTranslate2 compute types: fp8"):
        CatalogueEntry.model_validate(_private_entry(compute_types=["fp8"]))


def test_an_extra_catalogue_file_adds_private_entries(tmp_path: Path) -> None:
    entries = load_catalogue(_write(tmp_path / "private.json", [_private_entry()]))
    assert entries["city-fa-en"].languages == [("fa", "en")]
    assert {e.name for e in CATALOGUE} < set(entries)


def test_an_extra_catalogue_may_not_reuse_a_name(tmp_path: Path) -> None:
    clash = _write(tmp_path / "clash.json", [_private_entry(name=DEFAULT_MODEL)])
    with pytest.raises(CatalogueError, match="'m2m100-418m' is already a catalogue name"):
        load_catalogue(clash)
    twice = _write(tmp_path / "twice.json", [_private_entry(), _private_entry()])
    with pytest.raises(CatalogueError, match="'city-fa-en' is already a catalogue name"):
        load_catalogue(twice)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"unreadable catalogue .*bad\.json"),
        ('{"name": "x"}', "a catalogue file is a JSON list of entries"),
        (json.dumps([_private_entry(size_mib="big")]), r"entry 0: size_mib: Input should be"),
        (json.dumps([_private_entry(colour="red")]), "entry 0: colour: Extra inputs"),
    ],
)
def test_a_bad_catalogue_file_is_one_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


def test_a_missing_catalogue_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="unreadable catalogue"):
        load_catalogue(tmp_path / "nowhere.json")
