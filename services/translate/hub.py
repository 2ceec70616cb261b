"""Getting a catalogue model from the Hugging Face hub, for ``models fetch NAME`` and ``ensure``.

The real ``huggingface_hub`` client does the transfer, so what it gives an operator comes with it:
``HF_ENDPOINT`` (a mirror, or the tests' local hub), ``HF_TOKEN`` for gated repositories, its
progress bars, its cache (a file already there is copied, not downloaded again), and resuming: a
connection cut in the middle of a file is taken up again with a ``Range`` request, and files that
arrived whole stay in a hidden download folder beside the models, so running the same command again
fetches only what is missing. Exactly the entry's files are taken, at its pinned commit, and each is
checked against the SHA-256 the catalogue pins before anything is built from it; the caller then
installs the result through the staging of ``model_store.py`` (loaded once, then moved into place).

Every failure becomes one ``CliError`` line: the client's own errors are long, multi-line and
talk about its cache, which is not what an operator of this service needs to read.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from pydantic import ValidationError

from services.translate.catalogue import CatalogueEntry
from services.translate.ct2 import (
    LanguagePairs,
    ModelManifest,
    SentencePieceFiles,
    digest_files,
    sha256_file,
)
from services.translate.model_files import CliError, human_size

# How long ``ensure`` waits for the hub to answer before saying it cannot be reached: short, since
# ``make run`` waits meanwhile and a machine without the hub is a normal case.
PROBE_TIMEOUT_S = 5.0
CONVERT_EXTRA = "pip install '.[convert]'"


class HubUnreachable(CliError):
    """The hub did not answer at all (no network, no DNS, refused, timed out, offline mode)."""

    def __init__(self, hub: str, reason: str) -> None:
        super().__init__(f"the hub at {hub} cannot be reached ({reason})")
        self.hub = hub
        self.reason = reason


def endpoint() -> str:
    """The hub to talk to: ``$HF_ENDPOINT`` as it is now (the client reads it only at import)."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class Source:
    """Where a fetchable entry comes from: one repository at one commit, on one hub."""

    hub: str
    repo: str
    revision: str

    @property
    def url(self) -> str:
        """The pinned tree, as provenance and as the operator can open it."""
        return f"{self.hub}/{self.repo}/tree/{self.revision}"


def source_of(entry: CatalogueEntry, hub: str) -> Source:
    """The entry's pinned source; an entry the catalogue does not vouch for is refused, with
    what its notes say to do instead."""
    if not entry.verified or entry.repo is None or entry.revision is None:
        raise CliError(
            f"{entry.name} is listed for its licence and scores but not fetched: its repository, "
            f"revision or digests are not verified against the hub. {entry.notes}".strip()
        )
    return Source(hub, entry.repo, entry.revision)


def taken_files(entry: CatalogueEntry) -> list[str]:
    """Every file taken from the repository: pinned by SHA-256 or (small git files) by the
    commit alone."""
    return sorted({*entry.files, *entry.unpinned_files})


# --- errors: the client's exceptions as one line each ---------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


@contextmanager
def hub_errors(source: Source, what: str) -> Iterator[None]:
    """Turn what the client and the disk raise while ``what`` is fetched into one-line errors."""
    hub, where = source.hub, f"{source.hub}/{source.repo}"
    again = "run the same command again to resume"
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubUnreachable(hub, "HF_HUB_OFFLINE is set") from None
    except (httpx2.ConnectError, httpx2.TimeoutException) as e:
        raise HubUnreachable(hub, _first_line(e)) from None
    except GatedRepoError:
        raise CliError(
            f"{where} is gated: accept its licence on the hub, then set HF_TOKEN to a token of "
            "that account"
        ) from None
    except RepositoryNotFoundError:
        raise CliError(f"{where} not found (or private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise CliError(f"{where} has no revision {source.revision}") from None
    except RemoteEntryNotFoundError:
        raise CliError(f"{where} has no file {what} at {source.revision}") from None
    except LocalEntryNotFoundError as e:  # the HEAD request failed and nothing is on disk
        cause = e.__cause__ or e
        raise HubUnreachable(hub, _first_line(cause)) from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise CliError(f"the hub at {hub} answered HTTP {status} for {what}") from None
    except (httpx2.RemoteProtocolError, httpx2.ReadError) as e:
        raise CliError(f"download of {what} cut off ({_first_line(e)}); {again}") from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CliError(
                f"disk full while fetching {what}: free some space, then {again}"
            ) from None
        if "Consistency check failed" in str(e):
            raise CliError(f"download of {what} cut off (size differs); {again}") from None
        raise CliError(f"fetching {what}: {_first_line(e)}") from None


def probe(source: Source, timeout: float = PROBE_TIMEOUT_S) -> None:
    """One cheap request (the repository at the pinned revision) before gigabytes are asked for:
    it says at once whether the hub answers, the repository exists and a token is needed."""
    with hub_errors(source, "the repository"):
        try:
            HfApi(endpoint=source.hub).model_info(
                source.repo, revision=source.revision, timeout=timeout
            )
        except HfHubHTTPError as e:
            # The hub names its errors; a bare status comes from something in between (a proxy,
            # a firewall, a captive portal): for an operator, the hub is out of reach.
            if e.response is not None and "X-Error-Code" not in e.response.headers:
                status = f"HTTP {e.response.status_code} {e.response.reason_phrase}".strip()
                raise HubUnreachable(source.hub, f"{status}, not an answer of the hub") from None
            raise


# --- download and check ------------------------------------------------------------------------


def download_folder(models: Path, entry: CatalogueEntry) -> Path:
    """Where the entry's files gather across runs: hidden (never listed nor served), beside the
    models so the files are moved, not copied, into the install."""
    return models / f".download-{entry.name}-{(entry.revision or 'unpinned')[:12]}"


def missing_bytes(entry: CatalogueEntry, folder: Path) -> int:
    """About how much is still to be downloaded (the catalogue gives a size in MiB)."""
    have = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    return max((entry.size_mib << 20) - have, 0)


def check_space(entry: CatalogueEntry, models: Path) -> None:
    """Refuse before downloading when the disk clearly cannot hold the model (twice its size when
    it is converted here: the original and the conversion)."""
    needed = missing_bytes(entry, download_folder(models, entry))
    if entry.conversion == "transformers":
        needed += entry.size_mib << 20
    free = shutil.disk_usage(models).free
    if free < needed:
        raise CliError(
            f"not enough disk space for {entry.name}: about {human_size(needed)} needed, "
            f"{human_size(free)} free in {models}"
        )


def check_convert_extra(entry: CatalogueEntry) -> None:
    """A model converted here needs torch and transformers: say so before any download."""
    if entry.conversion != "transformers":
        return
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise CliError(
            f"{entry.name} is converted from the original on fetch, which needs torch and "
            f"transformers: {CONVERT_EXTRA} (CPU torch is enough), then run the same command again"
        ) from None


def _regular_file(folder: Path, name: str) -> Path:
    path = folder / name
    if path.is_symlink() or not path.is_file():
        raise CliError(f"{name}: the download is not a regular file, refusing")
    return path


def download(entry: CatalogueEntry, source: Source, folder: Path) -> dict[str, str]:
    """Fetch every file of ``entry`` at its commit into ``folder``; return the SHA-256 of each.
    A pinned file that does not match is deleted (so a new run fetches it again) and refused by
    name."""
    folder.mkdir(parents=True, exist_ok=True)
    digests: dict[str, str] = {}
    for name in taken_files(entry):
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            raise CliError(f"{entry.name}: catalogue file {name!r} points outside the model")
        with hub_errors(source, name):
            hf_hub_download(
                source.repo, name, revision=source.revision, local_dir=folder, endpoint=source.hub
            )
        path = _regular_file(folder, name)
        digests[name] = actual = sha256_file(path)
        expected = entry.files.get(name)
        if expected is not None and actual != expected:
            path.unlink()
            raise CliError(
                f"sha256 mismatch for {name} from {source.hub}/{source.repo}: expected "
                f"{expected}, got {actual}; nothing installed"
            )
    return digests


# --- build the model folder ---------------------------------------------------------------------


def _move_files(entry: CatalogueEntry, downloaded: Path, built: Path) -> None:
    for name in taken_files(entry):
        target = built / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _regular_file(downloaded, name).rename(target)


def _convert(entry: CatalogueEntry, downloaded: Path, built: Path) -> None:
    """The original checkpoint converted by CTranslate2's TransformersConverter (``convert``
    extra); the SentencePiece files and any licence text come along."""
    import ctranslate2

    print(
        f"converting {entry.name} with CTranslate2 (quantization {entry.quantization or 'none'})",
        file=sys.stderr,
    )
    converter: Any = ctranslate2.converters.TransformersConverter(str(downloaded))
    try:
        converter.convert(str(built), quantization=entry.quantization, force=True)
    except Exception as e:  # the converter raises whatever torch or transformers raise
        raise CliError(f"conversion of {entry.name} failed: {e.__class__.__name__}: {e}") from None
    keep = {
        *entry.spm_files(),
        *(f for f in taken_files(entry) if f.upper().startswith(("LICENSE", "README"))),
    }
    for name in sorted(keep):
        if (built / name).exists():
            continue
        target = built / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_regular_file(downloaded, name), target)


def manifest(entry: CatalogueEntry, source: Source, digests: dict[str, str]) -> ModelManifest:
    """The ``cityfeeds-model.json`` of a fetched model: provenance points at the pinned commit."""
    src_spm, tgt_spm = entry.spm_files()
    spm: SentencePieceFiles | str = (
        src_spm if src_spm == tgt_spm else SentencePieceFiles(source=src_spm, target=tgt_spm)
    )
    codes = [lang for lang in entry.languages if isinstance(lang, str)]
    pairs = [(s, t) for s, t in (p for p in entry.languages if not isinstance(p, str))]
    languages: LanguagePairs | list[str] = LanguagePairs(pairs=pairs) if pairs else codes
    fields: dict[str, object] = {
        "name": entry.name,
        "family": entry.family,
        "version": source.revision,
        "licence": entry.licence,
        "source_url": source.url,
        "languages": languages,
        "sentencepiece": spm,
        "sha256": digests,
    }
    if entry.compute_types:  # MADLAD: int8 only (float16 output is known to break)
        fields["compute_types"] = list(entry.compute_types)
    try:
        return ModelManifest.model_validate(fields)
    except ValidationError as e:
        problem = e.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise CliError(
            f"{entry.name}: this version of the engine cannot serve the entry ({where}: "
            f"{problem['msg']})"
        ) from None


@dataclass(frozen=True)
class Fetched:
    """A model folder built from a download, ready for the caller's load-then-rename."""

    built: Path
    manifest: ModelManifest


def build(
    entry: CatalogueEntry, source: Source, downloaded: Path, digests: dict[str, str], built: Path
) -> Fetched:
    """Make ``built`` a servable model folder from the checked download (``digests``: the SHA-256
    of each downloaded file), manifest included. A published conversion is moved as it is; an
    original is converted."""
    built.mkdir(parents=True)
    if entry.conversion == "ctranslate2":
        _move_files(entry, downloaded, built)
        installed = dict(sorted(digests.items()))
    else:
        _convert(entry, downloaded, built)
        installed = digest_files(built)
    result = manifest(entry, source, installed)
    result.save(built)
    return Fetched(built, result)
