"""What a container takes from ConfigMaps, Secrets and volumes, and whether those exist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy.k8s.validate.bundle import Bundle, Manifest
from deploy.k8s.validate.common import ENV_NAME, LIBRARY_ENV, Problem, did_you_mean
from deploy.k8s.validate.facts import CodeFacts


@dataclass
class ContainerEnv:
    """A container's environment as far as the manifests tell: literal values by name."""

    values: dict[str, str] = field(default_factory=dict)
    from_secrets: set[str] = field(default_factory=set)


def data_keys(m: Manifest) -> dict[str, str]:
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
            for key, value in data_keys(found).items():
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
                            f"{did_you_mean(name, facts.every_env)}",
                        )
                    )
                elif kind == "Secret":
                    env.from_secrets.add(name)
                else:
                    env.values[name] = value
    for var in c.get("env") or []:
        name = str(var.get("name"))
        if not facts.knows(name, service):
            problems.append(
                Problem(where, f"env {name} is not {owner}{did_you_mean(name, allowed)}")
            )
        if "value" in var:
            env.values[name] = str(var["value"])
            continue
        value_from = var.get("valueFrom") or {}
        for ref_key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(ref_key)
            if not ref:
                continue
            found = bundle.find(kind, str(ref.get("name")))
            keys = data_keys(found) if found else {}
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
            keys = data_keys(found)
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
            files = {i.get("path") for i in items} if items else set(data_keys(found))
            mounts.append((str(vm.get("mountPath")).rstrip("/") + "/", files, found.name))
    problems = []
    for arg in [*(c.get("command") or []), *(c.get("args") or [])]:
        for mount, files, cm in mounts:
            if str(arg).startswith(mount) and str(arg)[len(mount) :] not in files:
                problems.append(Problem(where, f"{arg} is not a file of ConfigMap {cm}"))
    return problems
