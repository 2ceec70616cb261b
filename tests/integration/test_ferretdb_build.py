"""The project's FerretDB build (``deploy/local/ferretdb``): what it logs and how it commits.

Its logger formats the attributes of a record only when the record is written (FerretDB's SQL
layer attaches every statement's arguments, whole documents, to a debug record: formatting them
eagerly cost 29 % of the server's CPU). These tests hold what that must not change: at debug
level the statements and their documents are still logged, and a bad ``-synchronous`` value
stops the server with a message instead of starting it without the durability asked for.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from deploy.local import stack

pytestmark = pytest.mark.integration


def serve(state: Path, *flags: str) -> stack.Process:
    port = stack.free_port()
    proc = stack.Process(
        "ferretdb",
        state,
        [
            str(stack.provision_ferretdb()),
            f"-listen=127.0.0.1:{port}",
            f"-data-dir={state / 'data'}",
            *flags,
        ],
    )
    proc.start()
    stack.wait_until(lambda: stack.mongo_ready("127.0.0.1", port), "FerretDB", 30, proc)
    proc.env["PORT"] = str(port)  # where the test finds it
    return proc


@pytest.fixture
def debug_server(tmp_path: Path) -> Iterator[tuple[stack.Process, MongoClient[dict[str, object]]]]:
    proc = serve(tmp_path, "-log-level=debug")
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:{proc.env['PORT']}/", retryWrites=False
    )
    try:
        yield proc, client
    finally:
        client.close()
        proc.stop()


def test_at_debug_level_statements_are_logged_with_their_documents(
    debug_server: tuple[stack.Process, MongoClient[dict[str, object]]],
) -> None:
    proc, client = debug_server
    client["probe"]["notes"].insert_one({"_id": "n1", "text": "سلام مشهد"})
    client["probe"]["notes"].update_one({"_id": "n1"}, {"$set": {"text": "سلام تهران"}})
    log = proc.logfile.read_text(errors="replace")
    assert "INSERT INTO" in log and "سلام مشهد" in log
    assert "UPDATE" in log and "سلام تهران" in log


def test_a_bad_synchronous_value_stops_the_server_with_a_reason(tmp_path: Path) -> None:
    binary = stack.provision_ferretdb()
    done = subprocess.run(
        [str(binary), "-listen=127.0.0.1:0", f"-data-dir={tmp_path}", "-synchronous=off"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "-synchronous: expected normal or full" in done.stderr
