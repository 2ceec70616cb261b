"""Per-container and per-Deployment rules: security, resources, probes, environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy.k8s.validate.bundle import Bundle, Manifest, containers_of, pod_template
from deploy.k8s.validate.common import (
    HEALTH_PATH,
    LOOPBACK,
    METRICS_PATH,
    MIN_GRACE_SECONDS,
    READY_PATH,
    RUN_AS_USER,
    SERVICES,
    Problem,
    image_problems,
    image_repository,
)
from deploy.k8s.validate.facts import CodeFacts, ServiceFacts, settings_problems
from deploy.k8s.validate.pod_env import env_problems, mounted_file_problems, volume_problems


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


def port_number(c: Mapping[str, Any], port: Any) -> int | None:
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
        elif port_number(c, get.get("port")) != port:
            problems.append(
                Problem(where, f"{probe} port {get.get('port')} is not the service's port {port}")
            )
    return problems


#: Per Deployment: the service it runs and that service's environment, as far as the manifests
#: tell (for the KEDA checks).
EffectiveEnv = dict[str, tuple[str, dict[str, str]]]


@dataclass
class _Deployed:
    """What the per-container checks learn for the checks across Deployments."""

    effective: EffectiveEnv = field(default_factory=dict)
    sizes: dict[str, tuple[float, float]] = field(default_factory=dict)


def workload_problems(bundle: Bundle, facts: CodeFacts) -> tuple[list[Problem], EffectiveEnv]:
    """Per-container rules; returns the problems and, per Deployment, its service's effective
    environment (for the KEDA checks)."""
    problems: list[Problem] = []
    deployed = _Deployed()
    for m in bundle.manifests:
        template = pod_template(m)
        if template is None:
            continue
        pod_spec = template.get("spec") or {}
        problems += _pod_problems(bundle, m, pod_spec)
        for key, c in containers_of(pod_spec):
            problems += _container_problems(bundle, facts, m, template, key, c, deployed)
    if "translate" in deployed.sizes:
        cpu, mem = deployed.sizes["translate"]
        for other, (o_cpu, o_mem) in deployed.sizes.items():
            if other != "translate" and (o_cpu > cpu or o_mem > mem):
                problems.append(
                    Problem(
                        "translate",
                        f"requests less CPU or memory than {other}: translate "
                        "(a model on every replica) should be the largest",
                    )
                )
    return problems, deployed.effective


def _pod_problems(bundle: Bundle, m: Manifest, pod_spec: Mapping[str, Any]) -> list[Problem]:
    problems = volume_problems(bundle, m.where, pod_spec)
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
    if m.kind == "Deployment":
        grace = pod_spec.get("terminationGracePeriodSeconds", 30)
        if grace < MIN_GRACE_SECONDS:
            problems.append(
                Problem(
                    m.where,
                    f"terminationGracePeriodSeconds {grace} < "
                    f"{MIN_GRACE_SECONDS}: the services drain for 30 s",
                )
            )
    return problems


def _container_problems(
    bundle: Bundle,
    facts: CodeFacts,
    m: Manifest,
    template: Mapping[str, Any],
    key: str,
    c: Mapping[str, Any],
    deployed: _Deployed,
) -> list[Problem]:
    pod_spec = template.get("spec") or {}
    where = f"{m.where} {key[:-1]} {c.get('name')}"
    problems = security_problems(where, pod_spec, c)
    problems += resource_problems(where, c)
    problems += image_problems(where, c.get("image"))
    problems += mounted_file_problems(bundle, where, pod_spec, c)
    service = container_service(c)
    if service is None:
        problems.append(
            Problem(
                where,
                f"image {c.get('image')} is none of the service images ({', '.join(SERVICES)})",
            )
        )
        return problems
    # A Deployment's container runs its service; anything else runs the shared CLIs.
    runs = service if m.kind == "Deployment" and key == "containers" else None
    more, env = env_problems(bundle, facts, where, c, runs)
    problems += more
    problems += settings_problems(facts, runs, env.values, where)
    if runs is None:
        return problems
    problems += _service_problems(m, template, where, c, facts.services[runs], env.values)
    requests = (c.get("resources") or {}).get("requests") or {}
    cpu, mem = quantity("cpu", requests.get("cpu")), quantity("memory", requests.get("memory"))
    if cpu is not None and mem is not None:
        deployed.sizes[runs] = (cpu, mem)
    deployed.effective[m.name] = (runs, {**env.values})
    return problems


def _service_problems(
    m: Manifest,
    template: Mapping[str, Any],
    where: str,
    c: Mapping[str, Any],
    svc: ServiceFacts,
    env: Mapping[str, str],
) -> list[Problem]:
    """A Deployment's service container: its name, where it listens, probes, scraping."""
    runs = svc.name
    problems = []
    if c.get("name") != runs:
        problems.append(Problem(where, f"runs the {runs} image but is not named {runs}"))
    host = env.get(f"{svc.prefix}HTTP_HOST")
    if host in LOOPBACK:
        problems.append(
            Problem(where, f"{svc.prefix}HTTP_HOST={host}: probes and Services cannot reach it")
        )
    port = int(env.get(f"{svc.prefix}HTTP_PORT", svc.http_port))
    if port_number(c, "http") != port:
        problems.append(Problem(where, f"no containerPort named http at the service's port {port}"))
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
    return problems
