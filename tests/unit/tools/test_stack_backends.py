"""deploy/local/stack.py's database backend: how it is chosen, and what it starts and stops.

No database runs here: the commands are checked as built, and ``up``/``down`` are driven with
the starting replaced or with a stand-in process (tests/integration/test_postgresql_backend.py
starts the real PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.local import stack


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CITYFEEDS_STATE", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # no Kafka is started
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("CITYFEEDS_DB_BACKEND", raising=False)
    return tmp_path


def test_sqlite_is_the_default_and_the_environment_or_the_option_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CITYFEEDS_DB_BACKEND", raising=False)
    assert stack.db_backend() == "sqlite"
    monkeypatch.setenv("CITYFEEDS_DB_BACKEND", "PostgreSQL ")
    assert stack.db_backend() == "postgresql"
    assert stack.db_backend("sqlite") == "sqlite"  # the option wins over the environment


def test_an_unknown_backend_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYFEEDS_DB_BACKEND", "mysql")
    with pytest.raises(stack.ProvisionError, match=r"'mysql'.*sqlite or postgresql"):
        stack.db_backend()


def test_ferretdb_on_postgresql_runs_the_handler_binary_on_the_cluster_url(tmp_path: Path) -> None:
    url = stack.PostgreSQL(tmp_path, 5999).url
    argv = stack.FerretDB(tmp_path, 27999, backend="postgresql", postgresql_url=url).process.argv
    assert argv == [
        str(stack.FERRETDB_PG_BIN),
        "-listen=127.0.0.1:27999",
        "-handler=postgresql",
        "-postgresql-url=postgres://cityfeeds@127.0.0.1:5999/postgres",
    ]
    sqlite = stack.FerretDB(tmp_path, 27999).process.argv
    assert sqlite[0] == str(stack.FERRETDB_BIN) and f"-data-dir={tmp_path / 'ferretdb'}" in sqlite


def test_postgresql_listens_on_loopback_only_and_drops_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = Path("/usr/lib/postgresql/15/bin")
    server = stack.PostgreSQL(tmp_path, 5999)
    tail = ["-D", str(tmp_path / "postgresql" / "data"), "-p", "5999"]
    tail += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert server.process(bindir).argv == [str(bindir / "postgres"), *tail]
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr("pwd.getpwnam", lambda name: name)  # a postgres user exists
    as_root = server.process(bindir).argv
    assert as_root[:3] == ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres"]
    assert as_root[as_root.index("--") + 1 :] == [str(bindir / "postgres"), *tail]


def test_up_starts_the_backend_asked_for(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def start_database(where: Path, backend: str, **_: Any) -> stack.FerretDB:
        assert where == state
        started.append(backend)
        return stack.FerretDB(where, 27999, backend=backend)

    monkeypatch.setattr(stack, "start_database", start_database)
    assert stack.main(["up", "--infra-only"]) == 0
    monkeypatch.setenv("CITYFEEDS_DB_BACKEND", "postgresql")
    assert stack.main(["up", "--infra-only"]) == 0
    assert stack.main(["up", "--infra-only", "--db-backend", "sqlite"]) == 0
    assert started == ["sqlite", "postgresql", "sqlite"]
    with pytest.raises(SystemExit):
        stack.main(["up", "--db-backend", "mysql"])


def test_a_running_ferretdb_on_the_other_backend_is_not_silently_kept(state: Path) -> None:
    (state / "ferretdb.pid").write_text(str(os.getpid()))  # a live pid stands for FerretDB
    (state / "ferretdb.backend").write_text("sqlite")
    with pytest.raises(RuntimeError, match=r"already running on sqlite.*make stop"):
        stack.start_database(state, "postgresql")
    assert not (state / "postgresql").exists()  # nothing was started or initialised


def test_down_stops_the_postgresql_cluster_too(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    stand_in = stack.Process("postgresql", state, sleeper)
    pid = stand_in.start()
    assert stack.main(["down"]) == 0
    assert stand_in.pid() is None
    assert "stopped PostgreSQL" in capsys.readouterr().err
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
