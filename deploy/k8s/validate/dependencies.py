"""What each image must install: its code imports only what its pyproject extra installs."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from deploy.k8s.validate.common import PYPROJECT, ROOT, Problem
from deploy.k8s.validate.facts import CodeFacts


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
