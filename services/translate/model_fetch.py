"""Fetching a model: an OPUS-MT release archive converted here, or a catalogue entry from the
Hugging Face hub (``hub.py``); both end in ``model_store``'s staged, load-once, atomic install.

An OPUS-MT release (a Marian ``.npz``, its ``vocab.yml``, ``source.spm``/``target.spm``, README and
LICENSE) is converted by CTranslate2's ``MarianConverter``, which needs neither torch nor
transformers. An arbitrary ``--url`` is trusted only with the ``--sha256`` of the archive it was
meant to serve.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from services.translate import hub
from services.translate.catalogue import CatalogueEntry, load_catalogue
from services.translate.ct2 import (
    LanguagePairs,
    ModelManifest,
    SentencePieceFiles,
    digest_files,
)
from services.translate.model_files import (
    DEFAULT_MAX_DOWNLOAD_MIB,
    CliError,
    download,
    extract,
    human_size,
)
from services.translate.model_store import (
    LANGUAGE_CODE,
    check_name,
    finish_install,
    folder_size,
    refuse_existing,
    work_folder,
)

OPUS_MT_URL = "https://object.pouta.csc.fi/OPUS-MT-models/{src}-{tgt}/{release}.zip"
OPUS_MT_LICENCE = "CC-BY-4.0"
QUANTIZATIONS = ("int8", "int16", "float16", "none")


# --- fetch opus-mt: a release archive ------------------------------------------------------------


def _one(files: list[Path], what: str, prefer: str | None = None) -> Path:
    if prefer is not None and len(files) > 1:
        preferred = [f for f in files if f.name.endswith(prefer)]
        files = preferred or files
    if len(files) != 1:
        found = ", ".join(sorted(f.name for f in files)) or "none"
        raise CliError(f"expected one {what} in the archive, found {found}")
    return files[0]


def _marian_files(root: Path) -> tuple[Path, list[Path], Path, Path]:
    """(model.npz, vocabularies, source.spm, target.spm) of an extracted OPUS-MT release."""
    files = [p for p in root.rglob("*") if p.is_file()]
    npz = _one([f for f in files if f.suffix == ".npz"], "Marian .npz model", "best-perplexity.npz")
    vocabs = sorted(f for f in files if f.name.endswith("vocab.yml"))
    if len(vocabs) == 2:  # separate vocabularies (rare in OPUS-MT): the converter wants src first
        src = [v for v in vocabs if ".src." in v.name or "source" in v.name]
        if len(src) != 1:
            raise CliError(f"cannot tell source from target vocabulary: {vocabs[0]}, {vocabs[1]}")
        vocabs = [src[0], *(v for v in vocabs if v != src[0])]
    else:
        vocabs = [_one(vocabs, "vocab.yml")]
    source_spm = _one([f for f in files if f.name == "source.spm"], "source.spm")
    target_spm = _one([f for f in files if f.name == "target.spm"], "target.spm")
    return npz, vocabs, source_spm, target_spm


def _convert(npz: Path, vocabs: list[Path], out: Path, quantization: str) -> None:
    import ctranslate2

    converter: Any = ctranslate2.converters.MarianConverter(str(npz), [str(v) for v in vocabs])
    try:
        converter.convert(
            str(out), quantization=None if quantization == "none" else quantization, force=True
        )
    except Exception as e:  # the converter raises bare ValueError/KeyError/... on odd input
        raise CliError(f"conversion failed: {e.__class__.__name__}: {e}") from None


def _release_url(
    src: str, tgt: str, url: str | None, release: str | None, sha256: str | None
) -> str:
    """The archive URL to fetch. An arbitrary ``--url`` needs the digest the operator expects;
    ``--release`` names an archive on the OPUS-MT host over https, where one is optional."""
    for lang in (src, tgt):
        if not LANGUAGE_CODE.fullmatch(lang):
            raise CliError(f"invalid language code {lang!r}: expected 2 or 3 lowercase letters")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256.lower()):
        raise CliError("--sha256 must be 64 hex digits")
    if url is not None:
        if sha256 is None:
            raise CliError(
                "--url needs --sha256 HEX: an archive from an arbitrary address is installed "
                "only when it is the one you expect (sha256sum FILE prints the digest)"
            )
        try:
            scheme = httpx.URL(url).scheme
        except httpx.InvalidURL as e:
            raise CliError(f"invalid --url {url!r}: {e}") from None
        if scheme not in ("http", "https"):
            raise CliError(f"--url must be an http(s) URL, not {url!r}")
        return url
    if release is None:
        raise CliError(
            f"no default release for {src}-{tgt}: pass --release (see the pair's README at "
            f"https://github.com/Helsinki-NLP/OPUS-MT-train/tree/master/models/{src}-{tgt}) "
            "or --url with --sha256"
        )
    return OPUS_MT_URL.format(src=src, tgt=tgt, release=check_name(release))


def _build_marian(extracted: Path, built: Path, quantization: str) -> None:
    """Convert an extracted OPUS-MT release into ``built`` (the manifest is the caller's)."""
    npz, vocabs, source_spm, target_spm = _marian_files(extracted)
    _convert(npz, vocabs, built, quantization)
    shutil.copyfile(source_spm, built / "source.spm")
    shutil.copyfile(target_spm, built / "target.spm")
    # CC-BY asks for attribution: keep the release's README and LICENSE with the weights.
    for extra in ("README.md", "LICENSE"):
        found = [f for f in extracted.rglob(extra) if f.is_file()]
        if found:
            shutil.copyfile(found[0], built / extra)


def cmd_fetch_opus_mt(
    models: Path,
    src: str,
    tgt: str,
    *,
    url: str | None,
    release: str | None,
    name: str | None,
    sha256: str | None,
    quantization: str,
    force: bool,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_MIB << 20,
) -> int:
    """Download, check, convert and install an OPUS-MT release as ``<models>/<name>``."""
    url = _release_url(src, tgt, url, release, sha256)
    version = PurePosixPath(httpx.URL(url).path).name.removesuffix(".zip") or "unknown"
    name = check_name(name or f"opus-mt-{src}-{tgt}")
    target = models / name
    refuse_existing(target, force)  # before downloading hundreds of megabytes

    with work_folder(models, name) as work:
        archive = work / "download.zip"
        actual = download(url, archive, max_bytes=max_bytes)
        if sha256 is not None and actual != sha256.lower():
            raise CliError(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {actual}")
        print(f"sha256 {actual} (pin it with --sha256)", file=sys.stderr)
        extracted = work / "archive"
        extracted.mkdir()
        extract(archive, extracted, tar=False)
        archive.unlink()
        built = work / "model"
        _build_marian(extracted, built, quantization)
        ModelManifest(
            name=name,
            family="marian",
            version=version,
            licence=OPUS_MT_LICENCE,
            source_url=url,
            languages=LanguagePairs(pairs=[(src, tgt)]),
            sentencepiece=SentencePieceFiles(source="source.spm", target="target.spm"),
            sha256=digest_files(built),
        ).save(built)
        finish_install(built, target, force)
    print(
        f"installed {name} ({src}>{tgt}, {version}, {human_size(folder_size(target))}) in {target}"
    )
    return 0


# --- fetch NAME: a catalogue model from the Hugging Face hub -------------------------------------


def read_catalogue(path: Path | None) -> dict[str, CatalogueEntry]:
    try:
        return load_catalogue(path)
    except (OSError, ValueError) as e:  # a pydantic ValidationError is a ValueError
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise CliError(f"cannot read the catalogue {path}: {first}") from None


def catalogue_entry(name: str, catalogue_file: Path | None) -> CatalogueEntry:
    """The entry ``fetch NAME`` installs; an unknown name lists the known ones."""
    entries = read_catalogue(catalogue_file)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise CliError(f"no model {name!r} in the catalogue (known: {known}; see 'catalogue')")
    return entries[name]


def _announce(entry: CatalogueEntry, source: hub.Source, target: Path) -> None:
    """What is about to be downloaded, and under which licence, before the progress bars."""
    licence = entry.licence + (": NON-COMMERCIAL use only" if entry.non_commercial else "")
    files = len(hub.taken_files(entry))
    print(
        f"fetching {entry.name} ({entry.title}; licence {licence}): {files} files, about "
        f"{entry.size_mib} MiB\n  from {source.url}\n  into {target}",
        file=sys.stderr,
    )


def cmd_fetch_catalogue(
    models: Path, name: str, *, catalogue_file: Path | None, force: bool
) -> int:
    """Download a catalogue entry at its pinned revision, check every digest, build, load once,
    then move into place; files that arrived whole are kept for a re-run until it succeeds."""
    entry = catalogue_entry(name, catalogue_file)
    source = hub.source_of(entry, hub.endpoint())
    target = models / check_name(entry.name)
    refuse_existing(target, force)
    hub.check_convert_extra(entry)
    models.mkdir(parents=True, exist_ok=True)
    hub.check_space(entry, models)
    _announce(entry, source, target)
    hub.probe(source)
    downloaded = hub.download_folder(models, entry)
    digests = hub.download(entry, source, downloaded)
    try:
        with work_folder(models, entry.name) as work:
            fetched = hub.build(entry, source, downloaded, digests, work / "model")
            finish_install(fetched.built, target, force)
    except BaseException:
        if entry.conversion == "ctranslate2":  # its files were moved out: nothing to resume
            shutil.rmtree(downloaded, ignore_errors=True)
        raise
    shutil.rmtree(downloaded, ignore_errors=True)
    print(
        f"installed {entry.name} ({entry.licence}, {human_size(folder_size(target))}) in {target}"
    )
    return 0
