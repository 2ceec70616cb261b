"""Fetch, install, list and verify the local translation models the CTranslate2 engine serves.

Usage (``python -m services.translate.models --help``)::

    list                       installed models: family, version, languages, licence, size, state
    verify [NAME ...]          re-check every file against the manifest's SHA-256 digests
    catalogue [--catalogue FILE]
                               what ``fetch NAME`` offers: licences (non-commercial said),
                               download sizes, languages, published scores
    fetch NAME [--catalogue FILE] [--force]
                               a catalogue model from the Hugging Face hub (e.g. m2m100-418m)
    ensure [--catalogue FILE]  ``make run``'s step: fetch the default when no model is installed
    fetch opus-mt SRC TGT (--release NAME [--sha256 HEX] | --url URL --sha256 HEX) [--name NAME]
          [--quantization int8|int16|float16|none] [--max-size MIB] [--force]
    install DIR|ARCHIVE [--name NAME] [--force]
    pick [--registry FILE [--publisher NAME ...]] [--pair SRC-TGT ...] [--env-file FILE] [--json]
                               the engine settings ``make run`` starts translate with
    evaluate NAME [--set municipal|FILE | --flores DIR] [--pairs SRC-TGT,...] [--limit N]
                               chrF++/BLEU (COMET) per pair, stored with the model

The models folder is ``--models``, else ``$TRANSLATE_MODELS_DIR``, else
``~/.cache/city-syndication/models``; each model is one subfolder in the layout ``ct2.py`` serves
(converted model, SentencePiece files, ``cityfeeds-model.json`` with digests).

``fetch opus-mt`` downloads a Helsinki-NLP OPUS-MT release archive (a Marian ``.npz``, its
``vocab.yml``, ``source.spm``/``target.spm``, README and LICENSE) and converts it with
CTranslate2's ``MarianConverter``, which needs neither torch nor transformers. Release names differ
per pair (``opus-2020-01-16``, ``opus+bt-2021-04-14`` ...) and are listed in the pair's README at
https://github.com/Helsinki-NLP/OPUS-MT-train/tree/master/models, so one has to be named: with
``--release`` the URL is ``https://object.pouta.csc.fi/OPUS-MT-models/{src}-{tgt}/{release}.zip``,
or give the whole ``--url`` with its ``--sha256`` (an arbitrary address is trusted only for the
archive it was meant to serve). A download stops at ``--max-size`` whether or not the server
declares its length, and redirects are followed on the same host only (never down to http).

``install`` takes a converted model folder, or a ``.tar`` (gz, bz2, xz) or ``.zip`` archive of one
(the manifest at its top or in its one top folder). Only regular files and folders get in: a
symbolic or hard link, a device, a FIFO, an absolute path or a ``..`` anywhere refuses the whole
install, so nothing outside the model can be copied in and then vouched for by the digests the
manifest records. A corrupt or truncated archive is an error message, not a traceback.

``fetch NAME`` installs an entry of the catalogue (``catalogue.py``, plus ``--catalogue FILE``, a
JSON list of entries) through the real ``huggingface_hub`` client (``hub.py``): ``HF_ENDPOINT``
(a mirror), ``HF_TOKEN`` (gated repositories), its progress bars, a connection cut mid-file
resumed with a Range request, and whole files kept in a hidden ``.download-NAME-REV`` folder so
the same command run again fetches only what is missing. Exactly the entry's files are taken at
its pinned commit, each checked against the SHA-256 the entry pins (a mismatch names the file and
installs nothing); the manifest records version = the commit, the licence, the languages and
``source_url`` = ``https://huggingface.co/REPO/tree/REV``. An entry that is the original model
(``conversion: transformers``) is converted here by CTranslate2's ``TransformersConverter``, which
needs ``pip install '.[convert]'`` (torch CPU, transformers); without it, one line says so before
anything is downloaded. An entry marked unverified is never fetched.

``ensure`` runs in ``make run`` before ``pick``: when no model is installed (and neither
``TRANSLATE_ENGINE`` nor ``TRANSLATE_MODEL_DIR`` is set) it fetches ``$TRANSLATE_DEFAULT_MODEL``
(default ``m2m100-418m``, MIT) unless ``TRANSLATE_AUTO_FETCH=0``. It first asks the hub for the
repository with a 5-second timeout; a hub that cannot be reached, or a fetch that fails, is one
line and exit 0, so the stack starts as before with translations pending. An unknown
``TRANSLATE_DEFAULT_MODEL`` is an error (exit 1).

M2M100 and NLLB can also be converted elsewhere by ``ct2-transformers-converter``: add a
``cityfeeds-model.json`` next to its output (plus the SentencePiece model), then ``install`` that
directory here.

Every install is built in a hidden folder beside the target, loaded once with the engine, and only
then renamed into place, so a failed or interrupted fetch never leaves a half model behind.

``pick`` chooses what to serve when ``TRANSLATE_ENGINE`` is not set: the installed model that
verifies and covers the most of the wanted pairs (directly or through English), a multilingual
one before single-pair Marian ones. It prints what it chose and what stays pending, and with
``--env-file`` writes the ``TRANSLATE_*`` settings (``KEY=VALUE`` lines) for the service. Once
models are scored (``evaluate``, docs/evaluation.md), each pair goes to the model with the best
chrF++ for it, and pairs served by another model than the main one are listed in
``TRANSLATE_MODEL_DIRS``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from services.translate import hub
from services.translate.catalogue import DEFAULT_MODEL, CatalogueEntry, load_catalogue
from services.translate.ct2 import (
    MANIFEST_NAME,
    CTranslate2Engine,
    LanguagePairs,
    ModelDirectoryError,
    ModelManifest,
    SentencePieceFiles,
    digest_files,
    verify,
)
from services.translate.model_files import (
    DEFAULT_MAX_DOWNLOAD_MIB,
    copy_folder,
    download,
    extract,
    human_size,
)

# The error the CLI prints and exits 1 on; re-exported for the callers that catch it from here.
from services.translate.model_files import CliError as CliError
from services.translate.model_scores import PairScore, best_per_pair, load_current, rank_of
from services.translate.model_scores import summary as score_summary

DEFAULT_MODELS_DIR = Path("~/.cache/city-syndication/models")
OPUS_MT_URL = "https://object.pouta.csc.fi/OPUS-MT-models/{src}-{tgt}/{release}.zip"
OPUS_MT_LICENCE = "CC-BY-4.0"
QUANTIZATIONS = ("int8", "int16", "float16", "none")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_LANG = re.compile(r"[a-z]{2,3}")


def models_dir(option: str | None) -> Path:
    """``--models``, else ``$TRANSLATE_MODELS_DIR``, else the per-user cache folder."""
    raw = option or os.environ.get("TRANSLATE_MODELS_DIR") or str(DEFAULT_MODELS_DIR)
    return Path(raw).expanduser()


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CliError(f"invalid model name {name!r}: use letters, digits, '.', '_', '+', '-'")
    return name


def _installed(models: Path) -> list[Path]:
    """Model subfolders; hidden ones are installs in progress."""
    if not models.is_dir():
        return []
    return sorted(p for p in models.iterdir() if p.is_dir() and not p.name.startswith("."))


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _languages(manifest: ModelManifest) -> str:
    if isinstance(manifest.languages, list):
        return ",".join(manifest.languages) + " (any pair)"
    return ",".join(f"{src}>{tgt}" for src, tgt in manifest.languages.pairs)


# --- list / verify -------------------------------------------------------------------------------


def cmd_list(models: Path) -> int:
    """One line per installed model, so an operator sees at a glance what can be served."""
    found = _installed(models)
    if not found:
        print(f"no models installed in {models}")
        print(
            f"fetch one with: python -m services.translate.models fetch {DEFAULT_MODEL} "
            "(models catalogue lists them all); see --help"
        )
        return 0
    rows: list[tuple[str, ...]] = []
    for directory in found:
        problems = verify(directory)
        try:
            manifest = ModelManifest.read(directory)
            family: str = manifest.family
            version = manifest.version
            languages, licence = _languages(manifest), manifest.licence
            scores = score_summary(load_current(directory, manifest))
        except ModelDirectoryError:
            family = version = languages = licence = scores = "?"
        state = "ok" if not problems else problems[0]
        size = human_size(_size(directory))
        rows.append((directory.name, family, version, languages, licence, size, scores, state))
    header = ("NAME", "FAMILY", "VERSION", "LANGUAGES", "LICENCE", "SIZE", "SCORES", "STATE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def cmd_verify(models: Path, names: Sequence[str]) -> int:
    """Exit 1 when any model has a problem, so deployments can gate on it."""
    directories = [models / _check_name(n) for n in names] if names else _installed(models)
    if not directories:
        raise CliError(f"no models installed in {models}")
    failed = False
    for directory in directories:
        problems = verify(directory)
        if problems:
            failed = True
            for problem in problems:
                print(f"{directory.name}: {problem}")
        else:
            print(f"{directory.name}: ok")
    return 1 if failed else 0


# --- staging and atomic install ------------------------------------------------------------------


def _stage(models: Path, name: str) -> Path:
    """A hidden work folder beside the target, so the final rename stays on one file system."""
    models.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models))


def _refuse_existing(target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise CliError(f"{target} already exists: pass --force to replace it")


def _prove_loads(directory: Path) -> None:
    """Load the model once with the engine: a directory that verifies may still not serve."""
    problems = verify(directory)
    if problems:
        raise CliError(f"model does not verify: {'; '.join(problems)}")
    try:
        CTranslate2Engine(directory, device="cpu")
    except (ModelDirectoryError, RuntimeError, ValueError) as e:
        raise CliError(f"the model does not load: {e}") from None


def _move_into_place(built: Path, target: Path, force: bool) -> None:
    """Rename ``built`` to ``target``; an old model is moved aside first and removed after."""
    _refuse_existing(target, force)
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        built.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _work_folder(models: Path, name: str) -> Iterator[Path]:
    """A hidden work folder beside the models, removed in every case (errors and Ctrl-C too), so
    a failed install leaves nothing behind."""
    work = _stage(models, name)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _finish(built: Path, target: Path, force: bool) -> None:
    """Load the model once, then move it into place atomically."""
    _prove_loads(built)
    _move_into_place(built, target, force)


# --- fetch ---------------------------------------------------------------------------------------


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
        if not _LANG.fullmatch(lang):
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
    return OPUS_MT_URL.format(src=src, tgt=tgt, release=_check_name(release))


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
    name = _check_name(name or f"opus-mt-{src}-{tgt}")
    target = models / name
    _refuse_existing(target, force)  # before downloading hundreds of megabytes

    with _work_folder(models, name) as work:
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
        _finish(built, target, force)
    print(f"installed {name} ({src}>{tgt}, {version}, {human_size(_size(target))}) in {target}")
    return 0


# --- fetch NAME: a catalogue model from the Hugging Face hub -------------------------------------


def _catalogue(path: Path | None) -> dict[str, CatalogueEntry]:
    try:
        return load_catalogue(path)
    except (OSError, ValueError) as e:  # a pydantic ValidationError is a ValueError
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise CliError(f"cannot read the catalogue {path}: {first}") from None


def catalogue_entry(name: str, catalogue_file: Path | None) -> CatalogueEntry:
    """The entry ``fetch NAME`` installs; an unknown name lists the known ones."""
    entries = _catalogue(catalogue_file)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise CliError(f"no model {name!r} in the catalogue (known: {known}; see 'catalogue')")
    return entries[name]


def _licence_note(licence: str) -> str:
    """Said in words wherever a model is chosen: a non-commercial licence binds the city."""
    return ": NON-COMMERCIAL use only" if "-NC" in licence.upper() else ""


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
    target = models / _check_name(entry.name)
    _refuse_existing(target, force)
    hub.check_convert_extra(entry)
    models.mkdir(parents=True, exist_ok=True)
    hub.check_space(entry, models)
    _announce(entry, source, target)
    hub.probe(source)
    downloaded = hub.download_folder(models, entry)
    digests = hub.download(entry, source, downloaded)
    try:
        with _work_folder(models, entry.name) as work:
            fetched = hub.build(entry, source, downloaded, digests, work / "model")
            _finish(fetched.built, target, force)
    except BaseException:
        if entry.conversion == "ctranslate2":  # its files were moved out: nothing to resume
            shutil.rmtree(downloaded, ignore_errors=True)
        raise
    shutil.rmtree(downloaded, ignore_errors=True)
    print(f"installed {entry.name} ({entry.licence}, {human_size(_size(target))}) in {target}")
    return 0


def _has_model(models: Path) -> bool:
    return any((d / MANIFEST_NAME).is_file() for d in _installed(models))


def cmd_ensure(
    models: Path, *, catalogue_file: Path | None, environ: Mapping[str, str] | None = None
) -> int:
    """``make run``'s step before ``pick``: fetch the default model when none is installed and the
    hub answers. A hub that cannot be reached, or a fetch that fails, is one line and exit 0, so
    the stack starts as before with translations pending."""
    env = os.environ if environ is None else environ
    if any(env.get(k, "").strip() for k in ("TRANSLATE_ENGINE", "TRANSLATE_MODEL_DIR")):
        return 0  # the operator chose what to serve; pick reports it
    if _has_model(models):
        return 0
    name = env.get("TRANSLATE_DEFAULT_MODEL", "").strip() or DEFAULT_MODEL
    later = f"fetch one later with: {_python_command()} -m services.translate.models fetch {name}"
    opt_out = env.get("TRANSLATE_AUTO_FETCH", "").strip()
    if opt_out.lower() in ("0", "false", "no", "off"):
        print(f"translation models: none installed, TRANSLATE_AUTO_FETCH={opt_out}; {later}")
        return 0
    entry = catalogue_entry(name, catalogue_file)
    try:
        hub.probe(hub.source_of(entry, hub.endpoint()))
        return cmd_fetch_catalogue(models, name, catalogue_file=catalogue_file, force=False)
    except hub.HubUnreachable as e:
        print(f"translation models: {e}; translations stay pending; {later}")
    except (CliError, ModelDirectoryError, OSError) as e:
        print(f"translation models: fetching {name} failed: {e}; translations stay pending")
    return 0


def _catalogue_languages(entry: CatalogueEntry) -> str:
    codes = [f"{p[0]}>{p[1]}" if not isinstance(p, str) else p for p in entry.languages]
    return ",".join(codes[:8]) + (f" +{len(codes) - 8}" if len(codes) > 8 else "")


def cmd_catalogue(models: Path, catalogue_file: Path | None) -> int:
    """What ``fetch NAME`` offers, with the licence (non-commercial said in words) and the scores
    the authors published, so a city chooses knowingly."""
    entries = _catalogue(catalogue_file)
    if not entries:
        print("the catalogue is empty")
        return 0
    header = ("NAME", "FAMILY", "LICENCE", "DOWNLOAD", "LANGUAGES", "INSTALLED")
    rows = [
        (
            e.name + (" (default)" if e.name == DEFAULT_MODEL else ""),
            e.family,
            e.licence + (" (non-commercial)" if e.non_commercial else ""),
            f"{e.size_mib} MiB",
            _catalogue_languages(e),
            "yes" if (models / e.name / MANIFEST_NAME).is_file() else "no",
        )
        for e in entries.values()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for entry, row in zip([None, *entries.values()], [header, *rows], strict=True):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
        for score in entry.scores if entry is not None else ():
            print(
                f"    published: {score.pair} {score.metric} {score.value:g} on {score.test_set} "
                f"({score.source})"
            )
    print(f"fetch one with: {_python_command()} -m services.translate.models fetch NAME")
    return 0


CATALOGUE_HELP = "a JSON list of extra catalogue entries (private models)"
_OPUS_ONLY = ("release", "url", "sha256", "name", "quantization")


def cmd_fetch(models: Path, args: argparse.Namespace) -> int:
    """``fetch opus-mt SRC TGT ...`` (a release archive) or ``fetch NAME`` (the catalogue); a
    Ctrl-C is one line too (the work folder is gone by then, whole downloads kept)."""
    try:
        return _fetch_either(models, args)
    except KeyboardInterrupt:
        raise CliError("fetch interrupted, nothing installed: run it again to resume") from None


def _fetch_either(models: Path, args: argparse.Namespace) -> int:
    if args.family == "opus-mt":
        if args.src is None or args.tgt is None:
            raise CliError("fetch opus-mt needs SRC and TGT, e.g. fetch opus-mt fa en --release R")
        return cmd_fetch_opus_mt(
            models,
            args.src,
            args.tgt,
            url=args.url,
            release=args.release,
            name=args.name,
            sha256=args.sha256,
            quantization=args.quantization or "int8",
            force=args.force,
            max_bytes=args.max_size << 20,
        )
    given = [f"--{o}" for o in _OPUS_ONLY if getattr(args, o) is not None]
    if args.src is not None or given:
        extra = " ".join(filter(None, [args.src, args.tgt, *given]))
        raise CliError(f"fetch {args.family} takes no {extra}: those are for fetch opus-mt")
    return cmd_fetch_catalogue(models, args.family, catalogue_file=args.catalogue, force=args.force)


# --- install -------------------------------------------------------------------------------------


def _unpack(source: Path, work: Path) -> Path:
    """The model folder to install: ``source`` copied, or extracted, into ``work``."""
    if source.is_dir():
        built = work / "model"
        copy_folder(source, built)
        return built
    if not source.is_file():
        raise CliError(f"not a model directory: {source} does not exist")
    extracted = work / "archive"
    extracted.mkdir()
    extract(source, extracted)
    if (extracted / MANIFEST_NAME).is_file():
        return extracted
    tops = list(extracted.iterdir())
    if len(tops) == 1 and (tops[0] / MANIFEST_NAME).is_file():
        return tops[0]
    raise CliError(f"{source} holds no {MANIFEST_NAME}, at its top or in its one top folder")


def cmd_install(models: Path, source: Path, *, name: str | None, force: bool) -> int:
    """Install a converted model from a folder or an archive of one; digests are added if absent.

    What is checked, digested and loaded is the staged copy, never ``source``, so the source
    cannot change between the check and the copy."""
    if name is not None:
        _refuse_existing(models / _check_name(name), force)
    with _work_folder(models, name or "install") as work:
        built = _unpack(source, work)
        try:
            manifest = ModelManifest.load(built)
        except ModelDirectoryError as e:
            raise CliError(str(e).replace(str(built), str(source))) from None
        problems = verify(built)
        if problems:
            raise CliError(f"{source} does not verify: {'; '.join(problems)}")
        name = _check_name(name or manifest.name)
        target = models / name
        _refuse_existing(target, force)
        if not manifest.sha256:
            manifest.model_copy(update={"sha256": digest_files(built)}).save(built)
        _finish(built, target, force)
    print(f"installed {name} ({manifest.family}, {manifest.version}) in {target}")
    return 0


# --- pick: what `make run` serves ----------------------------------------------------------------

Pair = tuple[str, str]
PIVOT = "en"
# Among models covering the same pairs: multilingual first (one model, every pair direct), and
# M2M100 (MIT) before NLLB (CC-BY-NC, non-commercial), which is better but must be chosen knowingly.
FAMILY_PREFERENCE = {"m2m100": 0, "nllb": 1, "marian": 2}


def registry_pairs(path: Path, publishers: Sequence[str] = ()) -> list[Pair]:
    """(source, target) pairs the publishers of a registry file need (all of them when none are
    named): their own ``translate_to`` and the languages of every network and partner that
    receives them."""
    from shared.registry import read_registry, target_languages_of

    try:
        contents = read_registry(path)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read the registry {path}: {e}") from None
    pubs, nets, partners = contents.publishers, contents.networks, contents.partners
    by_id = {p.id: p for p in pubs}
    unknown = [name for name in publishers if name not in by_id]
    if unknown:
        raise CliError(f"{path} has no publisher {', '.join(map(repr, unknown))}")
    pairs: dict[Pair, None] = {}
    for pub in [by_id[name] for name in publishers] if publishers else pubs:
        for target in target_languages_of(pub, nets, partners):
            pairs.setdefault((pub.language, target), None)
    return list(pairs)


def _pair(text: str) -> Pair:
    src, sep, tgt = text.partition("-")
    if not sep or not _LANG.fullmatch(src) or not _LANG.fullmatch(tgt):
        raise argparse.ArgumentTypeError(f"expected SRC-TGT such as fa-en, got {text!r}")
    return src, tgt


def _arrow(pairs: Sequence[Pair]) -> str:
    return ", ".join(f"{src}→{tgt}" for src, tgt in pairs)


@dataclass(frozen=True)
class Candidate:
    """An installed model that verifies, and which of the wanted pairs it can serve."""

    directory: Path
    manifest: ModelManifest
    direct: tuple[Pair, ...]
    pivoted: tuple[Pair, ...]
    """Served in two steps through English (source→en, en→target) by the same model."""
    scores: dict[Pair, PairScore] = field(default_factory=dict)
    """What ``models evaluate`` measured on these weights, the score that stands per pair."""

    @classmethod
    def of(cls, directory: Path, manifest: ModelManifest, wanted: Sequence[Pair]) -> Candidate:
        direct = tuple(p for p in wanted if manifest.supports(*p))
        pivoted = tuple(
            (src, tgt)
            for src, tgt in wanted
            if (src, tgt) not in direct
            and PIVOT not in (src, tgt)
            and manifest.supports(src, PIVOT)
            and manifest.supports(PIVOT, tgt)
        )
        scores = best_per_pair(load_current(directory, manifest))
        return cls(directory, manifest, direct, pivoted, scores)

    def score_rank(self, pair: Pair) -> tuple[int, float]:
        """Smaller is better: chrF++ on the whole municipal set, then on any set, then none."""
        return rank_of(self.scores, pair)

    @property
    def covered(self) -> int:
        return len(self.direct) + len(self.pivoted)

    def rank(self) -> tuple[int, int, int, str]:
        """Smaller is better: most pairs, most of them direct, family preference, name."""
        family = FAMILY_PREFERENCE.get(self.manifest.family, len(FAMILY_PREFERENCE))
        return (-self.covered, -len(self.direct), family, self.directory.name)


@dataclass
class Pick:
    """What translate is started with, and why, in words an operator can act on."""

    models: Path
    wanted: list[Pair]
    explicit: str | None = None
    """``TRANSLATE_ENGINE`` as the operator set it: it wins, nothing is picked."""
    chosen: Candidate | None = None
    per_pair: dict[Pair, Candidate] = field(default_factory=dict)
    """Pairs another model serves better than ``chosen`` (higher measured chrF++, or directly
    where ``chosen`` cannot), each from its own model (``TRANSLATE_MODEL_DIRS``)."""
    unused: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(model, first problem) of models that do not verify."""

    @property
    def pending(self) -> list[Pair]:
        if self.explicit is not None:
            return []
        served = set() if self.chosen is None else {*self.chosen.direct, *self.chosen.pivoted}
        return [p for p in self.wanted if p not in served and p not in self.per_pair]

    def env(self) -> dict[str, str]:
        """The ``TRANSLATE_*`` settings to start translate with (none when nothing is picked)."""
        if self.chosen is None:
            return {}
        env = {
            "TRANSLATE_ENGINE": "ctranslate2",
            "TRANSLATE_MODEL_DIR": str(self.chosen.directory.resolve()),
        }
        if self.per_pair:
            env["TRANSLATE_MODEL_DIRS"] = ",".join(
                f"{src}-{tgt}={c.directory.resolve()}" for (src, tgt), c in self.per_pair.items()
            )
        return env

    def as_json(self) -> dict[str, Any]:
        chosen = self.chosen
        engine = self.explicit if self.explicit is not None else self.env().get("TRANSLATE_ENGINE")
        return {
            "engine": engine,
            "explicit": self.explicit is not None,
            "env": self.env(),
            "models_dir": str(self.models),
            "model": None
            if chosen is None
            else {
                "name": chosen.manifest.name,
                "directory": str(chosen.directory.resolve()),
                "family": chosen.manifest.family,
                "version": chosen.manifest.version,
                "licence": chosen.manifest.licence,
                "languages": chosen.manifest.language_codes(),
                "pairs": None
                if isinstance(chosen.manifest.languages, list)
                else [list(p) for p in chosen.manifest.languages.pairs],
                "scores": _scores_json(chosen),
            },
            "per_pair": [
                {
                    "pair": list(pair),
                    "name": c.manifest.name,
                    "directory": str(c.directory.resolve()),
                    "licence": c.manifest.licence,
                    "scores": _scores_json(c),
                }
                for pair, c in self.per_pair.items()
            ],
            "wanted": [list(p) for p in self.wanted],
            "direct": [] if chosen is None else [list(p) for p in chosen.direct],
            "pivoted": [] if chosen is None else [list(p) for p in chosen.pivoted],
            "pending": [list(p) for p in self.pending],
            "unused": [c.directory.name for c in self.unused],
            "skipped": [{"name": name, "problem": problem} for name, problem in self.skipped],
        }

    def served_by(self, candidate: Candidate) -> list[Pair]:
        """The wanted pairs ``candidate`` translates directly in this choice."""
        if candidate is self.chosen:
            return [p for p in candidate.direct if p not in self.per_pair]
        return [p for p, c in self.per_pair.items() if c is candidate]

    def _scores_lines(self) -> list[str]:
        """The measured chrF++ behind the choice, and the other models that serve a pair."""
        lines: list[str] = []
        if self.chosen is not None and self.chosen.scores:
            lines.append(f"  measured: {_scored(self.chosen, self.served_by(self.chosen))}")
        for other in _distinct(self.per_pair.values()):
            m, pairs = other.manifest, self.served_by(other)
            lines += [
                f"  and {m.name} ({m.family}, licence {m.licence}{_licence_note(m.licence)})",
                f"    from {other.directory.resolve()}",
                f"    translates {_arrow(pairs)}"
                + (f", measured: {_scored(other, pairs)}" if other.scores else ""),
            ]
        return lines

    def message(self, python: str = "python") -> str:
        cli = f"{python} -m services.translate.models"
        if self.explicit is not None:
            return (
                f"Translations: TRANSLATE_ENGINE={self.explicit} as set; installed models are not "
                "consulted."
            )
        lines: list[str] = []
        chosen = self.chosen
        if chosen is not None:
            m = chosen.manifest
            lines += [
                f"Translations: ctranslate2 with the installed model {m.name}",
                f"  {m.family}, version {m.version}, languages {_languages(m)}",
                f"  licence {m.licence}{_licence_note(m.licence)}",
                f"  from {chosen.directory.resolve()}",
                f"  translates {_arrow(self.served_by(chosen)) or 'none of the pairs directly'}",
            ]
            pivoted = [p for p in chosen.pivoted if p not in self.per_pair]
            if pivoted:
                lines.append(f"  through English: {_arrow(pivoted)}")
            lines += self._scores_lines()
            if self.pending:
                lines += [
                    f"  still PENDING: {_arrow(self.pending)}: the model does not cover them. One",
                    "  multilingual model covers every pair: M2M100-418M (MIT), see the README.",
                ]
            for other in self.unused:
                lines.append(f"  also installed, not used: {other.directory.name}")
        else:
            sources = ", ".join(dict.fromkeys(src for src, _ in self.wanted))
            targets = ", ".join(dict.fromkeys(tgt for _, tgt in self.wanted))
            lines += [
                "Translations: PENDING. No TRANSLATE_ENGINE is set and no verified model in",
                f"  {self.models} covers {_arrow(self.wanted)},",
                f"  so the {targets} feeds stay empty while the {sources} feeds fill.",
                "  To translate, install a model once, then 'make stop; make run' serves it:",
                f"    {cli} fetch {DEFAULT_MODEL}",
                "      M2M100-418M from the Hugging Face hub: every pair, MIT licence",
                f"    {cli} catalogue",
                "      the other models (NLLB-200 is non-commercial), licences and scores",
                f"    {cli} install DIR",
                f"      a model converted elsewhere, with its {MANIFEST_NAME}",
                f"    {cli} list",
                "  'TRANSLATE_ENGINE=pseudo make run' shows the pipeline with the deterministic",
                "  test engine (tags text, does not translate).",
            ]
            for other in self.unused:
                lines.append(
                    f"  installed, but covers none of these pairs: {other.directory.name} "
                    f"({_languages(other.manifest)})"
                )
        for name, problem in self.skipped:
            lines.append(f"  skipped {name}: {problem} (check with '{cli} verify {name}')")
        return "\n".join(lines)


def pick_model(
    models: Path, wanted: Sequence[Pair], environ: Mapping[str, str] | None = None
) -> Pick:
    """The engine settings to serve ``wanted`` with when ``TRANSLATE_ENGINE`` is not set.

    Candidates are the models in ``models`` (or only ``TRANSLATE_MODEL_DIR`` when that is set);
    a model is used only when every file matches its manifest's digests.
    """
    env = os.environ if environ is None else environ
    result = Pick(models=models, wanted=list(wanted))
    if env.get("TRANSLATE_ENGINE", "").strip():
        result.explicit = env["TRANSLATE_ENGINE"].strip()
        return result
    given = env.get("TRANSLATE_MODEL_DIR", "").strip()
    directories = [Path(given).expanduser()] if given else _installed(models)
    candidates: list[Candidate] = []
    for directory in directories:
        problems = verify(directory)
        if problems:
            result.skipped.append((directory.name, problems[0]))
            continue
        candidates.append(Candidate.of(directory, ModelManifest.read(directory), wanted))
    useful = sorted((c for c in candidates if c.covered), key=Candidate.rank)
    result.chosen, result.per_pair = _assign(useful, wanted)
    serving = [result.chosen, *result.per_pair.values()]
    result.unused = [c for c in useful if all(c is not s for s in serving)]
    result.unused += [c for c in candidates if not c.covered]
    return result


def _assign(
    useful: Sequence[Candidate], wanted: Sequence[Pair]
) -> tuple[Candidate | None, dict[Pair, Candidate]]:
    """(the main model, the pairs other models serve): each pair goes to the model that
    translates it directly with the best measured chrF++ (unscored ones after scored ones, then
    by coverage as before); the main model is the one left serving the most pairs, its pivots
    through English included. Without scores this is the single best-covering model."""
    best: dict[Pair, Candidate] = {}
    for pair in wanted:
        direct = [c for c in useful if pair in c.direct]
        if direct:
            best[pair] = min(direct, key=lambda c: (c.score_rank(pair), c.rank()))

    def serves(c: Candidate) -> int:
        return sum(1 for p in wanted if best.get(p) is c or (p not in best and p in c.pivoted))

    if not useful:
        return None, {}
    main = min(useful, key=lambda c: (-serves(c), c.rank()))
    return main, {pair: c for pair, c in best.items() if c is not main}


def _distinct(candidates: Iterable[Candidate]) -> list[Candidate]:
    """In order, each once (candidates hold a manifest, so they are not hashable)."""
    seen: list[Candidate] = []
    for c in candidates:
        if all(c is not s for s in seen):
            seen.append(c)
    return seen


def _scored(candidate: Candidate, pairs: Sequence[Pair]) -> str:
    """``chrF++ fa→en 52.1 (municipal)`` for the pairs it has a score for; ``unscored``."""
    parts = [
        f"{src}→{tgt} {score.chrf:.1f} ({score.set})"
        for src, tgt in pairs
        if (score := candidate.scores.get((src, tgt))) is not None
    ]
    return "chrF++ " + ", ".join(parts) if parts else "unscored"


def _scores_json(candidate: Candidate) -> dict[str, dict[str, Any]]:
    return {
        f"{src}-{tgt}": {"chrf": s.chrf, "bleu": s.bleu, "comet": s.comet, "set": s.set}
        for (src, tgt), s in candidate.scores.items()
    }


def _python_command() -> str:
    """How the operator reaches this interpreter: relative when it is inside the working folder
    (``.venv/bin/python``), else plain ``python``."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return "python"


def cmd_pick(
    models: Path,
    wanted: Sequence[Pair],
    *,
    env_file: Path | None,
    as_json: bool,
) -> int:
    """Print the choice; with ``env_file``, write its settings there (empty when none)."""
    result = pick_model(models, wanted)
    if env_file is not None:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{key}={value}\n" for key, value in result.env().items())
        env_file.write_text(
            "# written by python -m services.translate.models pick; read by stack.py up\n" + body,
            encoding="utf-8",
        )
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        print(result.message(_python_command()))
    return 0


# --- command line --------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


# --- evaluate: measured quality, stored with the model --------------------------------------------


def _pairs(text: str) -> list[Pair]:
    return [_pair(part.strip()) for part in text.split(",") if part.strip()]


def _add_evaluate_parser(sub: Any) -> None:
    p_eval = sub.add_parser(
        "evaluate",
        help="score an installed model (chrF++, BLEU, COMET if installed) on reference sentences",
        description="Translate a reference set with the installed model as the service would, "
        "print chrF++ and BLEU per pair (COMET with the 'comet' extra), and store the scores "
        "with the model for 'list' and 'pick'. See docs/evaluation.md.",
    )
    p_eval.add_argument("name", metavar="NAME", help="an installed model")
    source = p_eval.add_mutually_exclusive_group()
    source.add_argument(
        "--set",
        metavar="municipal|FILE",
        help="the shipped municipal set (default), or a .jsonl / .tsv file of your own",
    )
    source.add_argument(
        "--flores", type=Path, metavar="DIR", help="an unpacked FLORES+ release: its devtest"
    )
    p_eval.add_argument(
        "--pairs",
        type=_pairs,
        default=[],
        metavar="SRC-TGT,...",
        help="the pairs to score (default: every pair of the set the model translates directly)",
    )
    p_eval.add_argument(
        "--limit", type=_positive_int, metavar="N", help="only the first N sentences per pair"
    )


def _evaluate(models: Path, args: argparse.Namespace) -> int:
    from services.translate import evaluate, reference_sets

    directory = models / _check_name(args.name)
    refset = reference_sets.load(args.set, args.flores)
    return evaluate.cmd_evaluate(directory, refset, args.pairs, limit=args.limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.translate.models",
        description="Fetch, install, list and verify local CTranslate2 translation models.",
    )
    parser.add_argument(
        "--models",
        metavar="DIR",
        help="models folder (default: $TRANSLATE_MODELS_DIR, else ~/.cache/city-syndication/"
        "models)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list installed models")
    p_verify = sub.add_parser("verify", help="check installed models against their digests")
    p_verify.add_argument("names", nargs="*", metavar="NAME")

    p_fetch = sub.add_parser(
        "fetch",
        help="install a catalogue model from the Hugging Face hub (NAME), or an OPUS-MT release "
        "(opus-mt SRC TGT)",
    )
    p_fetch.add_argument("family", metavar="NAME", help="a catalogue name, or opus-mt")
    p_fetch.add_argument("src", metavar="SRC", nargs="?", help="opus-mt: source language, e.g. fa")
    p_fetch.add_argument("tgt", metavar="TGT", nargs="?", help="opus-mt: target language, e.g. en")
    p_fetch.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)
    p_fetch.add_argument("--release", help="OPUS-MT release name, e.g. opus-2020-01-16")
    p_fetch.add_argument("--url", help="archive URL (overrides --release; needs --sha256)")
    p_fetch.add_argument("--sha256", help="expected SHA-256 of the archive")
    p_fetch.add_argument(
        "--max-size",
        type=_positive_int,
        default=DEFAULT_MAX_DOWNLOAD_MIB,
        metavar="MIB",
        help=f"stop a download past this many MiB (default {DEFAULT_MAX_DOWNLOAD_MIB})",
    )
    p_fetch.add_argument("--name", help="installed name (default: opus-mt-SRC-TGT)")
    p_fetch.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        help="opus-mt: weights as stored on disk (default int8: a quarter of float32's size)",
    )
    p_fetch.add_argument("--force", action="store_true", help="replace an existing model")

    p_ensure = sub.add_parser(
        "ensure",
        help="make run's step: fetch the default model when none is installed and the hub "
        "answers (TRANSLATE_AUTO_FETCH=0 opts out, TRANSLATE_DEFAULT_MODEL picks another)",
    )
    p_ensure.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)
    p_catalogue = sub.add_parser(
        "catalogue", help="the models fetch NAME offers, with licences and published scores"
    )
    p_catalogue.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)

    p_install = sub.add_parser(
        "install",
        help="install an already converted model: a folder, or a .tar(.gz|.bz2|.xz) or .zip of one",
    )
    p_install.add_argument("directory", type=Path, metavar="DIR|ARCHIVE")
    p_install.add_argument("--name", help="installed name (default: the manifest's name)")
    p_install.add_argument("--force", action="store_true", help="replace an existing model")

    p_pick = sub.add_parser(
        "pick",
        help="the installed model to serve when TRANSLATE_ENGINE is not set",
        description="Choose the installed model that verifies and covers the most wanted pairs "
        "(a multilingual one first) and print it with what stays pending. An explicit "
        "TRANSLATE_ENGINE wins; TRANSLATE_MODEL_DIR limits the choice to that directory.",
    )
    p_pick.add_argument(
        "--registry", type=Path, metavar="FILE", help="a registry YAML file: its pairs are wanted"
    )
    p_pick.add_argument(
        "--publisher",
        action="append",
        default=[],
        metavar="NAME",
        help="only this publisher's pairs from --registry (repeatable)",
    )
    p_pick.add_argument(
        "--pair",
        action="append",
        type=_pair,
        default=[],
        metavar="SRC-TGT",
        help="a wanted pair, e.g. fa-en (repeatable)",
    )
    p_pick.add_argument(
        "--env-file", type=Path, metavar="FILE", help="write the settings as KEY=VALUE lines"
    )
    p_pick.add_argument("--json", action="store_true", help="print the choice as JSON")
    _add_evaluate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = models_dir(args.models)
    try:
        if args.command == "list":
            return cmd_list(models)
        if args.command == "verify":
            return cmd_verify(models, args.names)
        if args.command == "fetch":
            return cmd_fetch(models, args)
        if args.command == "ensure":
            return cmd_ensure(models, catalogue_file=args.catalogue)
        if args.command == "catalogue":
            return cmd_catalogue(models, args.catalogue)
        if args.command == "install":
            return cmd_install(models, args.directory, name=args.name, force=args.force)
        if args.command == "evaluate":
            return _evaluate(models, args)
        if args.command == "pick":
            if args.publisher and args.registry is None:
                raise CliError("--publisher needs --registry")
            wanted = registry_pairs(args.registry, args.publisher) if args.registry else []
            wanted += [p for p in args.pair if p not in wanted]
            if not wanted:
                raise CliError("name the wanted pairs: --registry FILE and/or --pair SRC-TGT")
            return cmd_pick(models, wanted, env_file=args.env_file, as_json=args.json)
    except (CliError, ModelDirectoryError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
