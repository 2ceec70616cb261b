"""From ``models fetch NAME`` to a translation on the real stack.

A tiny random-weight M2M100 model is built here and published on a local server speaking the
Hugging Face hub's API (tests/support/hub_server.py); the CLI fetches it through the real
``huggingface_hub`` client (``HF_ENDPOINT``), the hub goes away, and the translate service is
restarted on the installed folder: an article's translations name that model and the commit it
was fetched at. (Fetch failures, resume and ``ensure`` are tested without the stack, in
tests/unit/translate/test_hub_fetch.py.)
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.translate.ct2 import MANIFEST_NAME
from shared.contracts import Topics
from tests.integration.conftest import System, read_topic
from tests.support.hub_server import Repo, is_lfs, local_hub
from tools.tiny_models import build_tiny_m2m100

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPO = "cityfeeds-test/tiny-m2m100-ct2"
NAME = "tiny-m2m100"
ROOT = Path(__file__).resolve().parents[2]
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _catalogue(repo: Repo, path: Path) -> Path:
    entry = {
        "name": NAME,
        "title": "tiny M2M100 (random weights)",
        "family": "m2m100",
        "repo": repo.repo_id,
        "revision": repo.commit,
        "files": {n: hashlib.sha256(d).hexdigest() for n, d in repo.files.items() if is_lfs(n)},
        "unpinned_files": sorted(n for n in repo.files if not is_lfs(n)),
        "conversion": "ctranslate2",
        "licence": "MIT",
        "languages": ["fa", "en", "ar", "ru"],
        "sentencepiece": "sentencepiece.bpe.model",
        "size_mib": 1,
    }
    path.write_text(json.dumps([entry]))
    return path


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Repo]:
    """(installed model folder, the repository it came from), fetched with the CLI; the local
    hub is gone afterwards, so translate serves the model offline."""
    work = tmp_path_factory.mktemp("fetch")
    tiny = build_tiny_m2m100(work / "built")
    models = work / "models"
    with local_hub() as hub:
        repo = hub.add_folder(REPO, tiny, skip=(MANIFEST_NAME,))
        env = {k: v for k, v in os.environ.items() if k not in PROXIES}
        env |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(work / "hf-home")}
        env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        catalogue = _catalogue(repo, work / "catalogue.json")
        argv = ["--models", str(models), "fetch", NAME, "--catalogue", str(catalogue)]
        done = subprocess.run(
            [sys.executable, "-m", "services.translate.model_cli", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    return models / NAME, repo


@pytest.fixture(scope="module")
def serving(system: System, fetched: tuple[Path, Repo]) -> Iterator[Repo]:
    model, repo = fetched
    saved = dict(system.env)
    system.env.update(TRANSLATE_ENGINE="ctranslate2", TRANSLATE_MODEL_DIR=str(model))
    system.kill("translate", signal.SIGTERM)
    system.start("translate")
    try:
        yield repo
    finally:
        system.env.clear()
        system.env.update(saved)
        system.kill("translate", signal.SIGTERM)
        system.start("translate")


async def test_translate_serves_the_fetched_model(
    http: httpx.AsyncClient, system: System, serving: Repo
) -> None:
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={
            "headline": "خبر مشهد",
            "body_text": "شهرداری مشهد امروز از افتتاح یک پارک جدید در منطقه ده خبر داد.",
            "external_id": uuid.uuid4().hex,
        },
        headers=system.auth("mashhad"),
    )
    assert resp.status_code == 202, resp.text
    aid = str(resp.json()["article_id"])

    def mine(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in seen if e.get("article_id") == aid]

    def done(seen: list[dict[str, Any]]) -> bool:
        return {e["language"] for e in mine(seen)} >= {"en", "ar", "ru"}

    events = mine(await read_topic(system.infra.kafka, Topics.TRANSLATED, done))
    for event in events:
        provenance = event["provenance"]
        assert provenance["engine"] == "ctranslate2", provenance
        assert provenance["model"] == NAME
        assert provenance["model_version"] == serving.commit  # the pinned commit, as fetched
        assert provenance["pivot"] is None  # M2M100 translates fa→ar and fa→ru directly
