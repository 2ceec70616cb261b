"""``models fetch NAME`` and ``models ensure`` through the real ``huggingface_hub`` client, pointed
with ``HF_ENDPOINT`` at a local server speaking the hub's API (tests/support/hub_server.py) that
serves a tiny random-weight M2M100 model built here.

Each failure an operator can meet is one line on stderr, exit 1, and nothing half-installed: no
model folder, no hidden staging folder, an existing model untouched. ``ensure`` (``make run``'s
step) never stops the stack: a hub out of reach is one line and exit 0.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from services.translate import hub as hub_module
from services.translate import model_cli as cli
from services.translate.ct2 import MANIFEST_NAME, CTranslate2Engine, ModelManifest, sha256_file
from tests.support.hub_server import LocalHub, Repo, is_lfs, local_hub
from tools.tiny_models import build_tiny_m2m100

REPO = "cityfeeds-test/tiny-m2m100-ct2"
NAME = "tiny-m2m100"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_m2m100(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def hub(tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalHub]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSLATE_ENGINE", "TRANSLATE_MODEL_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with local_hub() as server:
        server.add_folder(REPO, tiny, skip=(MANIFEST_NAME,))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _entry(repo: Repo, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": NAME,
        "title": "tiny M2M100 (random weights)",
        "family": "m2m100",
        "repo": repo.repo_id,
        "revision": repo.commit,
        # As on the hub: LFS files are pinned by SHA-256, small git files by the commit.
        "files": {n: _sha(d) for n, d in sorted(repo.files.items()) if is_lfs(n)},
        "unpinned_files": sorted(n for n in repo.files if not is_lfs(n)),
        "conversion": "ctranslate2",
        "quantization": None,
        "licence": "MIT",
        "languages": ["fa", "en", "ar", "ru"],
        "sentencepiece": "sentencepiece.bpe.model",
        "size_mib": 1,
        "scores": [
            {
                "pair": "fa-en",
                "metric": "chrF++",
                "value": 1.5,
                "test_set": "nothing",
                "source": "https://example.org/none",
            }
        ],
    }
    return entry | changes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def catalogue(hub: LocalHub, tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps([_entry(hub.state.repos[REPO])]))
    return path


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _run(models: Path, *argv: str) -> int:
    return cli.main(["--models", str(models), *argv])


def _fetch(models: Path, catalogue: Path, *extra: str) -> int:
    return _run(models, "fetch", NAME, "--catalogue", str(catalogue), *extra)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _nothing_installed(models: Path) -> bool:
    """No model and no staging folder (a download folder of whole files may stay to resume)."""
    if not models.exists():
        return True
    return all(p.name.startswith(".download-") for p in models.iterdir())


def test_fetch_installs_verifies_and_the_model_translates(
    hub: LocalHub, catalogue: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, catalogue) == 0
    out, err = capsys.readouterr()
    target = models / NAME
    assert f"installed {NAME}" in out
    assert f"{hub.url}/{REPO}/tree/" in err  # announced before the progress bars
    repo = hub.state.repos[REPO]
    manifest = ModelManifest.read(target)
    assert manifest.version == repo.commit
    assert manifest.source_url == f"{hub.url}/{REPO}/tree/{repo.commit}"
    assert manifest.licence == "MIT" and manifest.family == "m2m100"
    assert manifest.sha256 == {n: _sha(d) for n, d in repo.files.items()}
    assert sorted(p.name for p in models.iterdir()) == [NAME]  # no download or staging left
    assert _run(models, "verify", NAME) == 0
    engine = CTranslate2Engine(target)
    [english] = asyncio.run(engine.translate(["شهرداری مشهد پارک جدید افتتاح کرد."], "fa", "en"))
    assert isinstance(english, str) and english
    # The LFS files came from the CDN, without the hub's token, as from huggingface.co.
    assert [s.server for s in hub.downloads("model.bin")] == ["cdn"]


def test_a_wrong_digest_is_refused_and_nothing_is_installed(
    hub: LocalHub, catalogue: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.corrupt(REPO, "model.bin")
    assert _fetch(models, catalogue) == 1
    line = _one_line(capsys.readouterr().err)
    assert "sha256 mismatch for model.bin" in line and "nothing installed" in line
    assert _nothing_installed(models)
    # The mirror is fixed: a new run fetches the refused file again, not the ones that matched.
    hub.corrupt(REPO, "model.bin", on=False)
    before = len(hub.downloads("config.json"))
    assert _fetch(models, catalogue) == 0
    assert len(hub.downloads("config.json")) == before
    assert len(hub.downloads("model.bin")) == 2
    assert _run(models, "verify", NAME) == 0


def test_a_download_cut_in_the_middle_resumes_with_a_range_request(
    hub: LocalHub, catalogue: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client writes what it receives in 10 MiB chunks and resumes after the last one it
    wrote; the tiny model is smaller than one, so the chunk is made smaller here."""
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 16 << 10)
    hub.cut_next_download(REPO, "model.bin")
    assert _fetch(models, catalogue) == 0
    first, second = hub.downloads("model.bin")
    size = len(hub.state.repos[REPO].files["model.bin"])
    assert first.range is None and second.range is not None
    resumed_at = int(second.range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= size // 2
    assert sha256_file(models / NAME / "model.bin") == _sha(
        hub.state.repos[REPO].files["model.bin"]
    )


def test_an_interrupted_fetch_leaves_nothing_and_a_new_run_completes_it(
    hub: LocalHub, catalogue: Path, models: Path
) -> None:
    """The fetch is stopped (Ctrl-C) halfway through model.bin, as a user or a dropped network
    would: nothing is installed, and the new run downloads only what had not arrived whole."""
    half_sent, release = hub.hold_next_download(REPO, "model.bin")
    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    argv = [sys.executable, "-m", "services.translate.model_cli", "--models", str(models)]
    fetch = [*argv, "fetch", NAME, "--catalogue", str(catalogue)]
    proc = subprocess.Popen(
        fetch, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert half_sent.wait(timeout=60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        release.set()
        proc.kill() if proc.poll() is None else None
    assert proc.returncode != 0
    assert "Traceback" not in err.decode()
    assert not (models / NAME).exists()
    assert _nothing_installed(models)
    config_downloads = len(hub.downloads("config.json"))
    done = subprocess.run(fetch, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert len(hub.downloads("config.json")) == config_downloads  # kept from the first run
    assert _run(models, "verify", NAME) == 0


def test_an_unknown_name_lists_the_known_ones(
    hub: LocalHub, catalogue: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(models, "fetch", "m2m100-419m", "--catalogue", str(catalogue)) == 1
    line = _one_line(capsys.readouterr().err)
    assert "no model 'm2m100-419m' in the catalogue" in line and NAME in line
    assert hub.seen() == []


def test_a_hub_out_of_reach_is_one_line(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub.close()
    assert _fetch(models, catalogue) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"the hub at {hub.url} cannot be reached" in line
    assert _nothing_installed(models)


def test_a_gated_repository_needs_the_token_and_gets_it_from_hf_token(
    hub: LocalHub,
    tiny: Path,
    tmp_path: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = {n: d for n, d in hub.state.repos[REPO].files.items()}
    gated = hub.add_repo("cityfeeds-test/gated", files, token="hf_test_secret")
    path = tmp_path / "gated.json"
    path.write_text(json.dumps([_entry(gated)]))
    assert _fetch(models, path) == 1
    assert "is gated" in _one_line(capsys.readouterr().err)
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    assert _fetch(models, path) == 0


def test_an_existing_model_is_kept_unless_forced_and_survives_a_failed_replacement(
    hub: LocalHub, catalogue: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, catalogue) == 0
    before = (models / NAME / "model.bin").read_bytes()
    assert _fetch(models, catalogue) == 1
    assert "already exists: pass --force" in _one_line(capsys.readouterr().err)
    hub.corrupt(REPO, "model.bin")
    assert _fetch(models, catalogue, "--force") == 1
    assert (models / NAME / "model.bin").read_bytes() == before
    assert _run(models, "verify", NAME) == 0


def test_a_model_that_does_not_load_is_not_installed(
    hub: LocalHub, tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {**hub.state.repos[REPO].files, "model.bin": b"not a CTranslate2 model"}
    broken = hub.add_repo("cityfeeds-test/broken", files)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([_entry(broken)]))
    assert _fetch(models, path) == 1
    assert "does not load" in _one_line(capsys.readouterr().err)
    assert not models.exists() or list(models.iterdir()) == []


def test_a_full_disk_is_one_line(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def full(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hub_module, "hf_hub_download", full)
    assert _fetch(models, catalogue) == 1
    assert "disk full while fetching" in _one_line(capsys.readouterr().err)
    assert _nothing_installed(models)


def test_too_little_free_space_is_refused_before_downloading(
    hub: LocalHub, tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps([_entry(hub.state.repos[REPO], size_mib=1 << 40)]))
    assert _fetch(models, path) == 1
    assert "not enough disk space" in _one_line(capsys.readouterr().err)
    assert hub.seen() == []


def test_a_conversion_without_the_convert_extra_names_the_extra(
    hub: LocalHub,
    tmp_path: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # importing it raises ImportError
    path = tmp_path / "original.json"
    path.write_text(json.dumps([_entry(hub.state.repos[REPO], conversion="transformers")]))
    assert _fetch(models, path) == 1
    assert "pip install '.[convert]'" in _one_line(capsys.readouterr().err)
    assert hub.seen() == []


def test_an_unverified_entry_is_refused_with_what_to_do_instead(
    hub: LocalHub, tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "unverified.json"
    entry = _entry(hub.state.repos[REPO], verified=False, notes="Install it with fetch opus-mt.")
    path.write_text(json.dumps([entry]))
    assert _fetch(models, path) == 1
    line = _one_line(capsys.readouterr().err)
    assert "not verified against the hub" in line and "Install it with fetch opus-mt." in line
    assert hub.seen() == []


def test_fetch_name_refuses_the_opus_mt_options(
    catalogue: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch(models, catalogue, "--release", "opus-2020-01-16") == 1
    assert "for fetch opus-mt" in _one_line(capsys.readouterr().err)


# --- ensure: make run's step -----------------------------------------------------------------


def _ensure(models: Path, catalogue: Path) -> int:
    return _run(models, "ensure", "--catalogue", str(catalogue))


def test_ensure_with_the_hub_down_says_so_in_one_line_and_goes_on(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", NAME)
    hub.close()
    assert _ensure(models, catalogue) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and "Traceback" not in err, out + err
    assert out.startswith(f"translation models: the hub at {hub.url} cannot be reached (")
    assert "translations stay pending; fetch one later with: " in out
    assert f"fetch {NAME}" in out
    assert _nothing_installed(models)


def test_ensure_takes_a_stranger_answering_for_the_hub_as_no_hub(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A proxy or firewall answering in the hub's place (a bare 404 here) is a hub out of reach."""
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", NAME)
    monkeypatch.setenv("HF_ENDPOINT", hub.state.cdn_url)
    assert _ensure(models, catalogue) == 0
    out = capsys.readouterr().out
    assert f"the hub at {hub.state.cdn_url} cannot be reached (HTTP 404 Not Found, not an" in out
    assert _nothing_installed(models)


def test_ensure_fetches_the_default_once_when_the_hub_answers(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", NAME)
    assert _ensure(models, catalogue) == 0
    assert f"installed {NAME}" in capsys.readouterr().out
    assert _run(models, "verify", NAME) == 0
    requests = len(hub.seen())
    assert _ensure(models, catalogue) == 0  # a model is installed: the hub is not asked again
    assert len(hub.seen()) == requests


def test_ensure_respects_the_opt_out_and_an_explicit_engine(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", NAME)
    monkeypatch.setenv("TRANSLATE_AUTO_FETCH", "0")
    assert _ensure(models, catalogue) == 0
    assert "TRANSLATE_AUTO_FETCH=0" in capsys.readouterr().out
    monkeypatch.delenv("TRANSLATE_AUTO_FETCH")
    monkeypatch.setenv("TRANSLATE_ENGINE", "pseudo")
    assert _ensure(models, catalogue) == 0
    assert hub.seen() == [] and _nothing_installed(models)


def test_ensure_with_an_unknown_default_is_an_error(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", "nope")
    assert _ensure(models, catalogue) == 1
    assert "no model 'nope' in the catalogue" in _one_line(capsys.readouterr().err)


def test_the_catalogue_view_shows_licences_and_published_scores(
    hub: LocalHub, tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nc.json"
    path.write_text(
        json.dumps([_entry(hub.state.repos[REPO], licence="CC-BY-NC-4.0", non_commercial=True)])
    )
    assert _run(models, "catalogue", "--catalogue", str(path)) == 0
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if line.startswith(NAME)]
    assert "CC-BY-NC-4.0 (non-commercial)" in row and row.rstrip().endswith("no")
    assert "published: fa-en chrF++ 1.5 on nothing (https://example.org/none)" in out


def test_ensure_goes_on_when_the_fetch_fails(
    hub: LocalHub,
    catalogue: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRANSLATE_DEFAULT_MODEL", NAME)
    hub.corrupt(REPO, "model.bin")
    assert _ensure(models, catalogue) == 0
    out = capsys.readouterr().out
    assert f"translation models: fetching {NAME} failed: sha256 mismatch for model.bin" in out
    assert _nothing_installed(models)


def test_the_compute_types_an_entry_allows_are_recorded_for_the_engine(
    hub: LocalHub, tmp_path: Path, models: Path
) -> None:
    path = tmp_path / "int8.json"
    allowed = ["int8", "int8_float32"]  # as MADLAD's entry: int8 weights, never float16
    path.write_text(json.dumps([_entry(hub.state.repos[REPO], compute_types=allowed)]))
    assert _fetch(models, path) == 0
    assert ModelManifest.read(models / NAME).compute_types == allowed
    assert CTranslate2Engine(models / NAME).info()["compute_type"] in allowed
