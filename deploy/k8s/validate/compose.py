"""docker-compose.yml: the stack the services run in locally, checked against the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from deploy.k8s.validate.common import (
    MIN_GRACE_SECONDS,
    SERVICES,
    Problem,
    did_you_mean,
    image_problems,
)
from deploy.k8s.validate.facts import CodeFacts, settings_problems


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
        problems += _service_problems(f"{where} service {name}", name, svc, base, dockerfile, facts)
    for name in SERVICES:
        if name not in services:
            problems.append(Problem(where, f"no {name} service"))
    problems += compose_registry_problems(where, services)
    for name, secret in ((doc or {}).get("secrets") or {}).items():
        source = _interpolate_defaults(str((secret or {}).get("file", "")))
        if source and not (base / source).exists():
            problems.append(Problem(f"{where} secret {name}", f"file {source} does not exist"))
    return problems


def compose_registry_problems(where: str, services: dict[str, Any]) -> list[Problem]:
    """A one-shot service loads the registry before the services start."""
    registry = services.get("registry")
    if registry is None:
        return [Problem(where, "no one-shot registry service")]
    if "tools.registry load" not in " ".join(str(c) for c in registry.get("command") or []):
        return [Problem(f"{where} service registry", "does not run tools.registry load")]
    return []


def _service_problems(
    swhere: str, name: str, svc: dict[str, Any], base: Path, dockerfile: Path, facts: CodeFacts
) -> list[Problem]:
    """One Compose service: its volumes; if built here, its build, environment and runtime."""
    problems = []
    for volume in svc.get("volumes") or []:
        source = _interpolate_defaults(str(volume)).split(":", 1)[0]
        if source.startswith((".", "/")) and not (base / source).exists():
            problems.append(Problem(swhere, f"volume source {source} does not exist"))
    build = svc.get("build")
    if build is None:
        return problems
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
    problems += _environment_problems(swhere, runs, svc, facts)
    if runs is not None:
        problems += _runtime_problems(swhere, name, runs, svc)
    return problems


def _environment_problems(
    swhere: str, runs: str | None, svc: dict[str, Any], facts: CodeFacts
) -> list[Problem]:
    problems = []
    environment = svc.get("environment") or {}
    if isinstance(environment, list):
        environment = {str(e).split("=", 1)[0]: [*str(e).split("=", 1), ""][1] for e in environment}
    allowed = facts.allowed_env(runs)
    literal = {}
    for key, value in environment.items():
        if not facts.knows(key, runs):
            problems.append(
                Problem(
                    swhere,
                    f"environment {key} is not "
                    f"{'a setting of ' + runs if runs else 'a shared setting'}"
                    f"{did_you_mean(key, allowed)}",
                )
            )
        elif value is not None and "$" not in str(value):
            literal[key] = str(value)
    problems += settings_problems(facts, runs, literal, swhere)
    return problems


def _runtime_problems(swhere: str, name: str, runs: str, svc: dict[str, Any]) -> list[Problem]:
    """How a service's container runs: health, draining, scaling, a read-only root, its infra."""
    problems = []
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
        problems.append(Problem(swhere, "not read_only with a tmpfs at /tmp (as on Kubernetes)"))
    needs = svc.get("depends_on") or {}
    for dep in ("kafka", "mongo"):
        if dep not in needs:
            problems.append(Problem(swhere, f"does not depend on {dep}"))
    return problems
