"""FerretDB on PostgreSQL, as ``CITYFEEDS_DB_BACKEND=postgresql`` starts it: a round trip.

A private PostgreSQL cluster and FerretDB with the PostgreSQL handler are started by
``deploy/local/stack.py`` in a directory of the test's own (Debian's ``postgresql`` is installed
when missing; without it the test is skipped and says why). About 5 s once FerretDB's handler
binary is built (the first time, about two minutes, cached like the SQLite one).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from deploy.local import stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def on_postgresql() -> Iterator[tuple[Path, stack.FerretDB]]:
    with tempfile.TemporaryDirectory(prefix="test-postgresql-") as tmp:
        state = Path(tmp)
        state.chmod(0o755)  # run as root, the server runs as ``postgres``, who must reach it
        try:
            ferretdb = stack.start_database(
                state, "postgresql", port=stack.free_port(), postgresql_port=stack.free_port()
            )
        except stack.ProvisionError as exc:
            pytest.skip(f"PostgreSQL cannot be provisioned here: {exc}")
        try:
            yield state, ferretdb
        finally:
            stack.stop_database(state)


def test_documents_round_trip_through_postgresql(
    on_postgresql: tuple[Path, stack.FerretDB],
) -> None:
    state, ferretdb = on_postgresql
    client: MongoClient[dict[str, object]] = MongoClient(ferretdb.uri, retryWrites=False)
    try:
        entries = client["roundtrip"]["feed_entries"]
        entries.insert_many([{"_id": f"e-{i}", "version": 1, "title": "تیتر"} for i in range(50)])
        entries.update_one(  # the feeds' conditional write: only a later version replaces
            {"_id": "e-7", "version": {"$lt": 2}}, {"$set": {"version": 2}}, upsert=True
        )
        body = bytes(range(256)) * 600  # stored as BSON binary, read back as bytes
        client["roundtrip"]["rendered"].insert_one({"_id": "mashhad/fa.atom", "body": body})
        assert entries.find_one({"_id": "e-7"}) == {"_id": "e-7", "version": 2, "title": "تیتر"}
        assert entries.count_documents({"version": 1}) == 49
        rendered = client["roundtrip"]["rendered"].find_one({"_id": "mashhad/fa.atom"})
        assert rendered is not None and rendered["body"] == body
        plan = client["roundtrip"].command(
            "explain", {"find": "feed_entries", "filter": {"_id": "e-7"}}
        )
    finally:
        client.close()
    assert stack.FerretDB(state).running_backend() == "postgresql"
    # The documents are PostgreSQL's: the database is a schema of the private cluster.
    bindir = stack.postgresql_bindir()
    assert bindir is not None
    psql = [str(bindir / "psql"), "-At", "-h", "127.0.0.1"]
    port = ferretdb.postgresql_url.rsplit(":", 1)[1].split("/")[0]
    sql = "select schema_name from information_schema.schemata"
    out = subprocess.run(
        [*psql, "-p", port, "-U", stack.POSTGRESQL_USER, "-d", "postgres", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "roundtrip" in out.split()
    # Reads by _id use the _id index (FERRETDB_PG_PATCH), not a table scan.
    assert "Index" in str(plan["queryPlanner"]), plan["queryPlanner"]


def test_stop_stops_ferretdb_and_postgresql(on_postgresql: tuple[Path, stack.FerretDB]) -> None:
    state, _ = on_postgresql
    server = stack.PostgreSQL(state).process().pid()
    assert server is not None
    assert stack.stop_database(state) == ["FerretDB", "PostgreSQL"]
    assert stack.PostgreSQL(state).process().pid() is None
    assert stack.FerretDB(state).running_backend() is None
