"""Check the deployment files against Kubernetes' schemas and against the code they deploy.

    python -m deploy.k8s.validate          (or: python deploy/k8s/validate.py)

Reads every manifest listed in ``deploy/k8s/kustomization.yaml``, ``docker-compose.yml`` and
``deploy/docker/Dockerfile``; prints each problem found and exits 1, or prints a summary and exits
0. Offline: the Kubernetes JSON schemas come with the ``kubernetes-validate`` package, KEDA's
ScaledObject is checked against a schema embedded here.

What is checked:

* Kubernetes objects against the schemas of ``--kubernetes-version`` (strict: unknown fields are
  errors); KEDA ScaledObjects against the embedded schema, kafka trigger metadata included.
* Every container (init containers and Jobs too): runs as uid 10001 with runAsNonRoot, a
  read-only root filesystem with an emptyDir at /tmp, no privilege escalation, every capability
  dropped, the RuntimeDefault seccomp profile; CPU and memory requests and limits; an image with a
  tag other than ``latest``.
* Every Deployment: liveness on /healthz and readiness on /readyz at the service's HTTP port (and a
  startup probe for translate, which loads its model first), terminationGracePeriodSeconds of at
  least 35 (the services drain for 30 s), Prometheus scrape annotations for /metrics on that port,
  no replica count when an autoscaler owns it; translate asks for the most CPU and memory.
* Environment: every variable name a container sets, and every key of a ConfigMap or Secret it
  takes whole (envFrom), is a setting of that service (``shared/settings.py``,
  ``services/*/settings.py``, read by importing the settings classes); the values validate
  against those classes; the service listens on a reachable host and on its container port.
* References: ConfigMaps, Secrets, their keys and PersistentVolumeClaims that pods use exist;
  Service selectors, the PodDisruptionBudget, the HPA and ScaledObject targets match a
  Deployment; Service target ports exist; file paths a command reads from a ConfigMap volume are
  keys of it; the registry and glossary in the ConfigMap load with the project's own parsers.
* KEDA: a kafka trigger on the consumer group the service really uses (its name) and a topic it
  consumes, bootstrapServers equal to the service's KAFKA_BOOTSTRAP_SERVERS, and
  maxReplicaCount at most TOPIC_PARTITIONS (a replica past the partition count idles).
* The Ingress routes only public paths: no path it routes (Exact, Prefix, or
  ImplementationSpecific read as a bare prefix) reaches the probes, ``/metrics``, the admin API
  or the API documents (``INTERNAL_PATHS``), there is no defaultBackend, its backends exist, and
  a rule serves FEEDS_PUBLIC_URL's host.
* docker-compose.yml parses and has kafka, mongo, a one-shot registry loader and the three
  services, each built from the Dockerfile with its own SERVICE argument, with a healthcheck and
  40 s to stop; translate publishes no host port (so ``--scale`` works); its variables exist.
* The Dockerfile: a non-root numeric USER, one stage per service exposing the settings' port and
  running the service, no build tools in the runtime stages; and each image's code imports only
  what the core dependencies and the service's extra in pyproject.toml install.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib.metadata
import re
import shlex
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `shared` and `services` importable
    sys.path.insert(0, str(ROOT))

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


# ---- what the code says ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceFacts:
    """What a service's code says about how it must be deployed."""

    name: str
    settings: type[Any]
    prefix: str
    http_port: int
    env_names: frozenset[str]  # its own, prefixed settings
    topics: frozenset[str]  # what its consumer group (the service name) consumes
    lag_topic: str | None  # the topic whose lag says it needs more replicas


@dataclass(frozen=True)
class CodeFacts:
    services: dict[str, ServiceFacts]
    infra: type[Any]
    infra_env: frozenset[str]
    infra_defaults: dict[str, Any]

    def allowed_env(self, service: str | None) -> frozenset[str]:
        own = self.services[service].env_names if service else frozenset()
        return self.infra_env | own

    def knows(self, name: str, service: str | None) -> bool:
        """A variable a process of ``service`` (None: the shared CLIs) reads."""
        return name in self.allowed_env(service) or bool(LIBRARY_ENV.match(name))

    @property
    def every_env(self) -> frozenset[str]:
        names = set(self.infra_env)
        for facts in self.services.values():
            names |= facts.env_names
        return frozenset(names)


def code_facts() -> CodeFacts:
    from services.feeds.settings import FeedsSettings
    from services.ingest.settings import IngestSettings
    from services.translate.settings import TranslateSettings
    from shared.contracts import Topics
    from shared.settings import InfraSettings

    # The topics each consumer group reads (services/*/consumer.py: group id = service name).
    topics = {
        "ingest": (Topics.SUBMITTED,),
        "translate": (Topics.INGESTED, Topics.HUMAN_TRANSLATIONS, Topics.RETRANSLATIONS),
        "feeds": (Topics.INGESTED, Topics.TRANSLATED),
    }
    lag = {"ingest": Topics.SUBMITTED, "translate": Topics.INGESTED, "feeds": None}
    classes: dict[str, type[Any]] = {
        "ingest": IngestSettings,
        "translate": TranslateSettings,
        "feeds": FeedsSettings,
    }
    services = {}
    for name, cls in classes.items():
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        fields = [f for f in cls.model_fields if f != "infra"]
        services[name] = ServiceFacts(
            name=name,
            settings=cls,
            prefix=prefix,
            http_port=int(cls.model_fields["http_port"].default),
            env_names=frozenset(prefix + f.upper() for f in fields),
            topics=frozenset(topics[name]),
            lag_topic=lag[name],
        )
    infra_env = frozenset(f.upper() for f in InfraSettings.model_fields)
    defaults = {f.upper(): info.default for f, info in InfraSettings.model_fields.items()}
    return CodeFacts(services, InfraSettings, infra_env, defaults)


def _unknown(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _pydantic_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def settings_problems(
    facts: CodeFacts, service: str | None, env: Mapping[str, str], where: str
) -> list[Problem]:
    """Validate literal environment values against the settings classes (env is not read)."""
    from pydantic import ValidationError

    problems = []
    infra_values = {k.lower(): v for k, v in env.items() if k in facts.infra_env}
    try:
        infra = facts.infra.model_validate(infra_values)
    except ValidationError as exc:
        problems.append(Problem(where, f"invalid shared settings: {_pydantic_errors(exc)}"))
        return problems
    if service is None:
        return problems
    svc = facts.services[service]
    own = {
        k[len(svc.prefix) :].lower(): v
        for k, v in env.items()
        if k in svc.env_names and k.startswith(svc.prefix)
    }
    try:
        svc.settings.model_validate({**own, "infra": infra})
    except ValidationError as exc:
        problems.append(Problem(where, f"invalid {service} settings: {_pydantic_errors(exc)}"))
    return problems


# ---- loading --------------------------------------------------------------------------------


_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ComposeLoader(yaml.SafeLoader):
    """YAML loader that also takes Compose's merge tags (``!reset``, ``!override``)."""


def _compose_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_ComposeLoader.add_constructor("!reset", _compose_tag)
_ComposeLoader.add_constructor("!override", _compose_tag)


@dataclass
class Manifest:
    path: Path
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", "?"))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", "?"))

    @property
    def namespace(self) -> str | None:
        ns = (self.doc.get("metadata") or {}).get("namespace")
        return str(ns) if ns is not None else None

    @property
    def where(self) -> str:
        return f"{self.path.name}: {self.kind}/{self.name}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.doc.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass
class Bundle:
    """The manifests of one kustomization."""

    directory: Path
    kustomization: dict[str, Any]
    manifests: list[Manifest] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind in kinds]

    def find(self, kind: str, name: str) -> Manifest | None:
        for m in self.manifests:
            if m.kind == kind and m.name == name:
                return m
        return None


def load_bundle(directory: Path) -> tuple[Bundle | None, list[Problem]]:
    problems: list[Problem] = []
    kfile = directory / "kustomization.yaml"
    try:
        kustomization = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return None, [Problem(str(kfile), f"cannot read the kustomization: {exc}")]
    bundle = Bundle(directory, kustomization)
    listed = [str(r) for r in kustomization.get("resources") or []]
    for resource in listed:
        path = directory / resource
        if not path.is_file():
            problems.append(Problem(kfile.name, f"resource {resource} does not exist"))
            continue
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_FAST_LOADER))
        except yaml.YAMLError as exc:
            problems.append(Problem(path.name, f"not valid YAML: {exc}"))
            continue
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                problems.append(Problem(path.name, "a document without kind and apiVersion"))
                continue
            bundle.manifests.append(Manifest(path, doc))
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if path.name != "kustomization.yaml" and path.name not in listed:
            problems.append(
                Problem(kfile.name, f"{path.name} is not in resources: it would never be applied")
            )
    return bundle, problems


# ---- Kubernetes schemas ---------------------------------------------------------------------

_KAFKA_STRING_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "consumerGroupFromEnv",
    "topic",
    "topicFromEnv",
    "version",
    "partitionLimitation",
    "sasl",
    "saslTokenProvider",
    "tls",
    "awsRegion",
    "awsEndpoint",
    "oauthTokenEndpointUri",
    "scopes",
}
_KAFKA_INT_KEYS = {"lagThreshold", "activationLagThreshold"}
_KAFKA_BOOL_KEYS = {
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "unsafeSsl",
}
_KAFKA_KEYS = _KAFKA_STRING_KEYS | _KAFKA_INT_KEYS | _KAFKA_BOOL_KEYS | {"offsetResetPolicy"}

_INT0 = {"type": "integer", "minimum": 0}
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": _INT0,
                "initialCooldownPeriod": _INT0,
                "idleReplicaCount": _INT0,
                "minReplicaCount": _INT0,
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": _INT0,
                        "behavior": {"type": "string"},
                    },
                },
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string", "minLength": 1},
                            "name": {"type": "string"},
                            # KEDA takes trigger metadata as strings only ("5", "true").
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "kind": {
                                        "enum": [
                                            "TriggerAuthentication",
                                            "ClusterTriggerAuthentication",
                                        ]
                                    },
                                },
                            },
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


def _json_path(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def schema_problems(bundle: Bundle, version: str) -> list[Problem]:
    try:
        import jsonschema  # type: ignore[import-untyped]
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError as exc:
        return [
            Problem(
                "kubernetes-validate",
                f"not installed ({exc.name}): `pip install 'kubernetes-validate>=1.29'` (a dev "
                "dependency) to check the manifests against the Kubernetes schemas",
            )
        ]
    problems = []
    keda = jsonschema.Draft202012Validator(SCALED_OBJECT_SCHEMA)
    for m in bundle.manifests:
        if m.doc.get("apiVersion") == "keda.sh/v1alpha1":
            for err in sorted(keda.iter_errors(m.doc), key=lambda e: list(e.path)):
                problems.append(Problem(m.where, f"{_json_path(err.path)}: {err.message}"))
            continue
        try:
            kubernetes_validate.validate(m.doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(
                Problem(
                    m.where, f"Kubernetes {version} schema: {_json_path(exc.path)}: {exc.message}"
                )
            )
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(Problem(m.where, f"no schema: {exc.message}"))
        except (IndexError, kubernetes_validate.utils.VersionNotSupportedError):
            return [
                Problem(
                    "kubernetes-validate",
                    f"has no schemas for Kubernetes {version} (it bundles "
                    f"{min(kubernetes_validate.utils.all_versions())} to "
                    f"{max(kubernetes_validate.utils.all_versions())}): "
                    "pass --kubernetes-version",
                )
            ]
    return problems


# ---- pods -----------------------------------------------------------------------------------


def pod_template(m: Manifest) -> dict[str, Any] | None:
    if m.kind not in WORKLOAD_KINDS:
        return None
    spec = m.spec
    if m.kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def containers_of(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainers", "containers"):
        for c in pod_spec.get(key) or []:
            if isinstance(c, dict):
                yield key, c


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


def container_service(c: Mapping[str, Any]) -> str | None:
    """The service a container runs: the last part of its image's repository (ingest, …)."""
    repo, _, _ = image_repository(str(c.get("image", "")))
    name = repo.rsplit("/", 1)[-1]
    return name if name in SERVICES else None


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEM_UNITS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(resource: str, value: Any) -> float | None:
    text = str(value)
    if resource == "cpu":
        m = _CPU.match(text)
        return float(m.group(1)) / (1000 if m.group(2) else 1) if m else None
    m = _MEM.match(text)
    return float(m.group(1)) * _MEM_UNITS[m.group(2)] if m else None


def security_problems(
    where: str, pod_spec: Mapping[str, Any], c: Mapping[str, Any]
) -> list[Problem]:
    psc = pod_spec.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    problems = []

    def effective(key: str) -> Any:
        return csc[key] if key in csc else psc.get(key)

    if effective("runAsNonRoot") is not True:
        problems.append(Problem(where, "securityContext.runAsNonRoot is not true"))
    uid = effective("runAsUser")
    if uid != RUN_AS_USER:
        problems.append(
            Problem(
                where, f"securityContext.runAsUser is {uid}, not {RUN_AS_USER} (the image's user)"
            )
        )
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append(Problem(where, "securityContext.readOnlyRootFilesystem is not true"))
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append(Problem(where, "securityContext.allowPrivilegeEscalation is not false"))
    if csc.get("privileged"):
        problems.append(Problem(where, "runs privileged"))
    caps = csc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append(Problem(where, "securityContext.capabilities.drop does not include ALL"))
    if caps.get("add"):
        problems.append(Problem(where, f"adds capabilities {caps['add']}"))
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(Problem(where, f"seccompProfile is {seccomp}, not RuntimeDefault"))
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}
    tmp = [vm for vm in c.get("volumeMounts") or [] if vm.get("mountPath") == "/tmp"]
    if not tmp:
        problems.append(Problem(where, "no volume at /tmp (the root filesystem is read-only)"))
    elif "emptyDir" not in (volumes.get(tmp[0].get("name")) or {}):
        problems.append(Problem(where, "/tmp is not an emptyDir"))
    return problems


def resource_problems(where: str, c: Mapping[str, Any]) -> list[Problem]:
    problems = []
    resources = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            value = (resources.get(kind) or {}).get(res)
            if value is None:
                problems.append(Problem(where, f"resources.{kind}.{res} is not set"))
            elif quantity(res, value) is None:
                problems.append(Problem(where, f"resources.{kind}.{res} {value!r} is unreadable"))
    return problems


@dataclass
class ContainerEnv:
    """A container's environment as far as the manifests tell: literal values by name."""

    values: dict[str, str] = field(default_factory=dict)
    from_secrets: set[str] = field(default_factory=set)


def _data_keys(m: Manifest) -> dict[str, str]:
    data: dict[str, str] = {}
    for key in ("data", "stringData", "binaryData"):
        for k, v in (m.doc.get(key) or {}).items():
            data[str(k)] = str(v)
    return data


def env_problems(
    bundle: Bundle, facts: CodeFacts, where: str, c: Mapping[str, Any], service: str | None
) -> tuple[list[Problem], ContainerEnv]:
    problems = []
    env = ContainerEnv()
    allowed = facts.allowed_env(service)
    owner = f"a setting of {service}" if service else "a shared setting"
    for source in c.get("envFrom") or []:
        for ref_key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(ref_key)
            if not ref:
                continue
            found = bundle.find(kind, str(ref.get("name")))
            if found is None:
                if not ref.get("optional"):
                    problems.append(Problem(where, f"envFrom {kind} {ref.get('name')} not found"))
                continue
            prefix = str(source.get("prefix", ""))
            for key, value in _data_keys(found).items():
                name = prefix + key
                if not ENV_NAME.match(name):
                    problems.append(
                        Problem(
                            found.where,
                            f"key {key!r} is taken as an environment variable "
                            f"by {where} (envFrom) but is no variable name",
                        )
                    )
                elif name not in facts.every_env and not LIBRARY_ENV.match(name):
                    problems.append(
                        Problem(
                            found.where,
                            f"{name} is not a setting of any service"
                            f"{_unknown(name, facts.every_env)}",
                        )
                    )
                elif kind == "Secret":
                    env.from_secrets.add(name)
                else:
                    env.values[name] = value
    for var in c.get("env") or []:
        name = str(var.get("name"))
        if not facts.knows(name, service):
            problems.append(Problem(where, f"env {name} is not {owner}{_unknown(name, allowed)}"))
        if "value" in var:
            env.values[name] = str(var["value"])
            continue
        value_from = var.get("valueFrom") or {}
        for ref_key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(ref_key)
            if not ref:
                continue
            found = bundle.find(kind, str(ref.get("name")))
            keys = _data_keys(found) if found else {}
            if found is None:
                problems.append(Problem(where, f"env {name}: {kind} {ref.get('name')} not found"))
            elif ref.get("key") not in keys:
                problems.append(
                    Problem(where, f"env {name}: {kind} {found.name} has no key {ref.get('key')}")
                )
            elif kind == "ConfigMap":
                env.values[name] = keys[str(ref["key"])]
            else:
                env.from_secrets.add(name)
    return problems, env


def volume_problems(bundle: Bundle, where: str, pod_spec: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for v in pod_spec.get("volumes") or []:
        for key, kind, name_key in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
            ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName"),
        ):
            ref = v.get(key)
            if not ref:
                continue
            found = bundle.find(kind, str(ref.get(name_key)))
            if found is None:
                if not ref.get("optional"):
                    problems.append(
                        Problem(
                            where, f"volume {v.get('name')}: {kind} {ref.get(name_key)} not found"
                        )
                    )
                continue
            keys = _data_keys(found)
            for item in ref.get("items") or []:
                if item.get("key") not in keys:
                    problems.append(
                        Problem(
                            where,
                            f"volume {v.get('name')}: {kind} {found.name} has no key "
                            f"{item.get('key')}",
                        )
                    )
    return problems


def mounted_file_problems(
    bundle: Bundle, where: str, pod_spec: Mapping[str, Any], c: Mapping[str, Any]
) -> list[Problem]:
    """A command argument under a ConfigMap volume's mount path must name one of its files."""
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}
    mounts = []
    for vm in c.get("volumeMounts") or []:
        ref = (volumes.get(vm.get("name")) or {}).get("configMap")
        found = bundle.find("ConfigMap", str(ref.get("name"))) if ref else None
        if found is not None and ref is not None:
            items = ref.get("items")
            files = {i.get("path") for i in items} if items else set(_data_keys(found))
            mounts.append((str(vm.get("mountPath")).rstrip("/") + "/", files, found.name))
    problems = []
    for arg in [*(c.get("command") or []), *(c.get("args") or [])]:
        for mount, files, cm in mounts:
            if str(arg).startswith(mount) and str(arg)[len(mount) :] not in files:
                problems.append(Problem(where, f"{arg} is not a file of ConfigMap {cm}"))
    return problems


def _port_number(c: Mapping[str, Any], port: Any) -> int | None:
    for p in c.get("ports") or []:
        if port in (p.get("name"), p.get("containerPort")):
            return int(p["containerPort"])
    return None


def probe_problems(where: str, c: Mapping[str, Any], service: str, port: int) -> list[Problem]:
    problems = []
    wanted = [("livenessProbe", HEALTH_PATH), ("readinessProbe", READY_PATH)]
    if service == "translate":  # the model loads before the HTTP server answers
        wanted.append(("startupProbe", HEALTH_PATH))
    for probe, path in wanted:
        spec = c.get(probe)
        if not spec:
            problems.append(Problem(where, f"no {probe}"))
            continue
        get = spec.get("httpGet") or {}
        if get.get("path") != path:
            problems.append(Problem(where, f"{probe} is not an HTTP GET of {path}"))
        elif _port_number(c, get.get("port")) != port:
            problems.append(
                Problem(where, f"{probe} port {get.get('port')} is not the service's port {port}")
            )
    return problems


def workload_problems(bundle: Bundle, facts: CodeFacts) -> tuple[list[Problem], dict[str, Any]]:
    """Per-container rules; returns the problems and, per Deployment, its service's effective
    environment (for the KEDA checks)."""
    problems: list[Problem] = []
    effective: dict[str, Any] = {}
    sizes: dict[str, tuple[float, float]] = {}
    for m in bundle.manifests:
        template = pod_template(m)
        if template is None:
            continue
        pod_spec = template.get("spec") or {}
        problems += volume_problems(bundle, m.where, pod_spec)
        if pod_spec.get("automountServiceAccountToken") is not False:
            problems.append(Problem(m.where, "automountServiceAccountToken is not false"))
        if pod_spec.get("enableServiceLinks") is not False:
            problems.append(
                Problem(
                    m.where,
                    "enableServiceLinks is not false (service-link variables such "
                    "as KAFKA_PORT land among the unprefixed settings)",
                )
            )
        is_deployment = m.kind == "Deployment"
        if is_deployment:
            grace = pod_spec.get("terminationGracePeriodSeconds", 30)
            if grace < MIN_GRACE_SECONDS:
                problems.append(
                    Problem(
                        m.where,
                        f"terminationGracePeriodSeconds {grace} < "
                        f"{MIN_GRACE_SECONDS}: the services drain for 30 s",
                    )
                )
        for key, c in containers_of(pod_spec):
            where = f"{m.where} {key[:-1]} {c.get('name')}"
            problems += security_problems(where, pod_spec, c)
            problems += resource_problems(where, c)
            problems += image_problems(where, c.get("image"))
            problems += mounted_file_problems(bundle, where, pod_spec, c)
            service = container_service(c)
            if service is None:
                problems.append(
                    Problem(
                        where,
                        f"image {c.get('image')} is none of the service images "
                        f"({', '.join(SERVICES)})",
                    )
                )
                continue
            # A Deployment's container runs its service; anything else runs the shared CLIs.
            runs = service if is_deployment and key == "containers" else None
            more, env = env_problems(bundle, facts, where, c, runs)
            problems += more
            problems += settings_problems(facts, runs, env.values, where)
            if runs is None:
                continue
            svc = facts.services[runs]
            if c.get("name") != runs:
                problems.append(Problem(where, f"runs the {runs} image but is not named {runs}"))
            host = env.values.get(f"{svc.prefix}HTTP_HOST")
            if host in LOOPBACK:
                problems.append(
                    Problem(
                        where, f"{svc.prefix}HTTP_HOST={host}: probes and Services cannot reach it"
                    )
                )
            port = int(env.values.get(f"{svc.prefix}HTTP_PORT", svc.http_port))
            if _port_number(c, "http") != port:
                problems.append(
                    Problem(where, f"no containerPort named http at the service's port {port}")
                )
            problems += probe_problems(where, c, runs, port)
            annotations = (template.get("metadata") or {}).get("annotations") or {}
            scrape = {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(port),
                "prometheus.io/path": METRICS_PATH,
            }
            for ann, value in scrape.items():
                if str(annotations.get(ann)) != value:
                    problems.append(Problem(m.where, f"pod annotation {ann} is not {value!r}"))
            requests = (c.get("resources") or {}).get("requests") or {}
            cpu, mem = (
                quantity("cpu", requests.get("cpu")),
                quantity("memory", requests.get("memory")),
            )
            if cpu is not None and mem is not None:
                sizes[runs] = (cpu, mem)
            effective[m.name] = (runs, {**env.values})
    if "translate" in sizes:
        cpu, mem = sizes["translate"]
        for other, (o_cpu, o_mem) in sizes.items():
            if other != "translate" and (o_cpu > cpu or o_mem > mem):
                problems.append(
                    Problem(
                        "translate",
                        f"requests less CPU or memory than {other}: translate "
                        "(a model on every replica) should be the largest",
                    )
                )
    return problems, effective


# ---- cross-object references ----------------------------------------------------------------


def _matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pod_labels(m: Manifest) -> dict[str, Any]:
    template = pod_template(m) or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def reference_problems(bundle: Bundle) -> list[Problem]:
    problems = []
    workloads = [m for m in bundle.manifests if pod_template(m) is not None and m.kind != "Job"]
    for m in bundle.of_kind("Deployment"):
        selector = (m.spec.get("selector") or {}).get("matchLabels") or {}
        if not _matches(selector, _pod_labels(m)):
            problems.append(Problem(m.where, "selector does not match the pod template's labels"))
    for svc in bundle.of_kind("Service"):
        selector = svc.spec.get("selector") or {}
        targets = [w for w in workloads if _matches(selector, _pod_labels(w))]
        if not targets:
            problems.append(Problem(svc.where, f"selector {selector} matches no Deployment's pods"))
            continue
        for port in svc.spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for w in targets:
                pod_spec = (pod_template(w) or {}).get("spec") or {}
                if not any(_port_number(c, target) for _, c in containers_of(pod_spec)):
                    problems.append(
                        Problem(svc.where, f"targetPort {target} is not a port of {w.where}")
                    )
    for pdb in bundle.of_kind("PodDisruptionBudget"):
        selector = (pdb.spec.get("selector") or {}).get("matchLabels") or {}
        if not any(_matches(selector, _pod_labels(w)) for w in workloads):
            problems.append(Problem(pdb.where, f"selector {selector} matches no Deployment's pods"))
    scaled: dict[str, list[str]] = {}
    for hpa in bundle.of_kind("HorizontalPodAutoscaler", "ScaledObject"):
        ref = hpa.spec.get("scaleTargetRef") or {}
        kind = ref.get("kind", "Deployment")
        if bundle.find(kind, str(ref.get("name"))) is None:
            problems.append(
                Problem(hpa.where, f"scaleTargetRef {kind} {ref.get('name')} not found")
            )
            continue
        scaled.setdefault(str(ref.get("name")), []).append(hpa.where)
    for name, owners in scaled.items():
        if len(owners) > 1:
            problems.append(Problem(name, f"scaled by several autoscalers: {', '.join(owners)}"))
        target = bundle.find("Deployment", name)
        if target is not None and "replicas" in target.spec:
            problems.append(
                Problem(
                    target.where,
                    f"sets replicas although {owners[0]} owns the count: every "
                    "apply would reset it",
                )
            )
    namespaces = [m.name for m in bundle.of_kind("Namespace")]
    wanted = bundle.kustomization.get("namespace") or (namespaces[0] if namespaces else None)
    if wanted and namespaces and wanted not in namespaces:
        problems.append(Problem("kustomization.yaml", f"namespace {wanted} is not created here"))
    for m in bundle.manifests:
        if m.kind not in CLUSTER_SCOPED and wanted and m.namespace not in (None, wanted):
            problems.append(Problem(m.where, f"namespace {m.namespace}, not {wanted}"))
    return problems


def keda_problems(bundle: Bundle, facts: CodeFacts, effective: dict[str, Any]) -> list[Problem]:
    problems = []
    for so in bundle.of_kind("ScaledObject"):
        target = str((so.spec.get("scaleTargetRef") or {}).get("name"))
        if target not in effective:
            continue  # reported with the references
        service, env = effective[target]
        svc: ServiceFacts = facts.services[service]
        partitions_text = str(env.get("TOPIC_PARTITIONS", facts.infra_defaults["TOPIC_PARTITIONS"]))
        partitions = int(partitions_text) if partitions_text.isdigit() else 0  # else reported
        servers = env.get(
            "KAFKA_BOOTSTRAP_SERVERS", facts.infra_defaults["KAFKA_BOOTSTRAP_SERVERS"]
        )
        low, high = so.spec.get("minReplicaCount", 0), so.spec.get("maxReplicaCount", 100)
        if not isinstance(low, int) or low < 1:
            problems.append(Problem(so.where, "minReplicaCount is below 1"))
        if isinstance(high, int) and partitions and high > partitions:
            problems.append(
                Problem(
                    so.where,
                    f"maxReplicaCount {high} > TOPIC_PARTITIONS {partitions}: a "
                    "replica past the partition count gets no partition and idles",
                )
            )
        kafka = [t for t in so.spec.get("triggers") or [] if t.get("type") == "kafka"]
        if not kafka:
            problems.append(Problem(so.where, "no kafka trigger (scale on consumer lag)"))
        for trigger in kafka:
            meta = {str(k): v for k, v in (trigger.get("metadata") or {}).items()}
            for key in sorted(set(meta) - _KAFKA_KEYS):
                problems.append(
                    Problem(
                        so.where,
                        f"kafka trigger: unknown metadata {key}{_unknown(key, _KAFKA_KEYS)}",
                    )
                )
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                if key not in meta and f"{key}FromEnv" not in meta:
                    problems.append(Problem(so.where, f"kafka trigger: no {key}"))
            for key in _KAFKA_INT_KEYS & set(meta):
                if not str(meta[key]).isdigit() or int(str(meta[key])) < 1:
                    problems.append(Problem(so.where, f"kafka trigger: {key} is not a count"))
            for key in _KAFKA_BOOL_KEYS & set(meta):
                if meta[key] not in ("true", "false"):
                    problems.append(
                        Problem(so.where, f"kafka trigger: {key} is not 'true'/'false'")
                    )
            policy = meta.get("offsetResetPolicy", "latest")
            if policy not in ("earliest", "latest"):
                problems.append(Problem(so.where, f"kafka trigger: offsetResetPolicy {policy}"))
            if "bootstrapServers" in meta and meta["bootstrapServers"] != servers:
                problems.append(
                    Problem(
                        so.where,
                        f"bootstrapServers {meta['bootstrapServers']} is not the "
                        f"service's KAFKA_BOOTSTRAP_SERVERS {servers}",
                    )
                )
            if "consumerGroup" in meta and meta["consumerGroup"] != service:
                problems.append(
                    Problem(
                        so.where,
                        f"consumerGroup {meta['consumerGroup']}: {service}'s "
                        f"consumer group is {service!r} (shared/messaging.py)",
                    )
                )
            if "topic" in meta and meta["topic"] not in svc.topics:
                problems.append(
                    Problem(
                        so.where,
                        f"topic {meta['topic']}: group {service} consumes "
                        f"{', '.join(sorted(svc.topics))}",
                    )
                )
            elif svc.lag_topic and meta.get("topic") not in (None, svc.lag_topic):
                problems.append(Problem(so.where, f"scale {service} on {svc.lag_topic}'s lag"))
    return problems


def registry_problems(bundle: Bundle) -> list[Problem]:
    """The registry and glossary files in ConfigMaps load with the project's parsers."""
    from shared.glossary import read_file as read_glossary
    from shared.registry import RegistryFile

    problems = []
    for cm in bundle.of_kind("ConfigMap"):
        data = cm.doc.get("data") or {}
        if "registry.yaml" not in data:
            continue
        try:
            contents = RegistryFile.model_validate(yaml.safe_load(data["registry.yaml"]) or {})
            publishers = contents.parsed().publishers
        except Exception as exc:
            problems.append(Problem(cm.where, f"registry.yaml does not load: {exc}"))
            continue
        if "glossary.yaml" in data:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "glossary.yaml"
                path.write_text(str(data["glossary.yaml"]), encoding="utf-8")
                try:
                    read_glossary(path, {p.id: p.language for p in publishers})
                except Exception as exc:
                    problems.append(Problem(cm.where, f"glossary.yaml does not load: {exc}"))
    return problems


def routes_path(path: str, path_type: str, target: str) -> bool:
    """Whether an Ingress path sends requests for ``target`` to its backend. Prefix matches whole
    path elements; ImplementationSpecific is read as a bare prefix (a controller may treat it
    as a regular expression), the cautious reading."""
    if path_type == "Exact":
        return target == path
    base = path.rstrip("/")
    if path_type == "Prefix":
        return base == "" or target == base or target.startswith(base + "/")
    return target.startswith(base)


def _service_port(svc: Manifest, port: Mapping[str, Any]) -> bool:
    wanted = port.get("name", port.get("number"))
    return any(wanted in (p.get("name"), p.get("port")) for p in svc.spec.get("ports") or [])


def ingress_problems(bundle: Bundle) -> list[Problem]:
    """Only public paths reach the services from outside (see the module docstring)."""
    problems = []
    hosts: set[str] = set()
    for ing in bundle.of_kind("Ingress"):
        if ing.spec.get("defaultBackend"):
            problems.append(
                Problem(ing.where, "defaultBackend sends every other path (/metrics, /admin, ...) "
                        "to a service: route the public paths only")
            )  # fmt: skip
        for rule in ing.spec.get("rules") or []:
            hosts.add(str(rule.get("host", "")))
            for p in (rule.get("http") or {}).get("paths") or []:
                path, kind = str(p.get("path", "/")), str(p.get("pathType", ""))
                problems += [
                    Problem(ing.where, f"{kind} {path} routes {internal}, which is for the "
                            "cluster or operators only (kubectl port-forward)")
                    for internal in INTERNAL_PATHS
                    if routes_path(path, kind, internal)
                ]  # fmt: skip
                backend = (p.get("backend") or {}).get("service") or {}
                svc = bundle.find("Service", str(backend.get("name")))
                if svc is None:
                    problems.append(
                        Problem(
                            ing.where, f"{path}: backend Service {backend.get('name')} not found"
                        )
                    )
                elif not _service_port(svc, backend.get("port") or {}):
                    problems.append(
                        Problem(
                            ing.where, f"{path}: {backend.get('port')} is no port of {svc.where}"
                        )
                    )
    config = bundle.find("ConfigMap", "city-syndication")
    public = _data_keys(config).get("FEEDS_PUBLIC_URL") if config else None
    host = urlsplit(public).hostname if public else None
    if host and bundle.of_kind("Ingress") and host not in hosts:
        problems.append(
            Problem("ingress", f"no Ingress rule routes FEEDS_PUBLIC_URL's host {host}")
        )
    return problems


def k8s_problems(directory: Path, facts: CodeFacts, version: str) -> tuple[list[Problem], int]:
    bundle, problems = load_bundle(directory)
    if bundle is None:
        return problems, 0
    problems += schema_problems(bundle, version)
    more, effective = workload_problems(bundle, facts)
    problems += more
    problems += reference_problems(bundle)
    problems += keda_problems(bundle, facts, effective)
    problems += registry_problems(bundle)
    problems += ingress_problems(bundle)
    for kind in ("Namespace", "Deployment", "Service", "ScaledObject", "Ingress"):
        if not bundle.of_kind(kind):
            problems.append(Problem(directory.name, f"no {kind}"))
    deployed = {
        container_service(c)
        for m in bundle.of_kind("Deployment")
        for _, c in containers_of((pod_template(m) or {}).get("spec") or {})
    }
    for service in SERVICES:
        if service not in deployed:
            problems.append(Problem(directory.name, f"no Deployment runs {service}"))
    return problems, len(bundle.manifests)


# ---- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    op: str
    args: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    instructions: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and buffer):
            continue  # comments, also inside a continued instruction, are dropped
        if not stripped:
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        line = " ".join(b for b in buffer if b)
        buffer = []
        op, _, args = line.partition(" ")
        instructions.append(Instruction(start, op.upper(), args.strip()))
    stages: list[Stage] = []
    for ins in instructions:
        if ins.op == "FROM":
            words = ins.args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(Stage(name, words[0] if words else ""))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def _exec_form(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        try:
            value = yaml.safe_load(args)
        except yaml.YAMLError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []
    return shlex.split(args)


def _env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV KEY value`
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def dockerfile_problems(path: Path, facts: CodeFacts) -> list[Problem]:
    where = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem(str(path), f"cannot read: {exc}")]
    instructions, stages = parse_dockerfile(text)
    problems = []
    by_name = {s.name: s for s in stages if s.name}
    if not stages:
        return [Problem(where, "no FROM")]

    def chain(stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        seen = [stage]
        while seen[-1].base in by_name and by_name[seen[-1].base] not in seen:
            seen.append(by_name[seen[-1].base])
        return seen

    def last(stage: Stage, op: str) -> Instruction | None:
        for s in chain(stage):
            found = s.all(op)
            if found:
                return found[-1]
        return None

    def env(stage: Stage) -> dict[str, str]:
        values: dict[str, str] = {}
        for s in reversed(chain(stage)):
            for ins in s.all("ENV"):
                values.update(_env_pairs(ins.args))
        return values

    first_from = next(i for i in instructions if i.op == "FROM")
    global_args = [
        i.args.split("=", 1)[0].strip()
        for i in instructions[: instructions.index(first_from)]
        if i.op == "ARG"
    ]
    if "SERVICE" not in global_args:
        problems.append(Problem(where, "no global ARG SERVICE (the service an image runs)"))
    final = stages[-1]
    if "${SERVICE}" not in final.base and "$SERVICE" not in final.base:
        problems.append(Problem(where, f"the last stage FROM {final.base} does not pick SERVICE"))
    build_stages = [s for s in stages if any(".[${SERVICE}" in i.args for i in s.all("RUN"))]
    if not build_stages:
        problems.append(Problem(where, "no stage installs the project with `.[${SERVICE}]`"))
    defaults = dict(
        i.args.split("=", 1)
        for i in instructions[: instructions.index(first_from)]
        if i.op == "ARG" and "=" in i.args
    )
    for base in sorted({s.base for s in stages} - set(by_name)):
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), base)
        if "$" not in image:
            problems += image_problems(f"{where} FROM {base}", image)
    version_arg = next(
        (
            i.args.split("=", 1)[1]
            for i in instructions
            if i.op == "ARG" and i.args.startswith("PYTHON_VERSION=")
        ),
        None,
    )
    requires = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    if version_arg is not None and not _python_ok(version_arg, requires):
        problems.append(Problem(where, f"PYTHON_VERSION {version_arg} is outside {requires}"))
    for service, svc in facts.services.items():
        stage = by_name.get(f"svc-{service}")
        if stage is None:
            problems.append(Problem(where, f"no stage svc-{service} (FROM svc-${{SERVICE}})"))
            continue
        swhere = f"{where} stage svc-{service}"
        user = last(stage, "USER")
        uid = user.args.split(":", 1)[0].strip() if user else "0"
        if not uid.isdigit() or int(uid) == 0:
            problems.append(
                Problem(
                    swhere,
                    f"USER {user.args if user else '(none: root)'}: want a numeric "
                    f"non-root uid ({RUN_AS_USER}), which Kubernetes' runAsNonRoot can verify",
                )
            )
        elif int(uid) != RUN_AS_USER:
            problems.append(Problem(swhere, f"USER {uid}: the manifests expect {RUN_AS_USER}"))
        expose = last(stage, "EXPOSE")
        if expose is None or expose.args.split("/")[0].strip() != str(svc.http_port):
            problems.append(Problem(swhere, f"does not EXPOSE the settings' port {svc.http_port}"))
        values = env(stage)
        wanted_env = {
            "SERVICE": service,
            f"{svc.prefix}HTTP_HOST": "0.0.0.0",
            f"{svc.prefix}HTTP_PORT": str(svc.http_port),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in wanted_env.items():
            if values.get(key) != value:
                problems.append(Problem(swhere, f"ENV {key} is {values.get(key)!r}, not {value!r}"))
        cmd = last(stage, "CMD")
        if cmd is None or _exec_form(cmd.args)[-3:] != ["python", "-m", f"services.{service}"][-3:]:
            problems.append(Problem(swhere, f"CMD does not run python -m services.{service}"))
        health = last(stage, "HEALTHCHECK")
        if health is None or "NONE" in health.args.split():
            problems.append(Problem(swhere, "no HEALTHCHECK"))
        runtime = [s for s in chain(stage) if s not in build_stages]
        for s in runtime:
            for ins in s.all("RUN"):
                tool = re.search(
                    r"\b(apt-get install|apk add|gcc|g\+\+|build-essential|"
                    r"pip install)\b",
                    ins.args,
                )
                if tool:
                    problems.append(
                        Problem(
                            f"{where}:{ins.line}",
                            f"`{tool.group(1)}` in the runtime stage "
                            f"{s.name or s.base}: build in the build stage",
                        )
                    )
    for ins in instructions:
        if ins.op == "COPY" and "--from" not in ins.args:
            for source in shlex.split(ins.args)[:-1]:
                if not source.startswith("--") and not (ROOT / source).exists():
                    problems.append(Problem(f"{where}:{ins.line}", f"COPY {source}: no such path"))
    return problems


def _python_ok(version: str, requires: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requires).contains(version + (".0" if version.count(".") == 1 else ""))


# ---- what each image must install -----------------------------------------------------------


def _imports(tree: ast.AST) -> Iterator[str]:
    """Top-level modules imported, leaving out TYPE_CHECKING blocks and guarded optional ones."""

    def visit(nodes: Iterable[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from visit(node.orelse)
                continue
            optional = isinstance(node, ast.Try) and any(
                "ImportError" in ast.unparse(h.type) for h in node.handlers if h.type
            )
            if isinstance(node, ast.Import):
                yield from (a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module.split(".")[0]
            for attr in ("body", "orelse", "finalbody"):
                if attr == "body" and optional:
                    continue
                sub = getattr(node, attr, None)
                if isinstance(sub, list):
                    yield from visit(s for s in sub if isinstance(s, ast.stmt))
            for part in [*getattr(node, "handlers", []), *getattr(node, "cases", [])]:
                yield from visit(part.body)

    yield from visit(getattr(tree, "body", []))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: Iterable[str]) -> set[str]:
    """Distributions the requirements install (transitively, as far as this environment knows)."""
    from packaging.requirements import InvalidRequirement, Requirement

    seen: set[tuple[str, str]] = set()
    found: set[str] = set()
    todo: list[tuple[str, str]] = [(r, "") for r in requirements]
    while todo:
        text, extra = todo.pop()
        if (text, extra) in seen:
            continue
        seen.add((text, extra))
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _canonical(req.name)
        found.add(name)
        try:
            sub = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for e in ["", *(_canonical(x) for x in req.extras)]:
            todo.extend((s, e) for s in sub)
    return found


def image_dependency_problems(
    facts: CodeFacts, pyproject: Path = PYPROJECT, root: Path = ROOT
) -> list[Problem]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    core = list(project.get("dependencies") or [])
    extras = project.get("optional-dependencies") or {}
    providers = importlib.metadata.packages_distributions()
    local = {"shared", "services", "__future__"}
    problems = []
    for service in facts.services:
        if service not in extras:
            problems.append(Problem("pyproject.toml", f"no `{service}` extra for its image"))
            continue
        installs = _closure([*core, *extras[service]])
        files = [
            *sorted((root / "shared").rglob("*.py")),
            *sorted((root / "services" / service).rglob("*.py")),
        ]
        for path in files:
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError):
                continue
            for module in sorted(set(_imports(tree))):
                if module in local or module in sys.stdlib_module_names:
                    continue
                dists = {_canonical(d) for d in providers.get(module, [])}
                if dists and not dists & installs:
                    problems.append(
                        Problem(
                            str(path.relative_to(root)),
                            f"imports {module} "
                            f"({', '.join(sorted(dists))}), which neither the core "
                            f"dependencies nor the `{service}` extra installs: the "
                            f"{service} image would fail (pyproject.toml)",
                        )
                    )
                elif not dists:
                    problems.append(
                        Problem(
                            str(path.relative_to(root)),
                            f"imports {module}, which no installed distribution provides",
                        )
                    )
    return problems


# ---- docker-compose.yml ---------------------------------------------------------------------

_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^}]*)\}")


def _interpolate_defaults(value: str) -> str:
    """Compose interpolation with every variable unset: ${VAR-default} becomes default."""
    value = _DEFAULT.sub(lambda m: m.group(3), value)
    return re.sub(r"\$\{[^}]*\}", "", value)


def _seconds(value: Any) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(value)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def compose_problems(path: Path, dockerfile: Path, facts: CodeFacts) -> list[Problem]:
    where = path.name
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)
    except (OSError, yaml.YAMLError) as exc:
        return [Problem(where, f"does not parse: {exc}")]
    services = (doc or {}).get("services") or {}
    problems = []
    base = path.parent
    for name, prefix in (("kafka", "apache/kafka:"), ("mongo", "mongo:")):
        image = str((services.get(name) or {}).get("image", ""))
        if not image.startswith(prefix):
            problems.append(Problem(where, f"service {name} is not the official {prefix} image"))
        problems += image_problems(f"{where} {name}", image)
    for name, svc in services.items():
        swhere = f"{where} service {name}"
        for volume in svc.get("volumes") or []:
            source = _interpolate_defaults(str(volume)).split(":", 1)[0]
            if source.startswith((".", "/")) and not (base / source).exists():
                problems.append(Problem(swhere, f"volume source {source} does not exist"))
        build = svc.get("build")
        if build is None:
            continue
        context = base / str(build.get("context", "."))
        built = (context / str(build.get("dockerfile", "Dockerfile"))).resolve()
        if built != dockerfile.resolve():
            problems.append(Problem(swhere, f"builds {built}, not {dockerfile}"))
        arg = (build.get("args") or {}).get("SERVICE")
        if arg not in SERVICES:
            problems.append(Problem(swhere, f"build arg SERVICE is {arg!r}"))
        elif name in SERVICES and arg != name:
            problems.append(Problem(swhere, f"builds SERVICE={arg}, not {name}"))
        runs = name if name in SERVICES else None
        environment = svc.get("environment") or {}
        if isinstance(environment, list):
            environment = {
                str(e).split("=", 1)[0]: [*str(e).split("=", 1), ""][1] for e in environment
            }
        allowed = facts.allowed_env(runs)
        literal = {}
        for key, value in environment.items():
            if not facts.knows(key, runs):
                problems.append(
                    Problem(
                        swhere,
                        f"environment {key} is not "
                        f"{'a setting of ' + runs if runs else 'a shared setting'}"
                        f"{_unknown(key, allowed)}",
                    )
                )
            elif value is not None and "$" not in str(value):
                literal[key] = str(value)
        problems += settings_problems(facts, runs, literal, swhere)
        if runs is None:
            continue
        health = svc.get("healthcheck") or {}
        if not health.get("test") or health.get("disable"):
            problems.append(Problem(swhere, "no healthcheck"))
        if _seconds(svc.get("stop_grace_period", "10s")) < MIN_GRACE_SECONDS:
            problems.append(
                Problem(
                    swhere,
                    f"stop_grace_period under {MIN_GRACE_SECONDS}s: the service drains for 30 s",
                )
            )
        for port in svc.get("ports") or []:
            published = str(port).rsplit(":", 1)[0] if ":" in str(port) else ""
            host_port = published.rsplit(":", 1)[-1]
            if runs == "translate" or (host_port and "$" not in host_port):
                problems.append(
                    Problem(
                        swhere,
                        f"fixed host port {port}: `docker compose up --scale {name}=N` would clash",
                    )
                )
        if not svc.get("read_only") or "/tmp" not in [str(t) for t in svc.get("tmpfs") or []]:
            problems.append(
                Problem(swhere, "not read_only with a tmpfs at /tmp (as on Kubernetes)")
            )
        needs = svc.get("depends_on") or {}
        for dep in ("kafka", "mongo"):
            if dep not in needs:
                problems.append(Problem(swhere, f"does not depend on {dep}"))
    for name in SERVICES:
        if name not in services:
            problems.append(Problem(where, f"no {name} service"))
    registry = services.get("registry")
    if registry is None:
        problems.append(Problem(where, "no one-shot registry service"))
    elif "shared.registry load" not in " ".join(str(c) for c in registry.get("command") or []):
        problems.append(Problem(f"{where} service registry", "does not run shared.registry load"))
    for name, secret in ((doc or {}).get("secrets") or {}).items():
        source = _interpolate_defaults(str((secret or {}).get("file", "")))
        if source and not (base / source).exists():
            problems.append(Problem(f"{where} secret {name}", f"file {source} does not exist"))
    return problems


# ---- entry point ----------------------------------------------------------------------------


@dataclass
class Report:
    problems: list[Problem]
    manifests: int


def validate(
    k8s_dir: Path = K8S_DIR,
    compose_file: Path = COMPOSE_FILE,
    dockerfile: Path = DOCKERFILE,
    kubernetes_version: str = KUBERNETES_VERSION,
    check_dependencies: bool = True,
) -> Report:
    facts = code_facts()
    problems, count = k8s_problems(k8s_dir, facts, kubernetes_version)
    problems += compose_problems(compose_file, dockerfile, facts)
    problems += dockerfile_problems(dockerfile, facts)
    if check_dependencies:
        problems += image_dependency_problems(facts)
    return Report(problems, count)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.k8s.validate",
        description="Check the Kubernetes manifests, docker-compose.yml and the Dockerfile.",
    )
    parser.add_argument("--k8s", type=Path, default=K8S_DIR, help="kustomization directory")
    parser.add_argument("--compose", type=Path, default=COMPOSE_FILE)
    parser.add_argument("--dockerfile", type=Path, default=DOCKERFILE)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    report = validate(args.k8s, args.compose, args.dockerfile, args.kubernetes_version)
    for problem in report.problems:
        out(f"ERROR {problem}")
    if report.problems:
        out(f"{len(report.problems)} problem(s) in the deployment files")
        return 1
    out(
        f"deployment files OK: {report.manifests} Kubernetes objects (schemas of Kubernetes "
        f"{args.kubernetes_version}), {args.compose.name}, {args.dockerfile.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
