"""The deployment files: the validator passes them, and catches each kind of mistake it is for.

Every "broken" case copies the files to a temporary tree, breaks one thing and checks that the
validator names it, so a check that stops working fails here.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.docker import healthcheck
from deploy.k8s import validate as v

ROOT = Path(__file__).resolve().parents[3]
Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def facts() -> v.CodeFacts:
    return v.code_facts()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the deployment files, laid out as in the repository."""
    shutil.copytree(ROOT / "deploy" / "k8s", tmp_path / "deploy" / "k8s")
    shutil.copytree(ROOT / "deploy" / "docker", tmp_path / "deploy" / "docker")
    shutil.copytree(ROOT / "deploy" / "local", tmp_path / "deploy" / "local", dirs_exist_ok=True)
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    return tmp_path


def edit(path: Path, change: Callable[[Docs], None]) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False), "utf-8")


def find(docs: Docs, kind: str, name: str | None = None) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
            return doc
    raise AssertionError(f"no {kind} {name}")


def container(docs: Docs, name: str | None = None) -> dict[str, Any]:
    deployment = find(docs, "Deployment", name)
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def pod(docs: Docs) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def env_var(docs: Docs, name: str) -> dict[str, Any]:
    for var in container(docs)["env"]:
        if var["name"] == name:
            found: dict[str, Any] = var
            return found
    raise AssertionError(name)


def messages(problems: list[v.Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# ---- the files as shipped -------------------------------------------------------------------


def test_the_deployment_files_pass(facts: v.CodeFacts) -> None:
    report = v.validate(check_dependencies=False)
    assert report.problems == [], messages(report.problems)
    assert report.manifests >= 15


def test_each_image_installs_what_its_code_imports(facts: v.CodeFacts) -> None:
    """Each image installs the core dependencies and its service's extra only (Dockerfile)."""
    problems = v.image_dependency_problems(facts)
    assert problems == [], messages(problems)


def test_the_registry_job_loads_the_sample_registry() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/config.yaml").read_text("utf-8")))
    data = find(docs, "ConfigMap", "city-syndication-registry")["data"]
    assert data["registry.yaml"] == (ROOT / "deploy/local/registry.yaml").read_text("utf-8")
    assert data["glossary.yaml"] == (ROOT / "deploy/local/glossary.yaml").read_text("utf-8")


# ---- Kubernetes manifests, each broken one way ----------------------------------------------


def _drop_non_root(docs: Docs) -> None:
    pod(docs)["securityContext"].pop("runAsNonRoot")
    container(docs)["securityContext"].pop("runAsNonRoot")


def _drop_startup_probe(docs: Docs) -> None:
    container(docs).pop("startupProbe")


def _unknown_field(docs: Docs) -> None:
    container(docs)["livenesProbe"] = container(docs).pop("livenessProbe")


def _drop_shared_config(docs: Docs) -> None:
    docs.remove(find(docs, "ConfigMap", "city-syndication"))


def _set(path: str, value: Any, kind: str, name: str | None = None) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        node: Any = find(docs, kind, name)
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _config(key: str, value: str) -> Callable[[Docs], None]:
    return _set(f"data.{key}", value, "ConfigMap", "city-syndication")


def _rename_env(old: str, new: str) -> Callable[[Docs], None]:
    return lambda docs: env_var(docs, old).update(name=new)


def _registry_with_unknown_member(docs: Docs) -> None:
    data = find(docs, "ConfigMap", "city-syndication-registry")["data"]
    data["registry.yaml"] = data["registry.yaml"].replace(
        "members: [mashhad, tehran, gorgan]", "members: [mashhad, tehran, shiraz]"
    )


def _route(path: str, path_type: str = "Prefix", rule: int = 0) -> Callable[[Docs], None]:
    """Add a path to an Ingress rule, to the service that rule already routes to."""

    def change(docs: Docs) -> None:
        paths = find(docs, "Ingress")["spec"]["rules"][rule]["http"]["paths"]
        paths.append({**paths[0], "path": path, "pathType": path_type})

    return change


def _default_backend(docs: Docs) -> None:
    ingress = find(docs, "Ingress")
    ingress["spec"]["defaultBackend"] = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]


CTR = "spec.template.spec.containers.0"
BROKEN_MANIFESTS = {
    "ingress routes the metrics": ("ingress.yaml", _route("/metrics"), "routes /metrics"),
    "ingress routes everything": ("ingress.yaml", _route("/"), "routes /readyz"),
    "ingress routes the admin API": ("ingress.yaml", _route("/admin"), "routes /admin"),
    "ingress routes the editors' docs": (
        "ingress.yaml",
        _route("/openapi.json", "Exact", rule=1),
        "routes /openapi.json",
    ),
    "ingress routes probes by regex": (
        "ingress.yaml",
        _route("/health", "ImplementationSpecific"),
        "routes /healthz",
    ),
    "ingress default backend": ("ingress.yaml", _default_backend, "defaultBackend"),
    "ingress to a missing service": (
        "ingress.yaml",
        _set("spec.rules.0.http.paths.0.backend.service.name", "feedz", "Ingress"),
        "backend Service feedz not found",
    ),
    "ingress not at the public URL": (
        "ingress.yaml",
        _set("spec.rules.0.host", "news.example.org", "Ingress"),
        "no Ingress rule routes FEEDS_PUBLIC_URL's host feeds.example.org",
    ),
    "container may run as root": ("ingest.yaml", _drop_non_root, "runAsNonRoot is not true"),
    "root uid": (
        "feeds.yaml",
        _set(f"{CTR}.securityContext.runAsUser", 0, "Deployment"),
        "runAsUser is 0",
    ),
    "writable root": (
        "ingest.yaml",
        _set(f"{CTR}.securityContext.readOnlyRootFilesystem", False, "Deployment"),
        "readOnlyRootFilesystem is not true",
    ),
    "capabilities kept": (
        "feeds.yaml",
        _set(f"{CTR}.securityContext.capabilities", {"drop": ["NET_RAW"]}, "Deployment"),
        "drop does not include ALL",
    ),
    "no seccomp": (
        "ingest.yaml",
        _set(
            "spec.template.spec.securityContext.seccompProfile",
            {"type": "Unconfined"},
            "Deployment",
        ),
        "seccompProfile is Unconfined",
    ),
    "selector mismatch": (
        "feeds.yaml",
        _set("spec.selector", {"app.kubernetes.io/component": "feedz"}, "Service"),
        "matches no Deployment's pods",
    ),
    "service port name": (
        "ingest.yaml",
        _set("spec.ports.0.targetPort", "web", "Service"),
        "targetPort web is not a port",
    ),
    "deployment selector vs labels": (
        "translate.yaml",
        _set("spec.selector.matchLabels", {"app": "translate"}, "Deployment"),
        "selector does not match the pod template's labels",
    ),
    "PDB selects nothing": (
        "feeds.yaml",
        _set("spec.selector.matchLabels", {"app": "feeds"}, "PodDisruptionBudget"),
        "matches no Deployment's pods",
    ),
    "KEDA past the partitions": (
        "translate.yaml",
        _set("spec.maxReplicaCount", 24, "ScaledObject"),
        "maxReplicaCount 24 > TOPIC_PARTITIONS 12",
    ),
    "KEDA wrong group": (
        "ingest.yaml",
        _set("spec.triggers.0.metadata.consumerGroup", "ingest-group", "ScaledObject"),
        "ingest's consumer group is 'ingest'",
    ),
    "KEDA topic not consumed": (
        "ingest.yaml",
        _set("spec.triggers.0.metadata.topic", "articles.translated", "ScaledObject"),
        "topic articles.translated: group ingest consumes",
    ),
    "KEDA number not a string": (
        "translate.yaml",
        _set("spec.triggers.0.metadata.lagThreshold", 20, "ScaledObject"),
        "20 is not of type 'string'",
    ),
    "KEDA unknown metadata": (
        "translate.yaml",
        _set("spec.triggers.0.metadata.lagTreshold", "20", "ScaledObject"),
        "unknown metadata lagTreshold (did you mean lagThreshold?)",
    ),
    "KEDA other brokers": (
        "ingest.yaml",
        _set("spec.triggers.0.metadata.bootstrapServers", "kafka:9092", "ScaledObject"),
        "is not the service's KAFKA_BOOTSTRAP_SERVERS",
    ),
    "KEDA target missing": (
        "translate.yaml",
        _set("spec.scaleTargetRef.name", "translator", "ScaledObject"),
        "scaleTargetRef Deployment translator not found",
    ),
    "replicas beside an autoscaler": (
        "feeds.yaml",
        _set("spec.replicas", 3, "Deployment"),
        "sets replicas although",
    ),
    "env name not a setting": (
        "ingest.yaml",
        _rename_env("INGEST_HTTP_PORT", "INGEST_HTTP_PROT"),
        "env INGEST_HTTP_PROT is not a setting of ingest (did you mean INGEST_HTTP_PORT?)",
    ),
    "another service's setting": (
        "feeds.yaml",
        _rename_env("FEEDS_HTTP_HOST", "INGEST_HTTP_HOST"),
        "env INGEST_HTTP_HOST is not a setting of feeds",
    ),
    "shared key not a setting": (
        "config.yaml",
        _config("KAFKA_SERVERS", "kafka:9092"),
        "KAFKA_SERVERS is not a setting of any service",
    ),
    "setting value invalid": (
        "config.yaml",
        _config("LOG_FORMAT", "xml"),
        "invalid shared settings: log_format",
    ),
    "partitions not a number": (
        "config.yaml",
        _config("TOPIC_PARTITIONS", "many"),
        "invalid shared settings: topic_partitions",
    ),
    "service bound to loopback": (
        "feeds.yaml",
        lambda docs: env_var(docs, "FEEDS_HTTP_HOST").update(value="127.0.0.1"),
        "FEEDS_HTTP_HOST=127.0.0.1",
    ),
    "port differs from the probes": (
        "ingest.yaml",
        lambda docs: env_var(docs, "INGEST_HTTP_PORT").update(value="9000"),
        "no containerPort named http at the service's port 9000",
    ),
    "missing ConfigMap": (
        "config.yaml",
        _drop_shared_config,
        "envFrom ConfigMap city-syndication not found",
    ),
    "missing Secret key": (
        "secret.yaml",
        lambda docs: find(docs, "Secret")["stringData"].pop("FEEDS_ADMIN_TOKEN"),
        "has no key FEEDS_ADMIN_TOKEN",
    ),
    "image latest": (
        "feeds.yaml",
        _set(f"{CTR}.image", "city-syndication/feeds:latest", "Deployment"),
        "tagged latest",
    ),
    "image untagged": (
        "ingest.yaml",
        _set(f"{CTR}.image", "city-syndication/ingest", "Deployment"),
        "has no tag",
    ),
    "no startup probe for translate": ("translate.yaml", _drop_startup_probe, "no startupProbe"),
    "readiness on the wrong path": (
        "ingest.yaml",
        _set(f"{CTR}.readinessProbe.httpGet.path", "/healthz", "Deployment"),
        "readinessProbe is not an HTTP GET of /readyz",
    ),
    "no resources": (
        "feeds.yaml",
        _set(f"{CTR}.resources", {"requests": {"cpu": "100m"}}, "Deployment"),
        "resources.limits.memory is not set",
    ),
    "short grace period": (
        "translate.yaml",
        _set("spec.template.spec.terminationGracePeriodSeconds", 30, "Deployment"),
        "terminationGracePeriodSeconds 30 < 35",
    ),
    "scrape port": (
        "feeds.yaml",
        _set("spec.template.metadata.annotations", {"prometheus.io/scrape": "true"}, "Deployment"),
        "prometheus.io/port is not '8080'",
    ),
    "service links on": (
        "ingest.yaml",
        _set("spec.template.spec.enableServiceLinks", True, "Deployment"),
        "enableServiceLinks is not false",
    ),
    "unknown field (strict schema)": ("translate.yaml", _unknown_field, "livenesProbe"),
    "schema type": (
        "feeds.yaml",
        _set("spec.minReplicas", "two", "HorizontalPodAutoscaler"),
        "'two' is not of type 'integer'",
    ),
    "registry does not load": (
        "config.yaml",
        _registry_with_unknown_member,
        "registry.yaml does not load",
    ),
    "job reads a file the ConfigMap lacks": (
        "registry-job.yaml",
        _set("spec.template.spec.initContainers.0.command.4", "/config/registry.yml", "Job"),
        "/config/registry.yml is not a file of ConfigMap city-syndication-registry",
    ),
    "job container as root": (
        "registry-job.yaml",
        _set("spec.template.spec.initContainers.0.securityContext.runAsUser", 0, "Job"),
        "runAsUser is 0",
    ),
    "namespace": (
        "feeds.yaml",
        _set("metadata.namespace", "default", "Service"),
        "namespace default, not city-syndication",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MANIFESTS))
def test_a_broken_manifest_is_reported(case: str, tree: Path, facts: v.CodeFacts) -> None:
    filename, change, expected = BROKEN_MANIFESTS[case]
    k8s = tree / "deploy" / "k8s"
    edit(k8s / filename, change)
    problems, _ = v.k8s_problems(k8s, facts, v.KUBERNETES_VERSION)
    assert expected in messages(problems)


def test_the_ingress_exposes_only_public_paths() -> None:
    """Probes and metrics are for the cluster, the admin API and the API documents for operators
    (kubectl port-forward): no path the Ingress routes reaches them, on any host."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/ingress.yaml").read_text("utf-8"))]
    ingress = find([d for d in docs if d], "Ingress")
    assert "defaultBackend" not in ingress["spec"]
    routes = [
        (p["path"], p["pathType"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]
    internal = ["/healthz", "/readyz", "/metrics", "/admin", "/admin/registry", "/docs", "/redoc",
                "/openapi.json", "/"]  # fmt: skip
    for path in internal:
        assert not [r for r in routes if v.routes_path(*r, path)], path
    public = ["/feeds/mashhad/fa.atom", "/feeds.opml", "/websub", "/desk/login", "/articles",
              "/.well-known/webfinger", "/ap/feeds/mashhad/en/inbox", "/ap/inbox"]  # fmt: skip
    for path in public:
        assert [r for r in routes if v.routes_path(*r, path)], path


def test_a_manifest_left_out_of_the_kustomization_is_reported(
    tree: Path, facts: v.CodeFacts
) -> None:
    k8s = tree / "deploy" / "k8s"
    shutil.copy(k8s / "feeds.yaml", k8s / "feeds-extra.yaml")
    problems, _ = v.k8s_problems(k8s, facts, v.KUBERNETES_VERSION)
    assert "feeds-extra.yaml is not in resources" in messages(problems)


def test_translate_must_be_the_largest(tree: Path, facts: v.CodeFacts) -> None:
    k8s = tree / "deploy" / "k8s"
    edit(k8s / "translate.yaml", _set(f"{CTR}.resources.requests.memory", "128Mi", "Deployment"))
    problems, _ = v.k8s_problems(k8s, facts, v.KUBERNETES_VERSION)
    assert "requests less CPU or memory than" in messages(problems)


# ---- docker-compose.yml and the Dockerfile --------------------------------------------------


def _compose(change: Callable[[dict[str, Any]], None]) -> Callable[[Docs], None]:
    return lambda docs: change(docs[0]["services"])


BROKEN_COMPOSE = {
    "wrong SERVICE arg": (
        _compose(lambda s: s["translate"]["build"]["args"].update(SERVICE="feeds")),
        "builds SERVICE=feeds, not translate",
    ),
    "other Dockerfile": (
        _compose(lambda s: s["ingest"]["build"].update(dockerfile="Dockerfile")),
        "service ingest: builds",
    ),
    "translate host port": (
        _compose(lambda s: s["translate"].update(ports=["127.0.0.1:8001:8001"])),
        "fixed host port 127.0.0.1:8001:8001",
    ),
    "fixed feeds host port": (
        _compose(lambda s: s["feeds"].update(ports=["127.0.0.1:8080:8080"])),
        "`docker compose up --scale feeds=N` would clash",
    ),
    "env name": (
        _compose(lambda s: s["ingest"]["environment"].update(INGEST_PORT="8000")),
        "environment INGEST_PORT is not a setting of ingest",
    ),
    "no registry loader": (_compose(lambda s: s.pop("registry")), "no one-shot registry service"),
    "no healthcheck": (
        _compose(lambda s: s["feeds"].update(healthcheck={"disable": True})),
        "service feeds: no healthcheck",
    ),
    "short stop": (
        _compose(lambda s: s["ingest"].update(stop_grace_period="10s")),
        "stop_grace_period under 35s",
    ),
    "unofficial kafka": (
        _compose(lambda s: s["kafka"].update(image="bitnami/kafka:3.7")),
        "not the official apache/kafka: image",
    ),
    "missing volume source": (
        _compose(lambda s: s["registry"].update(volumes=["./deploy/local/nope.yaml:/x.yaml:ro"])),
        "volume source ./deploy/local/nope.yaml does not exist",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_COMPOSE))
def test_a_broken_compose_file_is_reported(case: str, tree: Path, facts: v.CodeFacts) -> None:
    change, expected = BROKEN_COMPOSE[case]
    compose, dockerfile = tree / "docker-compose.yml", tree / "deploy" / "docker" / "Dockerfile"
    assert v.compose_problems(compose, dockerfile, facts) == []
    edit(compose, change)
    assert expected in messages(v.compose_problems(compose, dockerfile, facts))


BROKEN_DOCKERFILE = {
    "root user": (("USER 10001:10001", "USER root"), "USER root: want a numeric non-root uid"),
    "no user": (("USER 10001:10001\n", ""), "USER (none: root)"),
    "wrong port": (("EXPOSE 8080", "EXPOSE 9090"), "does not EXPOSE the settings' port 8080"),
    "build tools at runtime": (
        ("WORKDIR /opt/app", "WORKDIR /opt/app\nRUN apt-get install -y gcc"),
        "`apt-get install` in the runtime stage",
    ),
    "no service choice": (("FROM svc-${SERVICE}", "FROM svc-feeds"), "does not pick SERVICE"),
    "unpinned base": (
        ("FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime", "FROM python AS runtime"),
        "FROM python: image python has no tag",
    ),
    "old python": (("ARG PYTHON_VERSION=3.11", "ARG PYTHON_VERSION=3.10"), "outside >=3.11"),
    "loopback": (("FEEDS_HTTP_HOST=0.0.0.0", "FEEDS_HTTP_HOST=127.0.0.1"), "FEEDS_HTTP_HOST"),
    "wrong command": (
        ('CMD ["python", "-m", "services.ingest"]', 'CMD ["python", "-m", "services.feeds"]'),
        "CMD does not run python -m services.ingest",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_DOCKERFILE))
def test_a_broken_dockerfile_is_reported(case: str, tree: Path, facts: v.CodeFacts) -> None:
    (old, new), expected = BROKEN_DOCKERFILE[case]
    dockerfile = tree / "deploy" / "docker" / "Dockerfile"
    assert v.dockerfile_problems(dockerfile, facts) == []
    text = dockerfile.read_text("utf-8")
    assert old in text
    dockerfile.write_text(text.replace(old, new), "utf-8")
    assert expected in messages(v.dockerfile_problems(dockerfile, facts))


def test_an_import_the_image_does_not_install_is_reported(
    tmp_path: Path, facts: v.CodeFacts
) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    without = re.sub(r"^feeds = \[.*?\]$", "feeds = []", pyproject, count=1, flags=re.M | re.S)
    assert without != pyproject
    broken = tmp_path / "pyproject.toml"
    broken.write_text(without, "utf-8")
    problems = messages(v.image_dependency_problems(facts, pyproject=broken))
    assert "imports feedgen (feedgen), which neither the core dependencies nor the `feeds`" in (
        problems
    )


def test_the_command_line_reports_and_fails(tree: Path) -> None:
    k8s = tree / "deploy" / "k8s"
    edit(k8s / "ingest.yaml", _drop_non_root)
    result = subprocess.run(
        [sys.executable, "-m", "deploy.k8s.validate", "--k8s", str(k8s)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "ERROR ingest.yaml: Deployment/ingest container ingest: securityContext.runAsNonRoot"
        in (result.stdout)
    )


def test_dockerfile_parsing_joins_continuations_and_drops_comments() -> None:
    instructions, stages = v.parse_dockerfile(
        "ARG A=1\nFROM x:1 AS one\nRUN a \\\n  # note\n  && b\nFROM one AS two\nUSER 5\n"
    )
    assert [(i.op, i.args) for i in instructions] == [
        ("ARG", "A=1"),
        ("FROM", "x:1 AS one"),
        ("RUN", "a && b"),
        ("FROM", "one AS two"),
        ("USER", "5"),
    ]
    assert [(s.name, s.base) for s in stages] == [("one", "x:1"), ("two", "one")]


# ---- the image's HEALTHCHECK ----------------------------------------------------------------


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_asks_the_service_port(
    health_server: tuple[int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, status = health_server
    monkeypatch.setenv("SERVICE", "feeds")
    monkeypatch.setenv("FEEDS_HTTP_PORT", str(port))
    assert healthcheck.main() == 0
    status[0] = 503
    assert healthcheck.main() == 1
    monkeypatch.delenv("SERVICE")
    assert healthcheck.main() == 1


def test_healthcheck_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE", "ingest")
    monkeypatch.setenv("INGEST_HTTP_PORT", "1")
    assert healthcheck.main() == 1


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed"
)
def test_kustomize_builds_every_manifest() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(built) == v.validate(check_dependencies=False).manifests
    assert {d["metadata"].get("namespace", "city-syndication") for d in built} == {
        "city-syndication"
    }
