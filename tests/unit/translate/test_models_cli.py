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

from services.translate import model_cli as cli
from services.translate import model_fetch
from services.translate.ct2 import MANIFEST_NAME, CTranslate2Engine, ModelManifest
from services.translate.model_pick import pick_model, registry_pairs
from services.translate.model_store import models_dir
from tools.tiny_models import build_tiny_marian, build_tiny_marian_sources

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


def _fetch(models: Path, url: str, sha256: str) -> int:
    return _run(models, "fetch", "opus-mt", "fa", "en", "--url", url, "--sha256", sha256)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _release_url(base: str) -> str:
    return f"{base}/fa-en/{RELEASE}.zip"


def _nothing_installed(models: Path) -> bool:
    return not models.exists() or not any(models.iterdir())


async def test_fetch_list_translate_verify(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = served
    digest = hashlib.sha256((root / "fa-en" / f"{RELEASE}.zip").read_bytes()).hexdigest()
    fetch = ("fetch", "opus-mt", "fa", "en", "--url", _release_url(base), "--sha256", digest)
    assert _run(models, *fetch) == 0
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
    monkeypatch.setattr(model_fetch, "OPUS_MT_URL", base + "/{src}-{tgt}/{release}.zip")
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
    fetch = ("fetch", "opus-mt", "fa", "en", "--url", _release_url(base), "--sha256", "0" * 64)
    assert _run(models, *fetch) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_http_404_is_readable(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = served
    assert _fetch(models, f"{base}/nope.zip", "0" * 64) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "nope.zip" in err
    assert _nothing_installed(models)


def test_connection_refused_is_readable(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fetch(models, "http://127.0.0.1:9/x.zip", "0" * 64) == 1
    assert "download failed" in capsys.readouterr().err
    assert _nothing_installed(models)


def test_path_escaping_the_folder_is_refused(
    served: tuple[str, Path], models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = served
    assert _fetch(models, f"{base}/evil.zip", _sha256(root / "evil.zip")) == 1
    assert "'../evil'" in capsys.readouterr().err
    assert _nothing_installed(models)
    assert not list(tmp_path.rglob("evil"))


def test_not_a_zip_is_refused(
    served: tuple[str, Path], models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = served
    assert _fetch(models, f"{base}/not-a-zip.zip", _sha256(root / "not-a-zip.zip")) == 1
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
    assert "no models installed" in out and "fetch m2m100-418m" in out


def test_models_folder_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRANSLATE_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir(None) == tmp_path / "env"
    assert models_dir(str(tmp_path / "opt")) == tmp_path / "opt"
    monkeypatch.delenv("TRANSLATE_MODELS_DIR")
    assert models_dir(None) == Path("~/.cache/city-syndication/models").expanduser()


# --- pick: the model `make run` serves when TRANSLATE_ENGINE is not set ---------------------------

SAMPLE_PAIRS = [("fa", "en"), ("fa", "ar"), ("fa", "ru")]
REGISTRY = Path(__file__).resolve().parents[3] / "deploy" / "local" / "registry.yaml"


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted fa→en Marian model with language tokens in its vocabulary, so that its
    manifest can also be rewritten into a multilingual (m2m100) one."""
    return build_tiny_marian(
        tmp_path_factory.mktemp("pick") / "tiny",
        extra_tokens=["__fa__", "__en__", "__ar__", "__ru__"],
    )


@pytest.fixture
def no_engine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TRANSLATE_ENGINE", "TRANSLATE_MODEL_DIR", "TRANSLATE_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)


def _add_model(models: Path, source: Path, name: str, **manifest_changes: Any) -> Path:
    """Copy ``source`` in as ``models/name``, with its manifest changed (digests still hold: the
    manifest is not among the files it digests)."""
    target = models / name
    shutil.copytree(source, target)
    data = ModelManifest.load(target).model_dump() | {"name": name, **manifest_changes}
    ModelManifest.model_validate(data).save(target)
    return target


def _m2m100(models: Path, source: Path, name: str, languages: list[str]) -> Path:
    return _add_model(
        models, source, name, family="m2m100", languages=languages, sentencepiece="source.spm"
    )


def test_pick_an_installed_model(tiny_marian: Path, models: Path) -> None:
    installed = _add_model(models, tiny_marian, "opus-mt-fa-en", licence="CC-BY-4.0")
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.directory == installed
    assert pick.env() == {
        "TRANSLATE_ENGINE": "ctranslate2",
        "TRANSLATE_MODEL_DIR": str(installed.resolve()),
    }
    assert pick.chosen.direct == (("fa", "en"),)
    assert pick.pending == [("fa", "ar"), ("fa", "ru")]
    message = pick.message()
    for part in (
        "ctranslate2",
        "opus-mt-fa-en",
        "marian",
        "CC-BY-4.0",
        "fa>en",
        "translates fa→en",
    ):
        assert part in message
    assert "still PENDING: fa→ar, fa→ru" in message
    # What the engine will be started with loads.
    assert CTranslate2Engine(pick.env()["TRANSLATE_MODEL_DIR"]).supports("fa", "en")


def test_pick_prefers_a_multilingual_model(tiny_marian: Path, models: Path) -> None:
    _add_model(models, tiny_marian, "a-marian-fa-en")
    _m2m100(models, tiny_marian, "m2m100-418m", ["fa", "en", "ar", "ru"])
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.manifest.name == "m2m100-418m"
    assert pick.chosen.direct == tuple(SAMPLE_PAIRS) and pick.pending == []
    assert [c.directory.name for c in pick.unused] == ["a-marian-fa-en"]
    assert "PENDING" not in pick.message()
    # Covering the same pairs, the multilingual model still comes first, and M2M100 before NLLB.
    pick = pick_model(models, [("fa", "en")], environ={})
    assert pick.chosen is not None and pick.chosen.manifest.family == "m2m100"
    _add_model(models, tiny_marian, "0-nllb", family="nllb", languages=["fa", "en", "ar", "ru"])
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.manifest.family == "m2m100"


def test_pick_says_when_the_model_chosen_is_non_commercial(tiny_marian: Path, models: Path) -> None:
    """NLLB-200 is CC-BY-NC: the city must see it where the model is chosen, not only in the
    catalogue."""
    _add_model(
        models, tiny_marian, "nllb", family="nllb", languages=["fa", "en", "ar", "ru"],
        licence="CC-BY-NC-4.0",
    )  # fmt: skip
    message = pick_model(models, SAMPLE_PAIRS, environ={}).message()
    assert "licence CC-BY-NC-4.0: NON-COMMERCIAL use only" in message
    _m2m100(models, tiny_marian, "m2m100-418m", ["fa", "en", "ar", "ru"])
    assert "NON-COMMERCIAL" not in pick_model(models, SAMPLE_PAIRS, environ={}).message()


def test_pick_most_pairs_then_pivot_through_english(tiny_marian: Path, models: Path) -> None:
    _add_model(models, tiny_marian, "fa-en")
    _add_model(models, tiny_marian, "fa-en-ar", languages={"pairs": [("fa", "en"), ("en", "ar")]})
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.manifest.name == "fa-en-ar"
    assert pick.chosen.direct == (("fa", "en"),)
    assert pick.chosen.pivoted == (("fa", "ar"),)
    assert pick.pending == [("fa", "ru")]
    assert "through English: fa→ar" in pick.message()


def test_pick_ignores_a_model_that_does_not_verify(tiny_marian: Path, models: Path) -> None:
    good = _add_model(models, tiny_marian, "fa-en")
    broken = _m2m100(models, tiny_marian, "broken-m2m100", ["fa", "en", "ar", "ru"])
    with (broken / "model.bin").open("ab") as f:
        f.write(b"\0")
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.directory == good
    assert [name for name, _ in pick.skipped] == ["broken-m2m100"]
    assert "model.bin: sha256 mismatch" in pick.skipped[0][1]
    assert "skipped broken-m2m100: model.bin: sha256 mismatch" in pick.message()
    # Alone, it gives no engine at all.
    shutil.rmtree(good)
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is None and pick.env() == {}
    assert pick.message().startswith("Translations: PENDING")


def test_pick_nothing_installed_says_how_to_install(models: Path) -> None:
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is None and pick.env() == {} and pick.pending == SAMPLE_PAIRS
    message = pick.message(".venv/bin/python")
    assert message.startswith("Translations: PENDING")
    assert ".venv/bin/python -m services.translate.model_cli fetch m2m100-418m" in message
    assert ".venv/bin/python -m services.translate.model_cli install DIR" in message
    assert "TRANSLATE_ENGINE=pseudo make run" in message


def test_pick_a_model_covering_nothing_wanted(tiny_marian: Path, models: Path) -> None:
    _add_model(models, tiny_marian, "en-fa", languages={"pairs": [("en", "fa")]})
    pick = pick_model(models, SAMPLE_PAIRS, environ={})
    assert pick.chosen is None and pick.env() == {}
    assert "covers none of these pairs: en-fa (en>fa)" in pick.message()


def test_explicit_engine_wins(tiny_marian: Path, models: Path) -> None:
    _add_model(models, tiny_marian, "fa-en")
    pick = pick_model(models, SAMPLE_PAIRS, environ={"TRANSLATE_ENGINE": "pseudo"})
    assert pick.explicit == "pseudo" and pick.chosen is None
    assert pick.env() == {} and pick.pending == []
    assert "TRANSLATE_ENGINE=pseudo as set" in pick.message()


def test_model_dir_limits_the_choice(tiny_marian: Path, models: Path, tmp_path: Path) -> None:
    _m2m100(models, tiny_marian, "m2m100", ["fa", "en", "ar", "ru"])
    elsewhere = _add_model(tmp_path / "elsewhere", tiny_marian, "mine")
    pick = pick_model(models, SAMPLE_PAIRS, environ={"TRANSLATE_MODEL_DIR": str(elsewhere)})
    assert pick.chosen is not None and pick.chosen.directory == elsewhere
    assert pick.env()["TRANSLATE_MODEL_DIR"] == str(elsewhere.resolve())


def test_registry_pairs() -> None:
    assert registry_pairs(REGISTRY, ["mashhad"]) == [("fa", "en"), ("fa", "ar"), ("fa", "ru")]
    assert registry_pairs(REGISTRY) == SAMPLE_PAIRS
    with pytest.raises(cli.CliError, match="no publisher 'nowhere'"):
        registry_pairs(REGISTRY, ["nowhere"])


def test_registry_pairs_include_network_languages(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "publishers:\n"
        "  a: {name: A, language: fa, translate_to: [en]}\n"
        "  b: {name: B, language: fa, translate_to: [en]}\n"
        "networks:\n"
        "  n: {name: N, members: [a], languages: [de, fa]}\n",
        encoding="utf-8",
    )
    assert registry_pairs(registry, ["a"]) == [("fa", "en"), ("fa", "de")]
    assert registry_pairs(registry, ["b"]) == [("fa", "en")]


def test_pick_command_writes_the_env_file_stack_reads(
    tiny_marian: Path,
    models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_engine_env: None,
) -> None:
    from deploy.local import stack

    env_file = tmp_path / "var" / "translate.env"
    argv = ("pick", "--registry", str(REGISTRY), "--publisher", "mashhad", "--env-file")
    assert _run(models, *argv, str(env_file)) == 0
    assert "Translations: PENDING" in capsys.readouterr().out
    assert stack.read_env_file(env_file) == {}

    installed = _add_model(models, tiny_marian, "opus-mt-fa-en")
    assert _run(models, *argv, str(env_file), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "ctranslate2" and report["model"]["name"] == "opus-mt-fa-en"
    assert report["pending"] == [["fa", "ar"], ["fa", "ru"]]
    expected = {"TRANSLATE_ENGINE": "ctranslate2", "TRANSLATE_MODEL_DIR": str(installed.resolve())}
    assert stack.read_env_file(env_file) == expected

    assert _run(models, "pick") == 1
    assert "--registry FILE and/or --pair" in capsys.readouterr().err
    assert _run(models, "pick", "--pair", "fa-en", "--publisher", "mashhad") == 1
    assert "--publisher needs --registry" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(models, "pick", "--pair", "fa")


def test_stack_env_file_never_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.local import stack

    env_file = tmp_path / "translate.env"
    env_file.write_text(
        "# comment\n\nTRANSLATE_ENGINE=ctranslate2\nTRANSLATE_MODEL_DIR=/m/a b\n", encoding="utf-8"
    )
    monkeypatch.setenv("TRANSLATE_ENGINE", "pseudo")
    monkeypatch.delenv("TRANSLATE_MODEL_DIR", raising=False)
    env = stack.service_env(tmp_path, env_file)
    assert "TRANSLATE_ENGINE" not in env  # the process environment (pseudo) reaches the service
    assert env["TRANSLATE_MODEL_DIR"] == "/m/a b"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"} <= set(env)
    assert stack.read_env_file(tmp_path / "missing.env") == {}
    env_file.write_text("not a setting\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="expected KEY=VALUE"):
        stack.read_env_file(env_file)
