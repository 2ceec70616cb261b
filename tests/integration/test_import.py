"""The archive import on the real stack: a JSON Lines archive in every form reaches the feed
exactly once, bad lines are reported and skipped, and a re-run after a crash skips what the
broker acknowledged while the records sent again change nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import System, await_history, registry_cli

pytestmark = pytest.mark.integration

# A publisher of its own, with no translations and no network: the archives cost only ingest
# and one feed, and leave the shared services idle for the tests that follow.
PUBLISHER = "archive-fa"


@pytest.fixture(scope="module")
async def publisher(system: System, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = Path(tmp_path_factory.mktemp("import"))
    registry = folder / "registry.yaml"
    registry.write_text(
        f"publishers:\n  {PUBLISHER}:\n    name: An archive\n    language: fa\n",
        encoding="utf-8",
    )
    await registry_cli(system, "load", str(registry))
    keyfile = folder / "archive.key"
    await registry_cli(
        system, "keys", "create", PUBLISHER, "--name", "import", "--out", str(keyfile)
    )
    system.keys[PUBLISHER] = keyfile.read_text().strip()
    return PUBLISHER


BODY = "شهردار مشهد امروز از نمایشگاه فرهنگی شهر بازدید کرد و با هنرمندان گفتگو کرد."
MORE = "این نمایشگاه تا پایان هفته باز است و بازدید از آن رایگان است."


def headline(tag: str, n: int) -> str:
    return f"بازدید شهردار از نمایشگاه {tag} شماره {n}"


def article(tag: str, n: int) -> dict[str, Any]:
    """Article ``n`` of an archive, in one of the four ways an archive holds one."""
    title = headline(tag, n)
    match n % 4:
        case 0:
            return {
                "headline": title,
                "body_text": f"{BODY}\n\n{MORE}",
                "external_id": f"{tag}-{n}",
            }
        case 1:
            doc = {"uri": f"urn:{tag}:{n}", "headline": title, "body_text": BODY, "language": "fa"}
            return {"ninjs": doc}
        case 2:
            return {"raw_text": f"{title}\n\n{BODY}\n\n{MORE}", "external_id": f"{tag}-{n}"}
        case _:  # a page without an id: keyed by its line
            return {"raw_html": f"<article><h1>{title}</h1><p>{BODY}</p><p>{MORE}</p></article>"}


def archive(path: Path, tag: str, count: int, bad: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(article(tag, n), ensure_ascii=False) for n in range(count)]
    for at, line in sorted((bad or {}).items()):
        lines.insert(at, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def import_archive(system: System, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.import_archive", *args,
        "--publisher", PUBLISHER, "--bootstrap", system.infra.kafka,
        env={**os.environ, **system.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def in_feed_once(http: httpx.AsyncClient, system: System, tag: str, count: int) -> None:
    """Every article of the archive in the Persian feed (through its archives), each under
    one entry id, and each at version 1: nothing sent twice made a version."""
    wanted = {headline(tag, n) for n in range(count)}
    entries, _ = await await_history(
        http,
        system.url("feeds", f"/feeds/{PUBLISHER}/fa.atom"),
        lambda es: wanted <= {e.title for e in es},
        timeout=180,
    )
    titles = [e.title for e in entries.values() if tag in e.title]
    assert sorted(titles) == sorted(wanted)  # one entry id per article
    listed = await http.get(
        system.url("ingest", "/articles?limit=200"), headers=system.auth(PUBLISHER)
    )
    ours = [a for a in listed.json() if tag in (a["headline"] or "")]
    assert len(ours) == count
    assert {a["version"] for a in ours} == {1}


async def test_an_archive_in_every_form_reaches_the_feed_once_and_bad_lines_are_reported(
    http: httpx.AsyncClient, system: System, tmp_path: Path, publisher: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    bad = {5: "{not json", 20: json.dumps({**article(tag, 99), "publisher": "tehran"})}
    src = archive(tmp_path / "archive.jsonl", tag, 40, bad)
    rc, out, err = await import_archive(system, str(src))
    assert rc == 1, err
    assert "sent 40, skipped 0 already imported, refused 2" in out
    reasons = (tmp_path / ".import-state.refused.txt").read_text()
    assert f"{src}:6: not JSON" in reasons
    assert f"{src}:21: names publisher 'tehran'" in reasons
    await in_feed_once(http, system, tag, 40)
    rc, out, _ = await import_archive(system, str(src))  # again: nothing to do
    assert rc == 1 and "sent 0, skipped 42 already imported, refused 2" in out


async def test_a_rerun_after_a_crash_skips_what_was_acknowledged_without_duplicates(
    http: httpx.AsyncClient, system: System, tmp_path: Path, publisher: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    src = archive(tmp_path / "archive.jsonl", tag, 30)
    state = tmp_path / "state.json"
    common = (str(src), "--state", str(state), "--checkpoint-every", "10")
    rc, _, err = await import_archive(system, *common, "--exit-after", "25")
    assert rc == 70, err  # dead after 25 acknowledged sends, 5 of them past the checkpoint
    assert json.loads(state.read_text())["sources"][str(src.resolve())]["done"] == 20
    rc, out, err = await import_archive(system, *common)
    assert rc == 0, err
    assert "sent 10, skipped 20 already imported, refused 0" in out
    await in_feed_once(http, system, tag, 30)
