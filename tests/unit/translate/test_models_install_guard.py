"""The models CLI does not trust what it installs (issue 18, finding 10).

``install`` takes only regular files and folders, from a folder or from a tar/zip archive of one,
and refuses links, devices, FIFOs and paths that leave the model folder; a corrupt archive is a
readable error with nothing half-installed. ``fetch`` caps the download whether or not the server
declares its size, follows redirects on the same host only, and takes ``--url`` only with
``--sha256``. The downloads come from small HTTP servers on loopback addresses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.translate import model_cli as cli
from services.translate import model_files
from services.translate.ct2 import MANIFEST_NAME, ModelManifest
from tools.tiny_models import build_tiny_marian, build_tiny_marian_sources

MIB = 1 << 20


def _run(models: Path, *argv: str) -> int:
    return cli.main(["--models", str(models), *argv])


def _nothing_installed(models: Path) -> bool:
    """No model and no staging folder left behind (hidden ones included)."""
    return not models.exists() or not any(models.iterdir())


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted tiny model whose manifest lists no digests: ``install`` adds them, so whatever
    it copies in is then vouched for by the manifest."""
    source = build_tiny_marian(tmp_path_factory.mktemp("converted") / "tiny")
    data = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    del data["sha256"]
    (source / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    return source


@pytest.fixture
def folder(converted: Path, tmp_path: Path) -> Path:
    """A private copy of the converted model to plant things in."""
    return Path(shutil.copytree(converted, tmp_path / "input" / "tiny"))


# --- an input folder -----------------------------------------------------------------------------


def _symlink_to_passwd(folder: Path, outside: Path) -> str:
    (folder / "README.md").symlink_to("/etc/passwd")
    return "README.md"


def _symlinked_folder(folder: Path, outside: Path) -> str:
    (outside / "secret.txt").write_text("not part of the model\n", encoding="utf-8")
    (folder / "extra").symlink_to(outside, target_is_directory=True)
    return "extra"


def _hard_link_to_outside(folder: Path, outside: Path) -> str:
    (outside / "secret.txt").write_text("not part of the model\n", encoding="utf-8")
    (folder / "docs").mkdir()
    os.link(outside / "secret.txt", folder / "docs" / "notes.txt")
    return "docs/notes.txt"


def _fifo(folder: Path, outside: Path) -> str:
    os.mkfifo(folder / "pipe")
    return "pipe"


def _device(folder: Path, outside: Path) -> str:
    if os.geteuid() != 0:
        pytest.skip("only root can create a device node")
    os.mknod(folder / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return "null"


@pytest.mark.parametrize(
    ("plant", "kind"),
    [
        (_symlink_to_passwd, "symbolic link"),
        (_symlinked_folder, "symbolic link"),
        (_hard_link_to_outside, "hard link"),
        (_fifo, "named pipe"),
        (_device, "character device"),
    ],
    ids=["symlink-to-passwd", "symlinked-folder", "hard-link", "fifo", "device"],
)
def test_folder_with_a_link_or_special_file_is_refused(
    folder: Path,
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    plant: Callable[[Path, Path], str],
    kind: str,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = plant(folder, outside)
    assert _run(models, "install", str(folder)) == 1
    err = capsys.readouterr().err
    assert planted in err and kind in err
    assert _nothing_installed(models)


def test_folder_given_through_a_link_is_installed(
    folder: Path, models: Path, tmp_path: Path
) -> None:
    """The folder the operator names may itself be a link; only what is inside is vetted."""
    link = tmp_path / "current"
    link.symlink_to(folder, target_is_directory=True)
    (folder / "docs").mkdir()
    (folder / "docs" / "NOTES.md").write_text("notes\n", encoding="utf-8")
    assert _run(models, "install", str(link)) == 0
    manifest = ModelManifest.load(models / "tiny-marian-fa-en")
    assert {"model.bin", "docs/NOTES.md"} <= set(manifest.sha256)
    assert _run(models, "verify") == 0


# --- an archive of a converted model -------------------------------------------------------------


def _add_folder(tf: tarfile.TarFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        tf.add(path, arcname=f"{prefix}/{path.relative_to(folder).as_posix()}", recursive=False)


def _tar(path: Path, folder: Path, *extra: tarfile.TarInfo, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        _add_folder(tf, folder, "tiny")
        for member in extra:
            data = b"planted\n" if member.isreg() else b""
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data) if data else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, **attrs: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_tar_and_zip_of_a_folder_are_installed(
    converted: Path, models: Path, tmp_path: Path
) -> None:
    archive = _tar(tmp_path / "tiny.tar.gz", converted)
    assert _run(models, "install", str(archive), "--name", "from-tar") == 0
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:  # the model at the top of the archive
        for path in sorted(converted.iterdir()):
            zf.write(path, path.name)
    assert _run(models, "install", str(flat), "--name", "from-zip") == 0
    assert sorted(p.name for p in models.iterdir()) == ["from-tar", "from-zip"]
    assert _run(models, "verify") == 0


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("tiny/README.md", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
        (_member("tiny/notes.txt", tarfile.LNKTYPE, linkname="etc/passwd"), "hard link"),
        (_member("tiny/null", tarfile.CHRTYPE, devmajor=1, devminor=3), "character device"),
        (_member("tiny/pipe", tarfile.FIFOTYPE), "named pipe"),
        (_member("tiny/../../escaped"), "outside the model folder"),
        (_member("/tmp/city-syndication-absolute-escape"), "outside the model folder"),
    ],
    ids=["symlink", "hard-link", "device", "fifo", "dot-dot", "absolute"],
)
def test_tar_with_a_dangerous_member_is_refused(
    converted: Path,
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    member: tarfile.TarInfo,
    reason: str,
) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", converted, member)
    assert _run(models, "install", str(archive)) == 1
    err = capsys.readouterr().err
    assert repr(member.name) in err and reason in err
    assert _nothing_installed(models)
    assert not list(tmp_path.rglob("escaped"))
    assert not Path("/tmp/city-syndication-absolute-escape").exists()


def test_tar_without_extraction_filters(
    converted: Path,
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Python 3.11.0-3.11.3 have no extraction filters: the members are still vetted first."""
    monkeypatch.delattr(tarfile, "data_filter")
    link = _member("tiny/README.md", tarfile.SYMTYPE, linkname="/etc/passwd")
    assert _run(models, "install", str(_tar(tmp_path / "evil.tar.gz", converted, link))) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert _nothing_installed(models)
    assert _run(models, "install", str(_tar(tmp_path / "good.tar.gz", converted))) == 0
    assert _run(models, "verify") == 0


def test_zip_with_a_symlink_member_is_refused(
    converted: Path, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(converted.iterdir()):
            zf.write(path, f"tiny/{path.name}")
        link = zipfile.ZipInfo("tiny/README.md")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    assert _run(models, "install", str(archive)) == 1
    err = capsys.readouterr().err
    assert "'tiny/README.md'" in err and "symbolic link" in err
    assert _nothing_installed(models)


def test_truncated_tar_gz_is_a_clear_error(
    converted: Path, models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _tar(tmp_path / "tiny.tar.gz", converted)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    assert _run(models, "install", str(archive)) == 1  # returns: no traceback escapes
    err = capsys.readouterr().err
    assert "tiny.tar.gz" in err and "corrupt or truncated" in err
    assert _nothing_installed(models)


def test_archive_larger_than_the_limit_is_refused(
    converted: Path,
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(model_files, "MAX_EXTRACTED_BYTES", 64 * 1024)
    archive = _tar(tmp_path / "tiny.tar", converted, mode="w")
    assert _run(models, "install", str(archive)) == 1
    assert "would extract to" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_a_file_that_is_neither_folder_nor_archive(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"converted weights, but not a folder\n" * 100)
    assert _run(models, "install", str(junk)) == 1
    assert "neither a folder nor a tar or zip archive" in capsys.readouterr().err
    assert _nothing_installed(models)


# --- downloads -----------------------------------------------------------------------------------


@dataclass
class Site:
    """A loopback HTTP server: ``routes`` maps a path to what the handler does with it."""

    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]
    requests: list[str] = field(default_factory=list)
    cut: threading.Event = field(default_factory=threading.Event)
    base: str = ""


def _serve(site: Site, host: str) -> Iterator[Site]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(self.path)
            route = site.routes.get(self.path)
            if route is None:
                self.send_error(404)
            else:
                route(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    site.base = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def _body(data: bytes, *, length: int | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        handler.wfile.write(data)

    return send


def _redirect(location: Callable[[], str]) -> Callable[[BaseHTTPRequestHandler], None]:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location())
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return send


def _endless(site: Site, total: int) -> Callable[[BaseHTTPRequestHandler], None]:
    """Up to ``total`` bytes with no Content-Length (HTTP/1.0: the body ends when the connection
    does); ``site.cut`` is set when the client hangs up first."""

    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/zip")
        handler.end_headers()
        block = b"\0" * (64 * 1024)
        try:
            for _ in range(total // len(block)):
                handler.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            site.cut.set()

    return send


def _release_zip(tmp: Path) -> bytes:
    sources = build_tiny_marian_sources(tmp)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("model.npz", "vocab.yml", "source.spm", "target.spm"):
            zf.write(sources / name, name)
    return buffer.getvalue()


def _corrupt_zip() -> bytes:
    """A zip whose directory is intact (it looks like a zip) but whose member data is not."""
    payload = b"A" * 4096
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("model.npz", payload)
    data = bytearray(buffer.getvalue())
    at = data.find(payload)
    data[at + 100] = ord("B")
    return bytes(data)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _release_zip(tmp_path_factory.mktemp("release"))


@pytest.fixture
def elsewhere() -> Iterator[Site]:
    """Another host (127.0.0.2) holding the same release."""
    yield from _serve(Site(routes={}), "127.0.0.2")


@pytest.fixture
def site(release: bytes, elsewhere: Site) -> Iterator[Site]:
    elsewhere.routes["/release.zip"] = _body(release)
    s = Site(routes={})
    s.routes.update(
        {
            "/release.zip": _body(release),
            "/corrupt.zip": _body(_corrupt_zip()),
            "/moved": _redirect(lambda: "/release.zip"),
            "/away": _redirect(lambda: f"{elsewhere.base}/release.zip"),
            "/endless.zip": _endless(s, 256 * MIB),
            "/declared-huge.zip": _body(b"PK", length=64 * (1 << 30)),
        }
    )
    yield from _serve(s, "127.0.0.1")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(models: Path, url: str, *extra: str) -> int:
    return _run(models, "fetch", "opus-mt", "fa", "en", "--url", url, *extra)


def test_url_without_sha256_is_refused_before_downloading(
    site: Site, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, f"{site.base}/release.zip") == 1
    assert "--url needs --sha256" in capsys.readouterr().err
    assert site.requests == []
    assert _nothing_installed(models)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.zip", "http://[::1"])
def test_url_must_be_http(url: str, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fetch(models, url, "--sha256", "0" * 64) == 1
    assert "--url" in capsys.readouterr().err
    assert _nothing_installed(models)


@pytest.mark.parametrize(
    ("hop", "allowed"),
    [
        ("https://models.example/b.zip", True),
        ("https://models.example:8443/b.zip", True),
        ("http://models.example/b.zip", False),
        ("https://cdn.example/b.zip", False),
        ("https://models.example.evil/b.zip", False),
    ],
)
def test_every_redirect_hop_stays_on_the_host_over_https(hop: str, allowed: bool) -> None:
    check = model_files.same_host(httpx.URL("https://models.example/a.zip"))
    request = httpx.Request("GET", hop)
    if allowed:
        check(request)
    else:
        with pytest.raises(model_files.CliError, match="refusing the redirect"):
            check(request)


def test_same_host_redirect_is_followed(site: Site, release: bytes, models: Path) -> None:
    assert _fetch(models, f"{site.base}/moved", "--sha256", _sha(release)) == 0
    assert site.requests == ["/moved", "/release.zip"]
    assert ModelManifest.load(models / "opus-mt-fa-en").supports("fa", "en")


def test_redirect_to_another_host_is_not_followed(
    site: Site, elsewhere: Site, release: bytes, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, f"{site.base}/away", "--sha256", _sha(release)) == 1
    err = capsys.readouterr().err
    assert "redirect" in err and elsewhere.base in err
    assert elsewhere.requests == []
    assert _nothing_installed(models)


def test_download_without_length_is_cut_at_the_cap(
    site: Site, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, f"{site.base}/endless.zip", "--sha256", "0" * 64, "--max-size", "1") == 1
    err = capsys.readouterr().err
    assert "more than the 1.0 MiB limit" in err and "--max-size" in err
    assert site.cut.wait(30), "the CLI read the whole body instead of hanging up at the cap"
    assert _nothing_installed(models)


def test_declared_length_over_the_cap_is_refused_at_once(
    site: Site, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, f"{site.base}/declared-huge.zip", "--sha256", "0" * 64) == 1
    err = capsys.readouterr().err
    assert "64.0 GiB" in err and "limit" in err and "--max-size" in err
    assert _nothing_installed(models)


def test_corrupt_zip_is_a_clear_error(
    site: Site, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _sha(_corrupt_zip())
    assert _fetch(models, f"{site.base}/corrupt.zip", "--sha256", digest) == 1
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err
    assert _nothing_installed(models)
