"""The entry point: every checker, a report, and the command line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.k8s.validate.common import (
    COMPOSE_FILE,
    DOCKERFILE,
    K8S_DIR,
    KUBERNETES_VERSION,
    Problem,
)
from deploy.k8s.validate.compose import compose_problems
from deploy.k8s.validate.dependencies import image_dependency_problems
from deploy.k8s.validate.dockerfile import dockerfile_problems
from deploy.k8s.validate.facts import code_facts
from deploy.k8s.validate.kubernetes import k8s_problems


@dataclass
class Report:
    problems: list[Problem]
    manifests: int


def validate(
    k8s_dir: Path = K8S_DIR,
    compose_file: Path = COMPOSE_FILE,
    dockerfile: Path = DOCKERFILE,
    kubernetes_version: str = KUBERNETES_VERSION,
    check_dependencies: bool = True,
) -> Report:
    facts = code_facts()
    problems, count = k8s_problems(k8s_dir, facts, kubernetes_version)
    problems += compose_problems(compose_file, dockerfile, facts)
    problems += dockerfile_problems(dockerfile, facts)
    if check_dependencies:
        problems += image_dependency_problems(facts)
    return Report(problems, count)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.k8s.validate",
        description="Check the Kubernetes manifests, docker-compose.yml and the Dockerfile.",
    )
    parser.add_argument("--k8s", type=Path, default=K8S_DIR, help="kustomization directory")
    parser.add_argument("--compose", type=Path, default=COMPOSE_FILE)
    parser.add_argument("--dockerfile", type=Path, default=DOCKERFILE)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    report = validate(args.k8s, args.compose, args.dockerfile, args.kubernetes_version)
    for problem in report.problems:
        out(f"ERROR {problem}")
    if report.problems:
        out(f"{len(report.problems)} problem(s) in the deployment files")
        return 1
    out(
        f"deployment files OK: {report.manifests} Kubernetes objects (schemas of Kubernetes "
        f"{args.kubernetes_version}), {args.compose.name}, {args.dockerfile.name}"
    )
    return 0
