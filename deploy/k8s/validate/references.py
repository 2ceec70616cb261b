"""Cross-object references: selectors, autoscaler targets, Service ports, namespaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploy.k8s.validate.bundle import Bundle, Manifest, containers_of, pod_template
from deploy.k8s.validate.common import CLUSTER_SCOPED, Problem
from deploy.k8s.validate.pods import port_number


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
                if not any(port_number(c, target) for _, c in containers_of(pod_spec)):
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
