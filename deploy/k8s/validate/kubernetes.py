"""The Kubernetes checker: every check of one kustomization directory."""

from __future__ import annotations

from pathlib import Path

from deploy.k8s.validate.bundle import containers_of, load_bundle, pod_template
from deploy.k8s.validate.common import SERVICES, Problem
from deploy.k8s.validate.facts import CodeFacts
from deploy.k8s.validate.ingress import ingress_problems
from deploy.k8s.validate.keda import keda_problems
from deploy.k8s.validate.pods import container_service, workload_problems
from deploy.k8s.validate.references import reference_problems
from deploy.k8s.validate.registry import registry_problems
from deploy.k8s.validate.schemas import schema_problems


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
