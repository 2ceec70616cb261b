"""The Ingress routes only public paths (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from deploy.k8s.validate.bundle import Bundle, Manifest
from deploy.k8s.validate.common import INTERNAL_PATHS, Problem
from deploy.k8s.validate.pod_env import data_keys


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
    public = data_keys(config).get("FEEDS_PUBLIC_URL") if config else None
    host = urlsplit(public).hostname if public else None
    if host and bundle.of_kind("Ingress") and host not in hosts:
        problems.append(
            Problem("ingress", f"no Ingress rule routes FEEDS_PUBLIC_URL's host {host}")
        )
    return problems
