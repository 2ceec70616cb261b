"""The manifests of one kustomization, loaded, and the pods in them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.k8s.validate.common import WORKLOAD_KINDS, Problem

FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=FAST_LOADER))
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
