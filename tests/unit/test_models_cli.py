"""The model CLI end to end: fetch an OPUS-MT-style release from a local HTTP server, convert,
install, list, verify, and the ways a download or archive can go wrong."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from services.translate import models as cli
from services.translate.ct2 import MANIFEST_NAME, CTranslate2Engine, ModelManifest
from tests.support.tiny_models import build_tiny_marian, build_tiny_marian_sources

RELEASE = "opus-2099-01-01"
# Real OPUS-MT releases name their files like this, at the top level of the archive.
NPZ = "opus.spm32k-spm32k.transformer-align.model1.npz.best-perplexity.npz"
VOCAB = "opus.spm32k-spm32k.vocab.yml"


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) holding a good release and two bad archives."""
    root = tmp_path_factory.mktemp("served")
    sources = build_tiny_marian_sources(tmp_path_factory.mktemp("sources"))
    release = {
        NPZ: (sources / "model.npz").read_bytes(),
        VOCAB: (sources / "vocab.yml").read_bytes(),
        "source.spm": (sources / "source.spm").read_bytes(),
        "target.spm": (sources / "target.spm").read_bytes(),
        "README.md": b"# fa-en\n\ntest release\n",
        "LICENSE": b"CC-BY 4.0\n",
    }
    _zip(root / "fa-en" / f"{RELEASE}.zip", release)
    _zip(root / "evil.zip", {**release, "../evil": b"escaped\n"})
    (root / "not-a-zip.zip").write_bytes(b"<html>maintenance</html>\n")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local server must be reached directly, whatever proxy the environment names."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _run(models: Path, *argv: str) -> int:
    return cli.main(["--models", str(models), *argv])


def _release_url(base: str) -> str:
    return f"{base}/fa-en/{RELEASE}.zip"


def _nothing_installed(models: Path) -> bool:
    return not models.exists() or not any(models.iterdir())


async def test_fetch_list_translate_verify(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = served
    digest = hashlib.sha256((root / "fa-en" / f"{RELEASE}.zip").read_bytes()).hexdigest()
    fetch = ("fetch", "opus-mt", "fa", "en", "--url", _release_url(base))
    assert _run(models, *fetch, "--sha256", digest) == 0
    installed = models / "opus-mt-fa-en"
    assert sorted(p.name for p in models.iterdir()) == ["opus-mt-fa-en"]  # no staging left

    manifest = ModelManifest.load(installed)
    assert manifest.family == "marian"
    assert manifest.version == RELEASE
    assert manifest.licence == "CC-BY-4.0"
    assert manifest.source_url == _release_url(base)
    assert manifest.supports("fa", "en")
    digested = {"model.bin", "source.spm", "target.spm", "LICENSE", "README.md"}
    assert digested <= set(manifest.sha256)

    capsys.readouterr()
    assert _run(models, "list") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("opus-mt-fa-en"))
    for part in ("marian", RELEASE, "fa>en", "CC-BY-4.0", "KiB"):
        assert part in line
    assert line.rstrip().endswith("ok")

    engine = CTranslate2Engine(installed)
    out = await engine.translate(["شهرداری مشهد امروز پارک جدید افتتاح کرد.", ""], "fa", "en")
    assert len(out) == 2 and out[0] and out[1] == ""

    assert _run(models, "verify") == 0
    with (installed / "target.spm").open("ab") as f:
        f.write(b"tampered")
    capsys.readouterr()
    assert _run(models, "verify", "opus-mt-fa-en") == 1
    out_text = capsys.readouterr().out
    assert "target.spm: sha256 mismatch" in out_text
    assert _run(models, "list") == 0
    assert "target.spm: sha256 mismatch" in capsys.readouterr().out

    # An existing name is refused without --force (before downloading), replaced with it.
    assert _run(models, *fetch) == 1
    assert "already exists" in capsys.readouterr().err
    assert _run(models, *fetch, "--force") == 0
    assert _run(models, "verify") == 0
    assert sorted(p.name for p in models.iterdir()) == ["opus-mt-fa-en"]


def test_release_fills_the_url_pattern(
    served: tuple[str, Path], models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = served
    monkeypatch.setattr(cli, "OPUS_MT_URL", base + "/{src}-{tgt}/{release}.zip")
    fetch = ("fetch", "opus-mt", "fa", "en", "--release", RELEASE, "--name", "fa-en")
    assert _run(models, *fetch, "--quantization", "none") == 0
    assert ModelManifest.load(models / "fa-en").version == RELEASE


def test_fetch_without_release_or_url_says_what_to_pass(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(models, "fetch", "opus-mt", "fa", "en") == 1
    err = capsys.readouterr().err
    assert "--release" in err and "--url" in err
    assert _nothing_installed(models)


def test_wrong_sha256_installs_nothing(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = served
    fetch = ("fetch", "opus-mt", "fa", "en", "--url", _release_url(base))
    assert _run(models, *fetch, "--sha256", "0" * 64) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_http_404_is_readable(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = served
    assert _run(models, "fetch", "opus-mt", "fa", "en", "--url", f"{base}/nope.zip") == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "nope.zip" in err
    assert _nothing_installed(models)


def test_connection_refused_is_readable(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(models, "fetch", "opus-mt", "fa", "en", "--url", "http://127.0.0.1:9/x.zip") == 1
    assert "download failed" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_path_escaping_the_folder_is_refused(
    served: tuple[str, Path], models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = served
    assert _run(models, "fetch", "opus-mt", "fa", "en", "--url", f"{base}/evil.zip") == 1
    assert "'../evil'" in capsys.readouterr().err
    assert _nothing_installed(models)
    assert not list(tmp_path.rglob("evil"))


def test_not_a_zip_is_refused(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = served
    assert _run(models, "fetch", "opus-mt", "fa", "en", "--url", f"{base}/not-a-zip.zip") == 1
    assert "not a zip archive" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_install_converted_directory(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = build_tiny_marian(tmp_path / "converted")
    # A manifest without digests gets them on install.
    data = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    del data["sha256"]
    (source / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")

    assert _run(models, "install", str(source)) == 0
    installed = models / "tiny-marian-fa-en"
    assert "model.bin" in ModelManifest.load(installed).sha256
    assert _run(models, "verify", "tiny-marian-fa-en") == 0
    assert _run(models, "install", str(source)) == 1
    assert "already exists" in capsys.readouterr().err
    assert _run(models, "install", str(source), "--name", "other") == 0
    assert sorted(p.name for p in models.iterdir()) == ["other", "tiny-marian-fa-en"]


def test_install_refuses_a_broken_directory(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = build_tiny_marian(tmp_path / "converted")
    (source / "model.bin").write_bytes(b"not a model")
    assert _run(models, "install", str(source)) == 1
    assert "model.bin: sha256 mismatch" in capsys.readouterr().err
    assert _nothing_installed(models)
    shutil.rmtree(source)
    assert _run(models, "install", str(source)) == 1
    assert "does not exist" in capsys.readouterr().err


def test_list_empty_folder_says_how_to_fetch(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(models, "list") == 0
    out = capsys.readouterr().out
    assert "no models installed" in out and "fetch opus-mt" in out


def test_models_folder_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRANSLATE_MODELS_DIR", str(tmp_path / "env"))
    assert cli.models_dir(None) == tmp_path / "env"
    assert cli.models_dir(str(tmp_path / "opt")) == tmp_path / "opt"
    monkeypatch.delenv("TRANSLATE_MODELS_DIR")
    assert cli.models_dir(None) == Path("~/.cache/city-syndication/models").expanduser()
