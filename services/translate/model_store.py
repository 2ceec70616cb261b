"""The models folder on disk: where it is, what is installed in it, and how a model gets in.

Every install is built in a hidden folder beside the target, loaded once with the engine, and only
then renamed into place, so a failed or interrupted fetch or install never leaves a half model
behind. ``install`` copies a converted model folder, or extracts an archive of one (through
``model_files``, which refuses links, devices and paths leading outside), before it is checked:
what is verified and loaded is the staged copy, never the source.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.translate.ct2 import (
    MANIFEST_NAME,
    CTranslate2Engine,
    ModelDirectoryError,
    ModelManifest,
    verify,
)
from services.translate.model_files import CliError, copy_folder, extract

DEFAULT_MODELS_DIR = Path("~/.cache/city-syndication/models")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def models_dir(option: str | None) -> Path:
    """``--models``, else ``$TRANSLATE_MODELS_DIR``, else the per-user cache folder."""
    raw = option or os.environ.get("TRANSLATE_MODELS_DIR") or str(DEFAULT_MODELS_DIR)
    return Path(raw).expanduser()


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CliError(f"invalid model name {name!r}: use letters, digits, '.', '_', '+', '-'")
    return name


def installed(models: Path) -> list[Path]:
    """Model subfolders; hidden ones are installs in progress."""
    if not models.is_dir():
        return []
    return sorted(p for p in models.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def languages_of(manifest: ModelManifest) -> str:
    if isinstance(manifest.languages, list):
        return ",".join(manifest.languages) + " (any pair)"
    return ",".join(f"{src}>{tgt}" for src, tgt in manifest.languages.pairs)


# --- staging and atomic install ------------------------------------------------------------------


def _stage(models: Path, name: str) -> Path:
    """A hidden work folder beside the target, so the final rename stays on one file system."""
    models.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models))


def refuse_existing(target: Path, force: bool) -> None:
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
    refuse_existing(target, force)
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
def work_folder(models: Path, name: str) -> Iterator[Path]:
    """A hidden work folder beside the models, removed in every case (errors and Ctrl-C too), so
    a failed install leaves nothing behind."""
    work = _stage(models, name)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def finish_install(built: Path, target: Path, force: bool) -> None:
    """Load the model once, then move it into place atomically."""
    _prove_loads(built)
    _move_into_place(built, target, force)


# --- install -------------------------------------------------------------------------------------


def unpack(source: Path, work: Path) -> Path:
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
