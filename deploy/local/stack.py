#!/usr/bin/env python3
"""Local infrastructure without Docker: Apache Kafka (KRaft) and FerretDB, plus the three services.

Kafka comes as jars from Maven Central and FerretDB is built from the Go module proxy; both are
cached outside the repository (``$CITYFEEDS_CACHE`` or ``~/.cache/city-syndication``) so only the
first start pays for them. Standard library only, so it works before any virtualenv exists; the
test suite imports it to start its own broker and database on free ports.

    python3 deploy/local/stack.py provision | up | down | status | logs [NAME]

``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` point at existing servers: then nothing is
provisioned or started for that component.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

KAFKA_VERSION = "4.1.1"
FERRETDB_VERSION = "1.24.2"

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("CITYFEEDS_CACHE", Path.home() / ".cache" / "city-syndication"))
KAFKA_HOME = CACHE / f"kafka-{KAFKA_VERSION}"
FERRETDB_SOURCES = ("main.go", "lazylog.go", "go.mod", "go.sum")


@dataclass(frozen=True)
class SourceEdit:
    """A textual edit of a file in the vendored FerretDB module, made before it is compiled.

    ``old`` must occur exactly ``count`` times, so that a FerretDB upgrade that changes the code
    fails the build loudly instead of silently building without the fix; ``new=None`` only
    checks the text.
    """

    path: str  # relative to the github.com/FerretDB/FerretDB module root
    old: str
    new: str | None = None
    count: int = 1  # how many times ``old`` occurs (every occurrence is replaced)


# Make finds, updates and deletes by _id use the unique _id index of the SQLite backend.
# FerretDB 1.24.2 creates that index (metadata/registry.go, indexesCreate) on the expression
# ``_ferretdb_sjson->"_id"``, but its _id pushdown (Query, UpdateAll, DeleteAll and Explain in
# collection.go) filters on ``metadata.IDColumn``, ``_ferretdb_sjson->'$._id'``. Both give the same
# JSON text, yet SQLite uses an expression index only for the same expression, so each write by
# _id scanned the whole table. IDColumn becomes exactly the indexed expression: same results,
# and the query plan turns from "SCAN" into "SEARCH ... USING INDEX ..._id_ (<expr>=?)".
# Second, the pushdown applied only to a filter that is nothing but ``{_id: ...}``: a conditional
# write such as ``{_id: k, version: {$lt: 3}}`` scanned the table (668 ms at 2,000 feed entries).
# Every handler (find, count, distinct, update, delete, findAndModify, aggregate's $match) filters
# the fetched documents again with the whole filter, so narrowing the SQL to the top-level _id
# equality is enough and gives the same results.
# Third, ``{_id: {$in: [...]}}`` of strings (up to 1,000) becomes ``WHERE <_id expr> IN (?, ...)``,
# so one command reads a batch of documents by _id from the index instead of scanning the table
# (the feeds read the entries and articles of a batch, and the languages of a rendered page, so).
IDS_IN_GO = """// cityfeedsIDsIn (added by cityfeeds stack.py): WHERE of {_id: {$in: [strings]}}.
func cityfeedsIDsIn(d *types.Document) (string, []any) {
\tin, err := d.Get("$in")
\tarr, ok := in.(*types.Array)
\tif err != nil || d.Len() != 1 || !ok || arr.Len() == 0 || arr.Len() > 1000 {
\t\treturn "", nil
\t}
\tmarks := make([]string, arr.Len())
\targs := make([]any, arr.Len())
\tfor i := 0; i < arr.Len(); i++ {
\t\tid, _ := arr.Get(i)
\t\tif _, isString := id.(string); !isString {
\t\t\treturn "", nil
\t\t}
\t\tmarks[i] = "?"
\t\targs[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
\t}
\treturn fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(marks, ", ")), args
}
"""
FERRETDB_PATCH: tuple[SourceEdit, ...] = (
    SourceEdit(  # the index expression: each field quoted with %q ("_id"), joined with ->
        "internal/backends/sqlite/metadata/registry.go",
        'fields[j] = fmt.Sprintf("%q", f)\n\t\t\t}\n\n'
        '\t\t\tcolumns[i] = fmt.Sprintf("%s->%s", DefaultColumn, strings.Join(fields, "->"))',
    ),
    SourceEdit(
        "internal/backends/sqlite/metadata/metadata.go",
        "IDColumn = DefaultColumn + \"->'$._id'\"",
        'IDColumn = DefaultColumn + `->"_id"` // patched by cityfeeds stack.py: use the _id index',
    ),
    SourceEdit(  # Query and Explain
        "internal/backends/sqlite/collection.go",
        '\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")',
        '\tif params.Filter.Has("_id") { // patched by cityfeeds stack.py: handlers re-filter\n'
        '\t\tv, _ := params.Filter.Get("_id")',
        count=2,
    ),
    SourceEdit(  # Query only: {_id: {$in: [strings]}} reads those rows from the index too
        "internal/backends/sqlite/collection.go",
        "\t\tcase string, types.ObjectID:\n"
        "\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n"
        "\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n",
        "\t\tcase string, types.ObjectID:\n"
        "\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n"
        "\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n"
        "\t\tcase *types.Document: // patched by cityfeeds stack.py: $in of strings by index\n"
        "\t\t\twhereClause, args = cityfeedsIDsIn(v.(*types.Document))\n",
    ),
    SourceEdit(  # the helper the case above calls, declared at package level after Query
        "internal/backends/sqlite/collection.go",
        "// InsertAll implements backends.Collection interface.\n",
        IDS_IN_GO + "\n// InsertAll implements backends.Collection interface.\n",
    ),
)


def _ferretdb_build_key(
    main_go: Path = HERE / "ferretdb" / "main.go", extra: tuple[SourceEdit, ...] = ()
) -> str:
    """Changes with the FerretDB version, the Go module files and the patch: a new cache entry."""
    digest = hashlib.sha256(FERRETDB_VERSION.encode())
    digest.update(repr(extra).encode() if extra else b"")
    for name in FERRETDB_SOURCES:
        digest.update((main_go if name == "main.go" else HERE / "ferretdb" / name).read_bytes())
    digest.update(repr(FERRETDB_PATCH).encode())
    return digest.hexdigest()[:12]


FERRETDB_BIN = CACHE / f"ferretdb-{FERRETDB_VERSION}-{_ferretdb_build_key()}" / "ferretdb-local"


class ProvisionError(RuntimeError):
    """A prerequisite is missing or a build failed; the message says what to do."""


def log(msg: str) -> None:
    print(f"[stack] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- provisioning


def _tool_version(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return ""
    return out.stdout + out.stderr


def provision_kafka() -> Path:
    """Collect the Kafka broker jars once (Maven ``copy-dependencies``)."""
    marker = KAFKA_HOME / ".complete"
    if marker.exists():
        return KAFKA_HOME
    java = _tool_version(["java", "-version"])
    if not java:
        raise ProvisionError(
            "Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless"
        )
    major = _java_major(java)
    if major < 17:
        raise ProvisionError(f"Kafka {KAFKA_VERSION} needs Java 17+, found Java {major}")
    if not shutil.which("mvn"):
        raise ProvisionError(
            "Maven is needed to fetch Kafka from Maven Central: apt-get install maven"
        )
    log(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {KAFKA_HOME}")
    libs = KAFKA_HOME / "libs"
    shutil.rmtree(KAFKA_HOME, ignore_errors=True)
    libs.mkdir(parents=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(HERE / "kafka" / "pom.xml"),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        check=True,
    )
    shutil.copy(HERE / "kafka" / "log4j2.properties", KAFKA_HOME / "log4j2.properties")
    marker.write_text(KAFKA_VERSION)
    return KAFKA_HOME


def _java_major(text: str) -> int:
    for token in text.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and ("." in token or token.isdigit()):
            return int(token.split(".")[1]) if head == "1" else int(head)
    return 0


def provision_ferretdb(
    binary: Path = FERRETDB_BIN,
    main_go: Path = HERE / "ferretdb" / "main.go",
    extra: tuple[SourceEdit, ...] = (),
) -> Path:
    """Build FerretDB v1 (SQLite backend) once from the Go module proxy, with FERRETDB_PATCH.

    ``main_go`` is the program to build with the same module files (``FERRETDB_PG_MAIN`` takes
    the backend as a flag) into ``binary``, with the ``extra`` edits besides FERRETDB_PATCH."""
    if binary.exists():
        return binary
    go = _tool_version(["go", "version"])
    if not go:
        raise ProvisionError("Go 1.24+ is needed to build FerretDB: https://go.dev/doc/install")
    build = binary.parent / "src"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    for name in FERRETDB_SOURCES:
        shutil.copy(main_go if name == "main.go" else HERE / "ferretdb" / name, build / name)
    log(f"building FerretDB {FERRETDB_VERSION} from the Go module proxy (about a minute, once)")
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-buildvcs=false",
        "GOWORK": "off",
    }
    # Vendoring gives a private, writable copy of the module sources to patch.
    vendor = ["go", "mod", "vendor"]
    if subprocess.run(vendor, cwd=build, env=env, check=False).returncode != 0:
        log("go mod vendor failed; retrying without the Go checksum database (GOSUMDB=off)")
        subprocess.run(vendor, cwd=build, env={**env, "GOSUMDB": "off"}, check=True)
    _patch_ferretdb(build / "vendor" / "github.com" / "FerretDB" / "FerretDB", extra)
    built = build / binary.name
    subprocess.run(
        ["go", "build", "-mod=vendor", "-ldflags=-checklinkname=0", "-o", str(built), "."],
        cwd=build,
        env=env,
        check=True,
    )
    shutil.rmtree(build / "vendor")
    built.replace(binary)  # last, and atomic: the binary is the "build complete" marker
    log(f"built {binary}")
    return binary


def _patch_ferretdb(module: Path, extra: tuple[SourceEdit, ...] = ()) -> None:
    for edit in FERRETDB_PATCH + extra:
        path = module / edit.path
        text = path.read_text()
        found = text.count(edit.old)
        if found != edit.count:
            raise ProvisionError(
                f"FerretDB {FERRETDB_VERSION} patch: expected the text {edit.old!r} "
                f"{edit.count} time(s) in "
                f"{edit.path}, found it {found} times; review FERRETDB_PATCH in {__file__}"
            )
        if edit.new is None:
            log(f"patch: checked {edit.path}")
            continue
        path.chmod(0o644)
        path.write_text(text.replace(edit.old, edit.new))
        log(f"patch: {edit.path}: {edit.old!r} -> {edit.new!r}")


# --------------------------------------------------------------------------- readiness probes


def kafka_brokers(host: str, port: int, timeout: float = 1.0) -> int:
    """How many brokers a Metadata (v4) request's answer lists: 0 while the broker does not
    accept clients; in a cluster, fewer than its nodes until every one has registered."""
    client = b"stack"
    body = struct.pack(">i", -1) + b"\x00"  # all topics, no auto-creation
    header = struct.pack(">hhih", 3, 4, 7, len(client)) + client
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv(sock, 4))[0]
            payload = _recv(sock, size)
    except (OSError, struct.error):
        return 0
    correlation, _throttle, brokers = struct.unpack(">iii", payload[:12])
    return brokers if correlation == 7 else 0


def kafka_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """The broker accepts clients (its metadata lists a broker)."""
    return kafka_brokers(host, port, timeout) > 0


def mongo_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """An OP_MSG ``ping`` answered with ``ok``."""
    doc = (
        b"\x10ping\x00"
        + struct.pack("<i", 1)
        + b"\x02$db\x00"
        + struct.pack("<i", 6)
        + b"admin\x00"
    )
    doc = struct.pack("<i", len(doc) + 5) + doc + b"\x00"
    msg = struct.pack("<I", 0) + b"\x00" + doc
    packet = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            size = struct.unpack("<i", _recv(sock, 4))[0]
            reply = _recv(sock, size - 4)
    except (OSError, struct.error):
        return False
    return b"ok\x00" in reply


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    """A background process with a pid file and a log file under the state directory."""

    name: str
    state: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO

    @property
    def pidfile(self) -> Path:
        return self.state / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self) -> int:
        running = self.pid()
        if running:
            return running
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as out:
            proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
        pid = self.pid()
        if not pid:
            self.pidfile.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, sig)
        except OSError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = 0
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        # A zombie of someone else's counts as gone.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.split(")")[-1].split()[0] != "Z"
    return done == 0


def wait_until(
    check: Callable[[], bool], what: str, timeout: float, proc: Process | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.pid() is None:
            raise RuntimeError(f"{what} exited during start-up; see {proc.logfile}")
        time.sleep(0.1)
    raise TimeoutError(
        f"{what} not ready after {timeout:.0f}s" + (f"; see {proc.logfile}" if proc else "")
    )


@dataclass
class Kafka:
    """One KRaft node, broker and controller in one process, on 127.0.0.1: alone (the default),
    or one of a :class:`KafkaCluster`'s nodes, which share a static controller quorum."""

    state: Path
    port: int = 9092
    controller_port: int = 9093
    node_id: int = 1
    #: ``1@127.0.0.1:9093,2@...``: the cluster's controllers; empty for a node on its own.
    voters: str = ""
    #: Replicas of the broker's own topics (group offsets, transactions) and its default.
    replication_factor: int = 1
    cluster_id: str = ""  # a cluster's nodes are formatted with one id; alone, a new one

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """Its process's name (pid and log file): ``kafka``, or ``kafka-N`` in a cluster."""
        return f"kafka-{self.node_id}" if self.voters else "kafka"

    @property
    def home(self) -> Path:
        return self.state / self.name

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def process(self) -> Process:
        home = KAFKA_HOME
        return Process(
            self.name,
            self.state,
            [
                "java",
                "-Xms256m",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.state / 'logs'}",
                "-cp",
                f"{home / 'libs'}/*",
                "kafka.Kafka",
                str(self.config_path),
            ],
        )

    @property
    def config_path(self) -> Path:
        return self.home / "server.properties"

    def write_config(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        quorum = (
            f"controller.quorum.voters={self.voters}"
            if self.voters
            else f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"
        )
        replicas = self.replication_factor
        # acks=all then needs two copies of three: one broker may be down, nothing acknowledged
        # is ever on one disk only (docs/operations.md).
        min_isr = max(1, replicas - 1)
        self.config_path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    quorum,
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=6",
                    # Services create their topics with the partition count they want.
                    "auto.create.topics.enable=false",
                    f"offsets.topic.replication.factor={replicas}",
                    "offsets.topic.num.partitions=6",
                    f"transaction.state.log.replication.factor={replicas}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={replicas}",
                    f"share.coordinator.state.topic.min.isr={min_isr}",
                    f"min.insync.replicas={min_isr}",
                    f"default.replication.factor={replicas}",
                    "group.initial.rebalance.delay.ms=0",
                    "message.max.bytes=10485760",
                    "log.retention.hours=-1",
                    "",
                ]
            )
        )

    def format(self) -> None:
        """Format the data folder once: alone, as its own quorum (``--standalone``); in a
        cluster, with the cluster's id and the static quorum of its configuration."""
        if (self.data / "meta.properties").exists():
            return
        mode = [] if self.voters else ["--standalone"]
        subprocess.run(
            [
                "java",
                "-cp",
                f"{KAFKA_HOME / 'libs'}/*",
                f"-Dlog4j2.configurationFile={KAFKA_HOME / 'log4j2.properties'}",
                "kafka.tools.StorageTool",
                "format",
                # One argument: an id may start with "-", which argparse takes for an option.
                f"--cluster-id={self.cluster_id or _cluster_id()}",
                "-c",
                str(self.config_path),
                *mode,
                "--ignore-formatted",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def launch(self) -> Process:
        """Configure, format when new, and start the process; without waiting for it."""
        provision_kafka()
        self.write_config()
        self.format()
        proc = self.process
        proc.start()
        return proc

    def start(self, timeout: float = 90.0, brokers: int = 1) -> None:
        """Start, and wait until it answers clients with ``brokers`` brokers in its metadata."""
        proc = self.launch()
        wait_until(
            lambda: kafka_brokers("127.0.0.1", self.port) >= brokers,
            f"Kafka on {self.bootstrap}",
            timeout,
            proc,
        )

    def stop(self) -> None:
        self.process.stop(timeout=30)


def _cluster_id() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaCluster:
    """Several :class:`Kafka` nodes on this machine, each its own process, ports and data
    folder, in one static KRaft quorum; topics replicated up to three times with
    ``min.insync.replicas`` one less (``make run CLUSTER=3``; tests/cluster)."""

    state: Path
    nodes: list[Kafka]

    @classmethod
    def local(cls, state: Path, size: int, ports: Sequence[int] = ()) -> KafkaCluster:
        """``size`` nodes; ``ports`` (a broker and a controller port per node) or, by default,
        9092 and 9093 for node 1, 9094 and 9095 for node 2, and so on."""
        ports = list(ports) or list(range(9092, 9092 + 2 * size))
        if len(ports) != 2 * size:
            raise ValueError(f"{size} nodes need {2 * size} ports, got {len(ports)}")
        voters = ",".join(f"{n + 1}@127.0.0.1:{ports[2 * n + 1]}" for n in range(size))
        id_file = state / "kafka-cluster.id"
        if not id_file.exists():
            state.mkdir(parents=True, exist_ok=True)
            id_file.write_text(_cluster_id())
        cluster_id = id_file.read_text().strip()
        replicas = min(3, size)
        nodes = [
            Kafka(state, ports[2 * n], ports[2 * n + 1], n + 1, voters, replicas, cluster_id)
            for n in range(size)
        ]
        return cls(state, nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def replication_factor(self) -> int:
        return self.nodes[0].replication_factor

    def node(self, node_id: int) -> Kafka:
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self, timeout: float = 120.0) -> None:
        """Start every node (a quorum needs most of them before any answers), then wait until
        each answers with every broker registered."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.start(timeout, brokers=len(self.nodes))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def running_kafka(state: Path) -> Kafka | KafkaCluster:
    """What ``up`` started in ``state``: the cluster whose size it wrote, else the one node."""
    try:
        size = int((state / "kafka.nodes").read_text())
    except (OSError, ValueError):
        size = 1
    return KafkaCluster.local(state, size) if size > 1 else Kafka(state)


def kafka_nodes(value: int | None = None) -> int:
    """Kafka's node count: ``value`` (an option), else ``$CITYFEEDS_KAFKA_NODES``, else 1."""
    raw = value if value is not None else os.environ.get("CITYFEEDS_KAFKA_NODES") or 1
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise ProvisionError(f"the Kafka node count must be 1 or more (CLUSTER), not {raw!r}")
    return size


@dataclass
class FerretDB:
    state: Path
    port: int = 27017
    backend: str = "sqlite"  # or "postgresql", on postgresql_url (see PostgreSQL below)
    postgresql_url: str = ""

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def process(self) -> Process:
        if self.backend == "postgresql":
            argv = [str(FERRETDB_PG_BIN), f"-listen=127.0.0.1:{self.port}", "-handler=postgresql"]
            return Process(
                "ferretdb", self.state, [*argv, f"-postgresql-url={self.postgresql_url}"]
            )
        return Process(
            "ferretdb",
            self.state,
            [
                str(FERRETDB_BIN),
                f"-listen=127.0.0.1:{self.port}",
                f"-data-dir={self.state / 'ferretdb'}",
            ],
        )

    @property
    def backend_file(self) -> Path:
        return self.state / "ferretdb.backend"

    def running_backend(self) -> str | None:
        """The backend of the FerretDB running in this state directory, if one runs."""
        if self.process.pid() is None:
            return None
        try:
            return self.backend_file.read_text().strip()
        except OSError:
            return "sqlite"

    def start(self, timeout: float = 30.0) -> None:
        if self.backend == "postgresql":
            provision_ferretdb(FERRETDB_PG_BIN, FERRETDB_PG_MAIN, FERRETDB_PG_PATCH)
        else:
            provision_ferretdb()
        proc = self.process
        proc.start()
        self.backend_file.write_text(self.backend)
        wait_until(
            lambda: mongo_ready("127.0.0.1", self.port), f"FerretDB on {self.uri}", timeout, proc
        )

    def stop(self) -> bool:
        return self.process.stop()


# --------------------------------------------------------------------------- PostgreSQL backend
# FerretDB on PostgreSQL instead of SQLite (CITYFEEDS_DB_BACKEND=postgresql, or `up --db-backend`):
# Debian's PostgreSQL as a private cluster in the state directory, on 127.0.0.1 only, no system
# service. docs/database.md has the measurements that keep SQLite the default.

DB_BACKENDS = ("sqlite", "postgresql")
POSTGRESQL_PORT = 55432  # not 5432, where a system cluster would listen
POSTGRESQL_USER = "cityfeeds"  # the cluster's superuser; trust authentication, 127.0.0.1 only
POSTGRESQL_OS_USER = "postgres"  # whom the server runs as when we are root: it refuses root
FERRETDB_PG_MAIN = HERE / "postgres" / "main.go"  # ../ferretdb/main.go with a -handler flag
# The PostgreSQL backend's reads by _id scan the table too: its pushdown of a top-level equality
# is ``_jsonb->$1 @> $2`` (the field name a parameter, jsonb containment), which the unique
# index on ``(_jsonb->'_id')`` cannot serve ("Seq Scan", every document's jsonb read). A string
# _id becomes ``_jsonb->'_id' = $n``, the indexed expression ("Index Scan"); the other fields
# are pushed down as before, and handlers filter the rows again with the whole filter.
FERRETDB_PG_PATCH: tuple[SourceEdit, ...] = (
    SourceEdit(
        "internal/backends/postgresql/query.go",
        "\t\tswitch v := rootVal.(type) {\n\t\tcase *types.Document:\n",
        '\t\tif id, ok := rootVal.(string); ok && rootKey == "_id" { // patched by cityfeeds\n'
        "\t\t\tfilters = append(filters, fmt.Sprintf(`%s = %s`, metadata.IDColumn, p.Next()))\n"
        "\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))\n"
        "\t\t\tcontinue\n"
        "\t\t}\n\n"
        "\t\tswitch v := rootVal.(type) {\n\t\tcase *types.Document:\n",
    ),
)
FERRETDB_PG_BIN = (
    CACHE
    / f"ferretdb-{FERRETDB_VERSION}-{_ferretdb_build_key(FERRETDB_PG_MAIN, FERRETDB_PG_PATCH)}"
    / "ferretdb-local"
)


def db_backend(value: str | None = None) -> str:
    """The database backend: ``value`` (an option), else ``$CITYFEEDS_DB_BACKEND``, else sqlite."""
    backend = (value or os.environ.get("CITYFEEDS_DB_BACKEND") or "sqlite").strip().lower()
    if backend not in DB_BACKENDS:
        raise ProvisionError(
            f"unknown database backend {backend!r} (CITYFEEDS_DB_BACKEND or --db-backend): "
            + " or ".join(DB_BACKENDS)
        )
    return backend


def postgresql_bindir() -> Path | None:
    """The directory with initdb, postgres and pg_isready: pg_ctl's on PATH, else Debian's
    newest ``/usr/lib/postgresql/N/bin`` (Debian does not put initdb on PATH)."""
    on_path = shutil.which("pg_ctl")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + debian
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "postgres", "pg_isready")):
            return folder
    return None


def provision_postgresql() -> Path:
    """PostgreSQL's programs, installing Debian's ``postgresql`` with apt-get when missing."""
    found = postgresql_bindir()
    if found:
        return found
    apt = shutil.which("apt-get")
    root, sudo = os.geteuid() == 0, shutil.which("sudo")
    if apt is None or (not root and sudo is None):
        raise ProvisionError(
            "PostgreSQL is needed for CITYFEEDS_DB_BACKEND=postgresql: install Debian's "
            "postgresql (apt-get install postgresql) as root, or use the default sqlite backend"
        )
    prefix = [] if root else [str(sudo)]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = [*prefix, apt, "install", "-y", "-qq", "--no-install-recommends", "postgresql"]
    log(f"installing Debian's postgresql: {' '.join(command)}")
    if subprocess.run(command, env=env, check=False).returncode != 0:
        subprocess.run([*prefix, apt, "update", "-qq"], env=env, check=False)
        subprocess.run(command, env=env, check=False)
    found = postgresql_bindir()
    if found is None:
        raise ProvisionError(
            "could not install Debian's postgresql with apt-get (see above); install it, or use "
            "the default sqlite backend"
        )
    return found


def _as_server_user() -> list[str]:
    """The prefix that runs a PostgreSQL program as an ordinary user: setpriv (which execs, so
    the pid we keep is the server's own) to ``postgres`` when we are root, nothing otherwise."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    try:
        import pwd

        pwd.getpwnam(POSTGRESQL_OS_USER)
    except KeyError:
        setpriv = None
    if setpriv is None:
        raise ProvisionError(
            f"PostgreSQL refuses to run as root: create a {POSTGRESQL_OS_USER!r} user (Debian's "
            "postgresql package does) with setpriv (util-linux) available, or run as another user"
        )
    user = POSTGRESQL_OS_USER
    return [setpriv, f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env", "--"]


@dataclass
class PostgreSQL:
    """A private PostgreSQL cluster under ``state/postgresql`` on 127.0.0.1:``port``."""

    state: Path
    port: int = POSTGRESQL_PORT

    @property
    def datadir(self) -> Path:
        return self.state / "postgresql" / "data"

    @property
    def url(self) -> str:
        return f"postgres://{POSTGRESQL_USER}@127.0.0.1:{self.port}/postgres"

    def process(self, bindir: Path | None = None) -> Process:
        """The server in the foreground (its log is the process log), unix sockets off; without
        ``bindir``, only its pid file and log (to stop it, or read the log)."""
        if bindir is None:
            return Process("postgresql", self.state)
        argv = [str(bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        return Process("postgresql", self.state, [*_as_server_user(), *argv])

    def ready(self, bindir: Path) -> bool:
        probe = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        probe += ["-U", POSTGRESQL_USER, "-d", "postgres"]  # else it logs "role root" failures
        return subprocess.run(probe, check=False, timeout=10).returncode == 0

    def init(self, bindir: Path) -> None:
        """initdb once, as the server's user (who must own the directory and reach it)."""
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        prefix = _as_server_user()
        if prefix:
            shutil.chown(self.datadir.parent, POSTGRESQL_OS_USER, POSTGRESQL_OS_USER)
            shutil.chown(self.datadir, POSTGRESQL_OS_USER, POSTGRESQL_OS_USER)
            reach = [*prefix, "test", "-w", str(self.datadir)]
            if subprocess.run(reach, check=False).returncode != 0:
                raise ProvisionError(
                    f"the {POSTGRESQL_OS_USER!r} user cannot reach {self.datadir}: make its "
                    "parent directories searchable (chmod o+x) or set CITYFEEDS_STATE elsewhere"
                )
        initdb = [str(bindir / "initdb"), "-D", str(self.datadir), "-U", POSTGRESQL_USER]
        initdb += ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"]
        out = subprocess.run([*prefix, *initdb], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {(out.stderr or out.stdout).strip()[-500:]}")

    def start(self, timeout: float = 60.0) -> None:
        bindir = provision_postgresql()
        self.init(bindir)
        proc = self.process(bindir)
        proc.start()
        what = f"PostgreSQL on 127.0.0.1:{self.port}"
        wait_until(partial(self.ready, bindir), what, timeout, proc)

    def stop(self) -> bool:
        """A fast shutdown (SIGINT: clients are cut off, the data stays consistent)."""
        return self.process().stop(timeout=60, sig=signal.SIGINT)


def start_database(
    state: Path, backend: str, port: int = 27017, postgresql_port: int = POSTGRESQL_PORT
) -> FerretDB:
    """FerretDB on ``backend``, and the PostgreSQL cluster under it when that is the backend.
    A FerretDB already running here on the other backend is an error, not silently kept."""
    running = FerretDB(state, port).running_backend()
    if running and running != backend:
        raise RuntimeError(
            f"FerretDB is already running on {running} in {state}: stop it first (make stop)"
        )
    ferretdb = FerretDB(state, port)
    if backend == "postgresql":
        cluster = PostgreSQL(state, postgresql_port)
        cluster.start()
        ferretdb = FerretDB(state, port, backend=backend, postgresql_url=cluster.url)
    ferretdb.start()
    return ferretdb


def stop_database(state: Path) -> list[str]:
    """Stop FerretDB, then the PostgreSQL cluster if one runs: the names of those stopped."""
    stopped = ["FerretDB"] if FerretDB(state).stop() else []
    return stopped + (["PostgreSQL"] if PostgreSQL(state).stop() else [])


# --------------------------------------------------------------------------- the services

SERVICES = ("ingest", "translate", "feeds")


def service_process(
    name: str, state: Path, env: dict[str, str], python: str = sys.executable
) -> Process:
    return Process(name, state, [python, "-m", f"services.{name}"], env=env)


# --------------------------------------------------------------------------- CLI


def _state_dir() -> Path:
    return Path(os.environ.get("CITYFEEDS_STATE", REPO / "var"))


def infra_env(state: Path) -> dict[str, str]:
    """Connection settings: the external servers when given, else the local ones; on a local
    cluster, topics replicated as often as it allows (unless TOPIC_REPLICATION_FACTOR says)."""
    kafka = running_kafka(state)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or kafka.bootstrap,
        "MONGODB_URI": os.environ.get("MONGODB_URI") or FerretDB(state).uri,
    }
    if isinstance(kafka, KafkaCluster) and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        env["TOPIC_REPLICATION_FACTOR"] = os.environ.get(
            "TOPIC_REPLICATION_FACTOR", str(kafka.replication_factor)
        )
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (as ``docker run --env-file`` reads them): no quoting, ``#`` comments
    and blank lines skipped. A missing file is no settings."""
    settings: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return settings
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise RuntimeError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        settings[key.strip()] = value
    return settings


def service_env(state: Path, env_file: Path | None = None) -> dict[str, str]:
    """What the services get besides this process's environment: the connection settings, and
    the settings of ``env_file`` that the environment does not set itself (it always wins)."""
    env = infra_env(state)
    if env_file is not None:
        for key, value in read_env_file(env_file).items():
            if key not in os.environ:
                env[key] = value
                log(f"{key}={value} (from {env_file})")
    return env


def cmd_provision(args: argparse.Namespace) -> None:
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        log(f"Kafka {KAFKA_VERSION}: {provision_kafka()}")
    if not os.environ.get("MONGODB_URI") and db_backend(args.db_backend) == "postgresql":
        log(f"PostgreSQL: {provision_postgresql()}")
        binary = provision_ferretdb(FERRETDB_PG_BIN, FERRETDB_PG_MAIN, FERRETDB_PG_PATCH)
        log(f"FerretDB {FERRETDB_VERSION} with a -handler flag: {binary}")
    elif not os.environ.get("MONGODB_URI"):
        cached = FERRETDB_BIN.exists()
        path = provision_ferretdb()
        log(
            f"FerretDB {FERRETDB_VERSION}, patched to use the _id index "
            f"({len(FERRETDB_PATCH)} source checks/edits): {'cached' if cached else 'built'} {path}"
        )


def cmd_up(args: argparse.Namespace) -> None:
    state = _state_dir()
    state.mkdir(parents=True, exist_ok=True)
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        log(f"Kafka: external, {os.environ['KAFKA_BOOTSTRAP_SERVERS']}")
    else:
        start_kafka(state, kafka_nodes(args.kafka_nodes))
    if os.environ.get("MONGODB_URI"):
        log("MongoDB: external, MONGODB_URI")
    else:
        backend = db_backend(args.db_backend)
        uri = start_database(state, backend).uri
        log(f"FerretDB {FERRETDB_VERSION} ({backend}, local): {uri}")
    if args.infra_only:
        return
    env = service_env(state, args.env_file)
    for name in SERVICES:
        process = service_process(name, state, env, args.python)
        running = process.pid()
        if running:
            log(f"{name} already running (pid {running}): it keeps its settings; 'make stop' first")
        process.start()
    # Translate loads its engine (a model, perhaps) before it answers, so a model that does not
    # load is reported here rather than found later as feeds that never fill.
    for name, port in (("ingest", 8000), ("translate", 8001), ("feeds", 8080)):
        wait_until(partial(_http_ok, port), f"{name} HTTP on :{port}", 120, Process(name, state))
    log("services: " + ", ".join(f"{n} (pid {Process(n, state).pid()})" for n in SERVICES))


def start_kafka(state: Path, size: int) -> None:
    """One node, or a cluster of ``size``; the size is remembered for the other commands."""
    running = running_kafka(state)
    nodes = len(running.nodes) if isinstance(running, KafkaCluster) else 1
    if nodes != size and any(Process(n.name, state).pid() for n in _kafka_nodes(running)):
        raise RuntimeError(
            f"Kafka is running here with {nodes} node(s), not {size}: stop it first (make stop)"
        )
    if size == 1:
        (state / "kafka.nodes").unlink(missing_ok=True)
        Kafka(state).start()
        log(f"Kafka {KAFKA_VERSION} (KRaft, local): {Kafka(state).bootstrap}")
        return
    (state / "kafka.nodes").write_text(str(size))
    cluster = KafkaCluster.local(state, size)
    cluster.start()
    log(
        f"Kafka {KAFKA_VERSION} (KRaft, local cluster of {size}, topics replicated "
        f"{cluster.replication_factor} times): {cluster.bootstrap}"
    )


def _kafka_nodes(kafka: Kafka | KafkaCluster) -> list[Kafka]:
    return kafka.nodes if isinstance(kafka, KafkaCluster) else [kafka]


def _http_ok(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def cmd_down(_: argparse.Namespace) -> None:
    state = _state_dir()
    for name in SERVICES:
        if Process(name, state).stop():
            log(f"stopped {name}")
    for stopped in stop_database(state):
        log(f"stopped {stopped}")
    for node in _kafka_nodes(running_kafka(state)):
        if node.process.stop(timeout=30):
            log(f"stopped Kafka ({node.name})")


def cmd_status(_: argparse.Namespace) -> None:
    state = _state_dir()
    kafka = [node.name for node in _kafka_nodes(running_kafka(state))]
    for name in (*kafka, "ferretdb", "postgresql", *SERVICES):
        pid = Process(name, state).pid()
        print(f"{name:10} {'running, pid ' + str(pid) if pid else 'stopped'}")
    env = infra_env(state)
    host, port = env["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rsplit(":", 1)
    print(
        f"kafka      {env['KAFKA_BOOTSTRAP_SERVERS']}: "
        + ("ready" if kafka_ready(host, int(port)) else "not answering")
    )
    backend = FerretDB(state).running_backend()
    print(f"mongodb    {env['MONGODB_URI']}" + (f" (FerretDB on {backend})" if backend else ""))


def cmd_logs(args: argparse.Namespace) -> None:
    state = _state_dir()
    kafka = [node.name for node in _kafka_nodes(running_kafka(state))]
    names = [args.name] if args.name else [*kafka, "ferretdb", "postgresql", *SERVICES]
    for name in names:
        path = Process(name, state).logfile
        if path.exists():
            print(f"==> {path} <==")
            lines = path.read_text(errors="replace").splitlines()[-args.lines :]
            print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    provision = sub.add_parser("provision", help="fetch Kafka and build FerretDB if missing")
    provision.set_defaults(func=cmd_provision)
    up = sub.add_parser("up", help="start Kafka, FerretDB and the services")
    up.add_argument("--infra-only", action="store_true", help="start Kafka and the database only")
    up.add_argument("--python", default=sys.executable, help="interpreter that runs the services")
    up.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="KEY=VALUE settings for the services, where the environment does not set them",
    )
    up.add_argument(
        "--kafka-nodes",
        type=int,
        metavar="N",
        help="Kafka as a cluster of N nodes, topics replicated min(N, 3) times "
        "(default: $CITYFEEDS_KAFKA_NODES, else 1)",
    )
    up.set_defaults(func=cmd_up)
    for command in (provision, up):
        command.add_argument(
            "--db-backend",
            choices=DB_BACKENDS,
            help="FerretDB's storage (default: $CITYFEEDS_DB_BACKEND, else sqlite)",
        )
    sub.add_parser("down", help="stop everything started by 'up'").set_defaults(func=cmd_down)
    sub.add_parser("status", help="what is running").set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="tail the logs")
    logs.add_argument(
        "name",
        nargs="?",
        help="kafka (kafka-N in a cluster), ferretdb, postgresql, " + ", ".join(SERVICES),
    )
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=cmd_logs)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ProvisionError as exc:
        log(f"cannot provision: {exc}")
        return 2
    except (TimeoutError, RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
