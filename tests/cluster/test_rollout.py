"""Mixed versions during a rollout (issue 24): one replica of each service is replaced by the
previous release's while articles flow, so every consumer group has an old and a new member and
each release reads events the other wrote; then the rollout goes forward again. Afterwards every
article is in every language feed exactly once at its latest version, every partition has a
consumer, and nothing of the run was dead-lettered.

The previous release is the parent of the last commit that changed ``shared/contracts.py`` (the
last release before a contract change), or the commit in ``ROLLOUT_FROM``; it is exported with
``git archive`` and run from that folder on this virtualenv. ``ROLLOUT_REPORT=file`` appends a
JSON line per run.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import stack
from shared.contracts import Topics
from tests.cluster.conftest import PACE, Clustered, Replica
from tests.integration.conftest import holders, read_all
from tests.support.faults import (
    LANGUAGES,
    Stream,
    append_line,
    caught_up,
    unowned_after_recovery,
)

pytestmark = [pytest.mark.cluster, pytest.mark.long]  # make test-cluster

#: Articles the stream sends before the first replica is replaced, and while the versions mix.
BEFORE, MIXED = 10, 30

#: What the test runs in the previous release's folder: which code it imports, and which
#: consumer groups (and topics) each service joins there.
PROBE = """
import json, services, shared
from shared.metrics import subscribed_groups
from tools import asyncapi
groups = {
    s: {g: sorted(t) for g, t in subscribed_groups(asyncapi.broker(s)).items()}
    for s in asyncapi.SERVICES
}
print(json.dumps({"files": [services.__file__, shared.__file__], "groups": groups}))
"""


@dataclass
class Release:
    commit: str
    tree: Path


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=stack.REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def previous_commit() -> str:
    """``ROLLOUT_FROM``, else the parent of the last commit that changed the contracts."""
    wanted = os.environ.get("ROLLOUT_FROM")
    try:
        if not wanted:
            changed = git("log", "-1", "--format=%H", "--", "shared/contracts.py")
            if not changed:
                pytest.skip("no commit in this checkout's history changed shared/contracts.py")
            wanted = f"{changed}^"
        return git("rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}")
    except (OSError, subprocess.CalledProcessError) as error:
        detail = (
            f"{wanted or 'the previous release'} is not in this checkout's git history: "
            + (getattr(error, "stderr", None) or str(error)).strip()
        )
        if os.environ.get("ROLLOUT_FROM"):
            pytest.fail(f"ROLLOUT_FROM={detail}")  # asked for by name: a typo must not pass
        pytest.skip(f"{detail} (not a git checkout, or a shallow clone)")


@pytest.fixture(scope="package")  # like clustered, so it can come first
def previous(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The previous release's source tree, exported from git into a temporary folder."""
    commit = previous_commit()
    tree = tmp_path_factory.mktemp(f"release-{commit[:8]}")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=stack.REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return Release(commit, tree)


def probe(release: Release, env: dict[str, str]) -> dict[str, Any]:
    """Run PROBE the way a replica of the release starts (same interpreter, environment, cwd)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=release.tree,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def current_groups() -> dict[str, dict[str, list[str]]]:
    from shared.metrics import subscribed_groups
    from tools import asyncapi

    return {
        s: {g: sorted(t) for g, t in subscribed_groups(asyncapi.broker(s)).items()}
        for s in asyncapi.SERVICES
    }


async def handled(http: httpx.AsyncClient, replica: Replica) -> dict[str, dict[str, float]]:
    """What a replica's /metrics says it handled, per topic: outcome (ok, dead_lettered,
    retried) to records."""
    resp = await http.get(f"{replica.url}/metrics")
    resp.raise_for_status()
    counts: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.name == "syndication_messages_processed_total":
                topic = counts.setdefault(sample.labels["topic"], {})
                topic[sample.labels["outcome"]] = sample.value
    return counts


def errors_logged(replica: Replica) -> dict[str, int]:
    """What a replica logged at ERROR level (logger: message), how often; shown in the report,
    not judged: the records' outcomes, the dead-letter topics and the feeds are."""
    path = replica.process.logfile
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    found: dict[str, int] = {}
    for line in lines:
        if '"level": "ERROR"' in line:
            try:
                record = json.loads(line)
                what = f"{record.get('logger')}: {record.get('message')}"
            except ValueError:  # not one of our JSON lines
                what = line[:200]
            found[what] = found.get(what, 0) + 1
    return found


async def mixed_groups(bootstrap: str, groups: dict[str, dict[str, list[str]]]) -> dict[str, int]:
    """For each group that had traffic here: how many members hold partitions of its topic
    (2 means the old and the new replica share it)."""
    busy = {"ingest", "ingest-status", "translate", "feeds", "feeds-translations"}
    shared_by: dict[str, int] = {}
    for service_groups in groups.values():
        for group, topics in service_groups.items():
            if group in busy:
                shared_by[group] = (await holders(bootstrap, group, topics[0]))[1]
    return shared_by


async def dead_letters(bootstrap: str, run: str) -> list[dict[str, Any]]:
    """This run's records on every dead-letter topic."""
    found = []
    for topic in Topics.all():
        if topic.endswith(".dlq"):
            found += [r for r in await read_all(bootstrap, topic) if run in json.dumps(r)]
    return found


@pytest.mark.timeout(900)
async def test_previous_release_beside_the_current_one_loses_and_refuses_nothing(
    previous: Release,  # first: without the history to run, the cluster is not started
    clustered: Clustered,
) -> None:
    system, fleet = clustered.system, clustered.fleet
    bootstrap = system.infra.kafka
    groups = current_groups()
    seen = probe(previous, system.env)
    assert all(Path(f).is_relative_to(previous.tree) for f in seen["files"]), seen
    assert seen["groups"] == groups, "the previous release joins other consumer groups"
    # The previous release hands KAFKA_BOOTSTRAP_SERVERS to FastStream as one string, which it
    # takes for one host name (the current one splits the list: InfraSettings.kafka_servers);
    # so it is given one broker, and learns the others from it.
    old_env = {"KAFKA_BOOTSTRAP_SERVERS": clustered.cluster.nodes[0].bootstrap}

    stream = Stream(bootstrap, pace=PACE)
    sending = asyncio.create_task(stream.send_all())
    started = time.monotonic()
    steps: list[dict[str, Any]] = []
    old: dict[str, Replica] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            await stream.reached(BEFORE)
            for service in stack.SERVICES:  # one at a time: each group one old, one new
                at = time.monotonic()
                replica = fleet.of(service)[-1]
                old[service] = await asyncio.to_thread(
                    fleet.replace, replica, previous.tree, **old_env
                )
                steps.append({"replaced": service, "by": "previous", "sent": stream.sent,
                              "s": round(time.monotonic() - at, 1)})  # fmt: skip
                print(f"\n[rollout] {steps[-1]}", flush=True)
            await stream.reached(stream.sent + MIXED)
            shared_by = await mixed_groups(bootstrap, groups)
            old_handled = {s: await handled(http, r) for s, r in old.items()}
            for service, replica in old.items():  # forward again, one at a time
                at = time.monotonic()
                await asyncio.to_thread(fleet.replace, replica)
                steps.append({"replaced": service, "by": "current", "sent": stream.sent,
                              "s": round(time.monotonic() - at, 1)})  # fmt: skip
                print(f"[rollout] {steps[-1]}", flush=True)
            stream.faults_over.set()
            await sending
        finally:
            sending.cancel()

        final = await caught_up(http, fleet.url("feeds"), stream, stream.sent, final=True)
    unowned = await unowned_after_recovery(bootstrap)
    refused = await dead_letters(bootstrap, stream.run)
    report = {
        "run": stream.run,
        "previous_release": previous.commit,
        "articles": stream.sent,
        "corrections": len(stream.corrected()),
        "seconds": round(time.monotonic() - started, 1),
        "replaced": steps,
        "members_holding_partitions": shared_by,
        "old_replicas_handled": {
            s: {t: {o: int(n) for o, n in c.items()} for t, c in topics.items() if c}
            for s, topics in old_handled.items()
        },
        "old_replicas_errors_logged": {s: errors_logged(r) for s, r in old.items()},
        "lost": final.missing(),
        "duplicated": final.duplicated(),
        "unowned_partitions": unowned,
        "dead_letters": len(refused),
        "dead_letter_reasons": sorted(
            {f"{r.get('service')} {r.get('topic')}: {r.get('reason')}" for r in refused}
        ),
    }
    if path := os.environ.get("ROLLOUT_REPORT"):
        await asyncio.to_thread(append_line, Path(path), json.dumps(report, ensure_ascii=False))
    print("\n" + json.dumps(report, ensure_ascii=False, indent=1))

    assert refused == [], report
    for service, topics in old_handled.items():  # the old release did its share of the work
        handled_ok = sum(c.get("ok", 0) for c in topics.values())
        assert handled_ok > 0, (service, report)
        assert all(c.get("dead_lettered", 0) == 0 for c in topics.values()), (service, report)
    assert all(n == 2 for n in shared_by.values()), report
    for lang in LANGUAGES:
        assert sorted(final.found[lang]) == final.want[lang], (lang, report)
    assert unowned == {}, report
