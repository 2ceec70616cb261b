"""Kubernetes objects against Kubernetes' schemas; KEDA's ScaledObject against one embedded here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deploy.k8s.validate.bundle import Bundle
from deploy.k8s.validate.common import Problem

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
