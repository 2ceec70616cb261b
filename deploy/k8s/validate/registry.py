"""The registry and glossary files in ConfigMaps load with the project's own parsers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from deploy.k8s.validate.bundle import Bundle
from deploy.k8s.validate.common import Problem


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
