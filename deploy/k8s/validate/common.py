"""What every checker shares: the project's paths, the rules' constants, the problem reported."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

K8S_DIR = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
KUBERNETES_VERSION = "1.29"  # the oldest Kubernetes these manifests are meant for

SERVICES = ("ingest", "translate", "feeds")
RUN_AS_USER = 10001
MIN_GRACE_SECONDS = 35  # shared/service.py drains for 30 s
HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"
#: For the cluster (probes, Prometheus) and operators (kubectl port-forward), never the Ingress.
INTERNAL_PATHS = (
    HEALTH_PATH,
    READY_PATH,
    METRICS_PATH,
    "/admin",
    "/docs",
    "/redoc",
    "/openapi.json",
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Read by libraries rather than the settings classes: the OpenTelemetry SDK (shared/tracing.py)
# and uvicorn (which proxies' X-Forwarded-For to believe: shared/ratelimit.py).
LIBRARY_ENV = re.compile(r"^(OTEL_[A-Z0-9_]+|FORWARDED_ALLOW_IPS)$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"}


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def image_repository(image: str) -> tuple[str, str | None, bool]:
    """(repository, tag, pinned by digest)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name[: len(name) - len(tag) - 1] if tag else name
    return repo, tag, bool(digest)


def image_problems(where: str, image: Any) -> list[Problem]:
    if not isinstance(image, str) or not image:
        return [Problem(where, "no image")]
    _, tag, digest = image_repository(image)
    if digest:
        return []
    if tag is None:
        return [Problem(where, f"image {image} has no tag (it would run `latest`): pin one")]
    if tag == "latest":
        return [Problem(where, f"image {image} is tagged latest: pin a version")]
    return []
