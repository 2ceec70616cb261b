"""What the code says about how each service must be deployed: read by importing its settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy.k8s.validate.common import LIBRARY_ENV, Problem


@dataclass(frozen=True)
class ServiceFacts:
    """What a service's code says about how it must be deployed."""

    name: str
    settings: type[Any]
    prefix: str
    http_port: int
    env_names: frozenset[str]  # its own, prefixed settings
    topics: frozenset[str]  # what its consumer group (the service name) consumes
    lag_topic: str | None  # the topic whose lag says it needs more replicas


@dataclass(frozen=True)
class CodeFacts:
    services: dict[str, ServiceFacts]
    infra: type[Any]
    infra_env: frozenset[str]
    infra_defaults: dict[str, Any]

    def allowed_env(self, service: str | None) -> frozenset[str]:
        own = self.services[service].env_names if service else frozenset()
        return self.infra_env | own

    def knows(self, name: str, service: str | None) -> bool:
        """A variable a process of ``service`` (None: the shared CLIs) reads."""
        return name in self.allowed_env(service) or bool(LIBRARY_ENV.match(name))

    @property
    def every_env(self) -> frozenset[str]:
        names = set(self.infra_env)
        for facts in self.services.values():
            names |= facts.env_names
        return frozenset(names)


def code_facts() -> CodeFacts:
    from services.feeds.settings import FeedsSettings
    from services.ingest.settings import IngestSettings
    from services.translate.settings import TranslateSettings
    from shared.contracts import Topics
    from shared.settings import InfraSettings

    # The topics each consumer group reads (services/*/consumer.py: group id = service name).
    topics = {
        "ingest": (Topics.SUBMITTED,),
        "translate": (Topics.INGESTED, Topics.HUMAN_TRANSLATIONS, Topics.RETRANSLATIONS),
        "feeds": (Topics.INGESTED, Topics.TRANSLATED),
    }
    lag = {"ingest": Topics.SUBMITTED, "translate": Topics.INGESTED, "feeds": None}
    classes: dict[str, type[Any]] = {
        "ingest": IngestSettings,
        "translate": TranslateSettings,
        "feeds": FeedsSettings,
    }
    services = {}
    for name, cls in classes.items():
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        fields = [f for f in cls.model_fields if f != "infra"]
        services[name] = ServiceFacts(
            name=name,
            settings=cls,
            prefix=prefix,
            http_port=int(cls.model_fields["http_port"].default),
            env_names=frozenset(prefix + f.upper() for f in fields),
            topics=frozenset(topics[name]),
            lag_topic=lag[name],
        )
    infra_env = frozenset(f.upper() for f in InfraSettings.model_fields)
    defaults = {f.upper(): info.default for f, info in InfraSettings.model_fields.items()}
    return CodeFacts(services, InfraSettings, infra_env, defaults)


def _pydantic_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def settings_problems(
    facts: CodeFacts, service: str | None, env: Mapping[str, str], where: str
) -> list[Problem]:
    """Validate literal environment values against the settings classes (env is not read)."""
    from pydantic import ValidationError

    problems = []
    infra_values = {k.lower(): v for k, v in env.items() if k in facts.infra_env}
    try:
        infra = facts.infra.model_validate(infra_values)
    except ValidationError as exc:
        problems.append(Problem(where, f"invalid shared settings: {_pydantic_errors(exc)}"))
        return problems
    if service is None:
        return problems
    svc = facts.services[service]
    own = {
        k[len(svc.prefix) :].lower(): v
        for k, v in env.items()
        if k in svc.env_names and k.startswith(svc.prefix)
    }
    try:
        svc.settings.model_validate({**own, "infra": infra})
    except ValidationError as exc:
        problems.append(Problem(where, f"invalid {service} settings: {_pydantic_errors(exc)}"))
    return problems
