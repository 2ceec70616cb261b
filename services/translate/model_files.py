"""Getting model files from strangers onto disk safely, for ``services.translate.model_cli``.

The models CLI installs files that come from elsewhere: archives (tar, zip), folders an operator
points at, and downloads from a URL. What is installed is then vouched for by the digests in the
model's manifest, so nothing may slip in on the way: only regular files and folders get in (a
link, device, FIFO, absolute path or ``..`` refuses the whole install), what an archive extracts
to and what a download receives are capped in size, and a download's redirects stay on the host
the operator named (never from https down to http). Everything refused is a ``CliError`` with a
message meant for the operator.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import httpx

# Extracted archives larger than this are refused (a zip bomb, or not a model release).
MAX_EXTRACTED_BYTES = 8 << 30
# Downloads stop past this many MiB unless --max-size says otherwise: OPUS-MT releases are
# 100-600 MB, the largest (transformer-big) about 1 GB.
DEFAULT_MAX_DOWNLOAD_MIB = 2048
MAX_REDIRECTS = 5


class CliError(Exception):
    """A failure with a message meant for the operator; the CLI prints it and exits 1."""


def human_size(size: float) -> str:
    """A byte count as an operator reads it: ``512 B``, ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --- what gets in: only regular files and folders ------------------------------------------------

# What a damaged or truncated archive raises while it is read (gzip's error is an OSError).
_ARCHIVE_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
)
_SPECIAL_KINDS = {
    stat.S_IFLNK: "symbolic link",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "named pipe (FIFO)",
    stat.S_IFSOCK: "socket",
}
# Open an entry as it is: a link is an error (ELOOP), a FIFO does not block.
_OPEN_ENTRY = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is, in words; None for a regular file or a folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _SPECIAL_KINDS.get(stat.S_IFMT(mode), "special file")


def _refused(what: str, kind: str) -> CliError:
    return CliError(f"{what} is a {kind}: only regular files and folders are installed, refusing")


def _check_member_path(name: str, root: Path) -> None:
    """Refuse a member that is absolute or climbs out of ``root``, instead of quietly stripping
    the path as extraction filters do: such an archive was not made to hold a model."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if (
        name.startswith(("/", "\\"))
        or ".." in parts
        or re.match(r"[A-Za-z]:", name)
        or not (root / name).resolve().is_relative_to(root)
    ):
        raise CliError(f"archive member {name!r} points outside the model folder: refusing")


def _check_total(total: int) -> None:
    if total > MAX_EXTRACTED_BYTES:
        raise CliError(f"archive would extract to {human_size(total)}: refusing")


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    if member.isreg() or member.isdir():
        return None
    if member.islnk():
        return "hard link"
    if member.issym():
        return "symbolic link"
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    return "named pipe (FIFO)" if member.isfifo() else "special member"


def _extract_tar(archive: Path, dest: Path) -> None:
    """Every member is checked before anything is written; tarfile's ``data`` filter (Python
    3.11.4 and later) then guards the writing as well."""
    root = dest.resolve()
    with tarfile.open(archive) as tf:
        members = tf.getmembers()  # reads the whole archive: a truncated one fails here
        for member in members:
            _check_member_path(member.name, root)
            if (kind := _tar_kind(member)) is not None:
                raise _refused(f"archive member {member.name!r}", kind)
        _check_total(sum(m.size for m in members))
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # Python 3.11.0-3.11.3: the members were vetted above
            tf.extractall(dest, members=members)


def _extract_zip(archive: Path, dest: Path) -> None:
    """zipfile writes every member as a plain file; a member marked as a link or a device is
    still refused, since it was not meant to hold a model file."""
    root = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for member in members:
            _check_member_path(member.filename, root)
            mode = member.external_attr >> 16  # 0 in archives made off Unix: no type recorded
            if stat.S_IFMT(mode) and (kind := _kind(mode)) is not None:
                raise _refused(f"archive member {member.filename!r}", kind)
        _check_total(sum(m.file_size for m in members))
        zf.extractall(dest)


def extract(archive: Path, dest: Path, *, tar: bool = True) -> None:
    """Extract a zip (or, with ``tar``, a tar archive, compressed or not) into ``dest``."""
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        elif tar and tarfile.is_tarfile(archive):
            _extract_tar(archive, dest)
        elif tar:
            raise CliError(f"{archive} is neither a folder nor a tar or zip archive (or damaged)")
        else:
            raise CliError("the download is not a zip archive")
    except _ARCHIVE_ERRORS as e:
        raise CliError(
            f"the archive {archive.name} is corrupt or truncated: {e.__class__.__name__}: {e}"
        ) from None


def _open_entry(dir_fd: int, name: str, shown: PurePosixPath) -> int:
    """Open ``name`` in the folder ``dir_fd`` without following a link. Its type is checked
    before it is opened (opening a device can act on it) and again on the descriptor by the
    caller, so an entry swapped for a link or a device meanwhile is refused as well."""
    kind = _kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    if kind is not None:
        raise _refused(str(shown), kind)
    try:
        return os.open(name, _OPEN_ENTRY, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refused(str(shown), "symbolic link") from None
        raise


def _copy_entries(dir_fd: int, rel: PurePosixPath, dest: Path) -> None:
    dest.mkdir()
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        shown = rel / name
        fd = _open_entry(dir_fd, name, shown)
        try:
            st = os.fstat(fd)
            if (kind := _kind(st.st_mode)) is not None:
                raise _refused(str(shown), kind)
            if stat.S_ISDIR(st.st_mode):
                _copy_entries(fd, shown, dest / name)
            elif st.st_nlink > 1:
                raise CliError(
                    f"{shown} has {st.st_nlink} hard links, so it may be a file from outside the "
                    "folder: refusing (install a plain copy, cp -r, of the folder)"
                )
            else:
                with os.fdopen(os.dup(fd), "rb") as src, (dest / name).open("xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        finally:
            os.close(fd)


def copy_folder(source: Path, dest: Path) -> None:
    """Copy a model folder, taking only regular files and folders (a link, device or FIFO
    anywhere refuses the copy). The folder named may itself be a link: the operator chose it."""
    fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_entries(fd, PurePosixPath(), dest)
    except CliError as e:
        raise CliError(f"{source}: {e}") from None
    finally:
        os.close(fd)


# --- downloads -----------------------------------------------------------------------------------


def same_host(origin: httpx.URL) -> Callable[[httpx.Request], None]:
    """A request hook run on every hop: a redirect must stay on the host the operator named and
    never go from https to http."""

    def check(request: httpx.Request) -> None:
        url = request.url
        if url.host != origin.host or (origin.scheme == "https" and url.scheme != "https"):
            raise CliError(
                f"refusing the redirect from {origin} to {url}: another host, or https to "
                "http (to trust it, pass that URL with --url and --sha256)"
            )

    return check


def _expected_length(response: httpx.Response, url: str, max_bytes: int) -> int | None:
    """The declared length, refused at once when it is over the limit."""
    if response.status_code != 200:
        raise CliError(
            f"download failed: HTTP {response.status_code} {response.reason_phrase} for {url}"
        )
    length = response.headers.get("content-length")
    expected = int(length) if length and length.isdigit() else None
    if expected is not None and expected > max_bytes:
        raise CliError(
            f"{url} is {human_size(expected)}, more than the {human_size(max_bytes)} limit "
            "(--max-size MIB raises it)"
        )
    return expected


def _progress() -> Callable[[int, int | None], None]:
    """A progress line on a terminal, at most twice a second; nothing otherwise."""
    last = time.monotonic()

    def report(received: int, expected: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if sys.stderr.isatty() and now - last >= 0.5:
            last = now
            total = f" / {human_size(expected)}" if expected is not None else ""
            print(f"\rdownloading {human_size(received)}{total}", end="", file=sys.stderr)

    return report


def download(url: str, dest: Path, *, max_bytes: int, timeout: float = 30.0) -> str:
    """Stream ``url`` into ``dest`` and return its SHA-256. The size must match Content-Length
    and stay within ``max_bytes``, counted on the bytes received: a server need not declare it."""
    digest = hashlib.sha256()
    received = 0
    started = time.monotonic()
    report = _progress()
    client = httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        event_hooks={"request": [same_host(httpx.URL(url))]},
    )
    try:
        with client, client.stream("GET", url) as response:
            expected = _expected_length(response, url, max_bytes)
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    received += len(chunk)
                    if received > max_bytes:
                        raise CliError(
                            f"download stopped: {url} sent more than the {human_size(max_bytes)} "
                            "limit (--max-size MIB raises it)"
                        )
                    out.write(chunk)
                    digest.update(chunk)
                    report(received, expected)
    except httpx.HTTPError as e:
        raise CliError(f"download failed: {e.__class__.__name__}: {e} ({url})") from None
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if expected is not None and received != expected:
        raise CliError(f"download truncated: got {received} of {expected} bytes from {url}")
    elapsed = time.monotonic() - started
    print(f"downloaded {human_size(received)} in {elapsed:.1f} s from {url}", file=sys.stderr)
    return digest.hexdigest()
