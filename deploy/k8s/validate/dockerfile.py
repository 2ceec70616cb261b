"""The Dockerfile: a non-root numeric user, one runtime stage per service, no build tools in it."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deploy.k8s.validate.common import PYPROJECT, ROOT, RUN_AS_USER, Problem, image_problems
from deploy.k8s.validate.facts import CodeFacts, ServiceFacts


@dataclass
class Instruction:
    line: int
    op: str
    args: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    instructions: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and buffer):
            continue  # comments, also inside a continued instruction, are dropped
        if not stripped:
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        line = " ".join(b for b in buffer if b)
        buffer = []
        op, _, args = line.partition(" ")
        instructions.append(Instruction(start, op.upper(), args.strip()))
    stages: list[Stage] = []
    for ins in instructions:
        if ins.op == "FROM":
            words = ins.args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(Stage(name, words[0] if words else ""))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def _exec_form(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        try:
            value = yaml.safe_load(args)
        except yaml.YAMLError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []
    return shlex.split(args)


def _env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV KEY value`
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


@dataclass
class _Stages:
    """A Dockerfile's stages by name, to follow what a stage inherits from those it is FROM."""

    by_name: dict[str, Stage]

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        seen = [stage]
        while seen[-1].base in self.by_name and self.by_name[seen[-1].base] not in seen:
            seen.append(self.by_name[seen[-1].base])
        return seen

    def last(self, stage: Stage, op: str) -> Instruction | None:
        for s in self.chain(stage):
            found = s.all(op)
            if found:
                return found[-1]
        return None

    def env(self, stage: Stage) -> dict[str, str]:
        values: dict[str, str] = {}
        for s in reversed(self.chain(stage)):
            for ins in s.all("ENV"):
                values.update(_env_pairs(ins.args))
        return values


def dockerfile_problems(path: Path, facts: CodeFacts) -> list[Problem]:
    where = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem(str(path), f"cannot read: {exc}")]
    instructions, stages = parse_dockerfile(text)
    if not stages:
        return [Problem(where, "no FROM")]
    named = _Stages({s.name: s for s in stages if s.name})
    build_stages = [s for s in stages if any(".[${SERVICE}" in i.args for i in s.all("RUN"))]
    problems = _global_problems(where, instructions, stages, named, build_stages)
    for service, svc in facts.services.items():
        stage = named.by_name.get(f"svc-{service}")
        if stage is None:
            problems.append(Problem(where, f"no stage svc-{service} (FROM svc-${{SERVICE}})"))
            continue
        problems += _service_stage_problems(where, service, svc, stage, named, build_stages)
    for ins in instructions:
        if ins.op == "COPY" and "--from" not in ins.args:
            for source in shlex.split(ins.args)[:-1]:
                if not source.startswith("--") and not (ROOT / source).exists():
                    problems.append(Problem(f"{where}:{ins.line}", f"COPY {source}: no such path"))
    return problems


def _global_problems(
    where: str,
    instructions: list[Instruction],
    stages: list[Stage],
    named: _Stages,
    build_stages: list[Stage],
) -> list[Problem]:
    """The build arguments, the final stage, the build stage, base images, the Python version."""
    problems = []
    first_from = next(i for i in instructions if i.op == "FROM")
    global_args = [
        i.args.split("=", 1)[0].strip()
        for i in instructions[: instructions.index(first_from)]
        if i.op == "ARG"
    ]
    if "SERVICE" not in global_args:
        problems.append(Problem(where, "no global ARG SERVICE (the service an image runs)"))
    final = stages[-1]
    if "${SERVICE}" not in final.base and "$SERVICE" not in final.base:
        problems.append(Problem(where, f"the last stage FROM {final.base} does not pick SERVICE"))
    if not build_stages:
        problems.append(Problem(where, "no stage installs the project with `.[${SERVICE}]`"))
    defaults = dict(
        i.args.split("=", 1)
        for i in instructions[: instructions.index(first_from)]
        if i.op == "ARG" and "=" in i.args
    )
    for base in sorted({s.base for s in stages} - set(named.by_name)):
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), base)
        if "$" not in image:
            problems += image_problems(f"{where} FROM {base}", image)
    version_arg = next(
        (
            i.args.split("=", 1)[1]
            for i in instructions
            if i.op == "ARG" and i.args.startswith("PYTHON_VERSION=")
        ),
        None,
    )
    requires = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    if version_arg is not None and not _python_ok(version_arg, requires):
        problems.append(Problem(where, f"PYTHON_VERSION {version_arg} is outside {requires}"))
    return problems


def _service_stage_problems(
    where: str,
    service: str,
    svc: ServiceFacts,
    stage: Stage,
    named: _Stages,
    build_stages: list[Stage],
) -> list[Problem]:
    """One service's runtime stage: its user, port, environment, command, health, no tools."""
    swhere = f"{where} stage svc-{service}"
    problems = []
    user = named.last(stage, "USER")
    uid = user.args.split(":", 1)[0].strip() if user else "0"
    if not uid.isdigit() or int(uid) == 0:
        problems.append(
            Problem(
                swhere,
                f"USER {user.args if user else '(none: root)'}: want a numeric "
                f"non-root uid ({RUN_AS_USER}), which Kubernetes' runAsNonRoot can verify",
            )
        )
    elif int(uid) != RUN_AS_USER:
        problems.append(Problem(swhere, f"USER {uid}: the manifests expect {RUN_AS_USER}"))
    expose = named.last(stage, "EXPOSE")
    if expose is None or expose.args.split("/")[0].strip() != str(svc.http_port):
        problems.append(Problem(swhere, f"does not EXPOSE the settings' port {svc.http_port}"))
    values = named.env(stage)
    wanted_env = {
        "SERVICE": service,
        f"{svc.prefix}HTTP_HOST": "0.0.0.0",
        f"{svc.prefix}HTTP_PORT": str(svc.http_port),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for key, value in wanted_env.items():
        if values.get(key) != value:
            problems.append(Problem(swhere, f"ENV {key} is {values.get(key)!r}, not {value!r}"))
    cmd = named.last(stage, "CMD")
    if cmd is None or _exec_form(cmd.args)[-3:] != ["python", "-m", f"services.{service}"][-3:]:
        problems.append(Problem(swhere, f"CMD does not run python -m services.{service}"))
    health = named.last(stage, "HEALTHCHECK")
    if health is None or "NONE" in health.args.split():
        problems.append(Problem(swhere, "no HEALTHCHECK"))
    runtime = [s for s in named.chain(stage) if s not in build_stages]
    return problems + _build_tool_problems(where, runtime)


def _build_tool_problems(where: str, runtime: list[Stage]) -> list[Problem]:
    problems = []
    for s in runtime:
        for ins in s.all("RUN"):
            tool = re.search(
                r"\b(apt-get install|apk add|gcc|g\+\+|build-essential|"
                r"pip install)\b",
                ins.args,
            )
            if tool:
                problems.append(
                    Problem(
                        f"{where}:{ins.line}",
                        f"`{tool.group(1)}` in the runtime stage "
                        f"{s.name or s.base}: build in the build stage",
                    )
                )
    return problems


def _python_ok(version: str, requires: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requires).contains(version + (".0" if version.count(".") == 1 else ""))
