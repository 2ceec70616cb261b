"""AsyncAPI documents of the services' Kafka interfaces, generated from the service code.

    python -m tools.asyncapi write   # (re)write docs/asyncapi/{ingest,translate,feeds}.yaml
    python -m tools.asyncapi check   # exit 1, saying what differs, when the code disagrees

Each document comes from FastStream's own generator (``faststream.specification.AsyncAPI``,
AsyncAPI 3.0.0) run on the broker the service builds (:func:`shared.messaging.make_broker`)
with the subscribers and publishers its consumer module registers (``register()``). Nothing
connects: the broker is never started and the MongoDB client is lazy. Three things FastStream
cannot see are then added, so that each document lists everything the service consumes and
produces, with the payload schemas of :mod:`shared.contracts`:

* what the service publishes with ``broker.publish(...)`` instead of a publisher object: the
  dead letters of every topic it consumes (:class:`shared.messaging.DeadLetterPolicy`, payload
  :class:`~shared.contracts.DeadLetter`) and what ingest's HTTP API publishes
  (:data:`HTTP_PUBLISHED`). These are declared as publishers on the documentation broker only;
* the payload of a handler FastStream cannot name (a batch consumer decoding raw records itself,
  a publisher without ``schema=``) is the topic's contract (:data:`CONTRACTS`); a handler that
  names a different model than its topic's contract is an error;
* the server is the placeholder ``kafka:9092``, whatever ``KAFKA_BOOTSTRAP_SERVERS`` says, and
  the YAML has sorted keys, so the output depends on the code alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from inspect import isclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, TypeAdapter

from shared.contracts import (
    DeadLetter,
    HumanTranslation,
    IngestedArticle,
    RetranslationRequest,
    SubmissionMessage,
    Topics,
    TranslatedArticle,
)
from shared.glossary import GlossaryStore
from shared.messaging import make_broker
from shared.registry import Registry
from shared.service import Runtime
from shared.settings import InfraSettings, ServiceSettings
from shared.storage import connect

SERVICES = ("ingest", "translate", "feeds")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"
SCHEMA_VERSION = "3.0.0"
VERSION = "1"  # the version of the event contracts (every event's schema_version)
SERVER = "kafka:9092"
SERVER_DESCRIPTION = (
    "Placeholder: each service connects to the bootstrap servers in KAFKA_BOOTSTRAP_SERVERS."
)
SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"

#: The payload of each main topic: (schema name, pydantic model or type). ``<topic>.dlq``
#: carries :class:`DeadLetter`.
CONTRACTS: dict[str, tuple[str, Any]] = {
    Topics.SUBMITTED: ("SubmissionMessage", SubmissionMessage),
    Topics.INGESTED: ("IngestedArticle", IngestedArticle),
    Topics.TRANSLATED: ("TranslatedArticle", TranslatedArticle),
    Topics.HUMAN_TRANSLATIONS: ("HumanTranslation", HumanTranslation),
    Topics.RETRANSLATIONS: ("RetranslationRequest", RetranslationRequest),
}
SCHEMA_DESCRIPTIONS = {
    "SubmissionMessage": "``articles.submitted`` v1: any of the four forms, told apart by the "
    "field only that form has (`ninjs`; `raw_html` or `raw_text`; `withdraw`; otherwise an "
    "article).",
}

#: What a service publishes from its HTTP API with ``broker.publish(...)``: (topic, description).
HTTP_PUBLISHED: dict[str, tuple[tuple[str, str], ...]] = {
    "ingest": (
        (
            Topics.SUBMITTED,
            "What the editors' HTTP API accepts (`POST /articles`, `DELETE /articles/{id}`), "
            "published as any other client would, for the consumer of this topic.",
        ),
        (
            Topics.HUMAN_TRANSLATIONS,
            "An editor's own translation (`PUT /articles/{id}/translations/{language}`), or a "
            "held machine translation approved as it is (`review: approved`), for the translate "
            "service.",
        ),
        (
            Topics.RETRANSLATIONS,
            "A held translation an editor sends back to be made by another engine or model, "
            "for the translate service.",
        ),
    ),
}

DESCRIPTIONS = {
    "ingest": "Validates editor submissions from `articles.submitted` (article, ninjs, page or "
    "withdrawal), stores each article version and announces it on `articles.ingested`; keeps "
    "each article's translation status from `articles.translated`. Its editors' HTTP API "
    "publishes submissions to `articles.submitted`, editors' translations and approvals to "
    "`translations.submitted` and translations sent back to `translations.requested`.",
    "translate": "Translates each version on `articles.ingested` into its publisher's target "
    "languages, checks every machine translation and announces it on `articles.translated` "
    "(held for an editor, with the failed checks, where the publisher's policy says so); an "
    "editor's translation or approval from `translations.submitted` replaces the machine one, "
    "and a translation sent back on `translations.requested` is made again without the "
    "engines named.",
    "feeds": "Turns source-language articles (`articles.ingested`) and translations "
    "(`articles.translated`) into per-language Atom, RSS and JSON feeds, served over HTTP and "
    "pushed with WebSub; on Kafka it publishes only dead letters.",
}
COMMON_DESCRIPTION = (
    "\n\nEvery message is JSON; its key is the article id (a dead letter keeps the original "
    "key). A message the service cannot process goes whole, with the reason, to `<topic>.dlq` "
    "as a `DeadLetter`."
)
HEADER = (
    "# Generated from the service code by `python -m tools.asyncapi write`; do not edit.\n"
    "# `python -m tools.asyncapi check` (and the unit tests) fail when it and the code differ.\n"
)


class ContractMismatch(ValueError):
    """A handler or publisher declares a payload other than its topic's contract."""


# --------------------------------------------------------------------------- the brokers


def runtime(service: str, settings: ServiceSettings) -> Runtime:
    """:func:`shared.service.build_runtime` without its logging set-up (which would take over
    the process's root logger): the real broker, and a MongoDB client that stays unconnected."""
    kafka, policy = make_broker(service, settings)
    client = connect(settings.infra, service)  # lazy: connects on first use only
    db = client[settings.infra.mongodb_database]
    log = logging.getLogger(service)
    return Runtime(service, settings, kafka, policy, client, db, Registry(db), log)


def _infra() -> InfraSettings:
    """The defaults only (``model_construct`` reads no environment), with the placeholder server."""
    return InfraSettings.model_construct(kafka_bootstrap_servers=SERVER)


# Services are imported only when asked for: translate's modules pull in the model runtimes.


def _ingest() -> Runtime:
    from services.ingest import consumer
    from services.ingest.settings import IngestSettings
    from services.ingest.store import ArticleStore

    settings = IngestSettings.model_construct(infra=_infra())
    rt = runtime("ingest", settings)
    consumer.register(rt, ArticleStore(rt.db), settings)
    return rt


def _translate() -> Runtime:
    from services.translate import consumer
    from services.translate.settings import TranslateSettings
    from services.translate.store import TranslationStore

    settings = TranslateSettings.model_construct(infra=_infra())
    rt = runtime("translate", settings)
    glossaries = GlossaryStore(rt.db, ttl=settings.glossary_ttl_seconds)
    consumer.register(rt, TranslationStore(rt.db), None, glossaries, settings)
    return rt


def _feeds() -> Runtime:
    from services.feeds import consumer
    from services.feeds.publishing import Feeds
    from services.feeds.settings import FeedsSettings
    from services.feeds.store import FeedStore

    settings = FeedsSettings.model_construct(infra=_infra())
    rt = runtime("feeds", settings)
    store = FeedStore(rt.db, settings.entries_per_feed)
    consumer.register(rt, Feeds(store, rt.registry, settings.public_url), settings)
    return rt


REGISTER: dict[str, Callable[[], Runtime]] = {
    "ingest": _ingest,
    "translate": _translate,
    "feeds": _feeds,
}


def broker(service: str) -> KafkaBroker:
    """The service's broker with what its consumer module registers; nothing is connected."""
    if service not in REGISTER:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return REGISTER[service]().broker


def _consumed(kafka: KafkaBroker) -> list[str]:
    addresses = {spec.address for sub in kafka.subscribers for spec in sub.schema().values()}
    return sorted(a for a in addresses if a)


def _declare_imperative(service: str, kafka: KafkaBroker) -> None:
    """Publishers for what the service sends with ``broker.publish(...)`` (documentation only)."""
    for topic in _consumed(kafka):
        kafka.publisher(
            Topics.dlq(topic),
            description=f"Messages from `{topic}` this service could not process, with the "
            "reason (shared.messaging.DeadLetterPolicy).",
            schema=DeadLetter,
        )
    for topic, description in HTTP_PUBLISHED.get(service, ()):
        model = _contract(topic)[1]
        schema = model if isclass(model) and issubclass(model, BaseModel) else None
        kafka.publisher(topic, description=description, schema=schema)


# --------------------------------------------------------------------------- the document


def document(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one service, as plain JSON data."""
    kafka = broker(service)
    _declare_imperative(service, kafka)
    spec = AsyncAPI(
        kafka,
        title=f"City syndication: {service}",
        version=VERSION,
        description=DESCRIPTIONS[service] + COMMON_DESCRIPTION,
        schema_version=SCHEMA_VERSION,
    ).to_specification()
    doc: dict[str, Any] = json.loads(spec.to_json())
    for server in doc.get("servers", {}).values():
        server["host"] = SERVER
        server["description"] = SERVER_DESCRIPTION
    _apply_contracts(doc)
    return doc


def _contract(address: str) -> tuple[str, Any]:
    if address.endswith(".dlq"):
        return "DeadLetter", DeadLetter
    try:
        return CONTRACTS[address]
    except KeyError:
        raise ContractMismatch(
            f"topic {address!r} has no contract in tools.asyncapi.CONTRACTS"
        ) from None


def _pointer(ref: str, prefix: str) -> str:
    if not ref.startswith(prefix):
        raise ValueError(f"unexpected reference {ref!r}")
    return unquote(ref.removeprefix(prefix)).replace("~1", "/").replace("~0", "~")


def contract_schemas(name: str, model: Any) -> dict[str, Any]:
    """The schema of a contract and of the models it uses, keyed by component name."""
    schema = TypeAdapter(model).json_schema(ref_template=SCHEMAS + "{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    schema.setdefault("title", name)
    if name in SCHEMA_DESCRIPTIONS:
        schema.setdefault("description", SCHEMA_DESCRIPTIONS[name])
    return {**defs, name: schema}


def _apply_contracts(doc: dict[str, Any]) -> None:
    """Give every message its topic's contract where FastStream left a placeholder payload."""
    components = doc.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    messages: dict[str, Any] = components.get("messages", {})
    placeholders: set[str] = set()
    for key, channel in doc.get("channels", {}).items():
        name, model = _contract(channel["address"])
        for reference in channel.get("messages", {}).values():
            message = messages[_pointer(reference["$ref"], MESSAGES)]
            payload_ref = message.get("payload", {}).get("$ref")
            current = _pointer(payload_ref, SCHEMAS) if payload_ref else None
            if current != name:
                if current is not None and not current.endswith(":Payload"):
                    raise ContractMismatch(
                        f"channel {key!r}: the code declares {current}, but the contract of "
                        f"{channel['address']!r} is {name}"
                    )
                if current is not None:
                    placeholders.add(current)
                message["payload"] = {"$ref": SCHEMAS + name}
            for def_name, schema in contract_schemas(name, model).items():
                if def_name in schemas and schemas[def_name] != schema:
                    raise ContractMismatch(
                        f"two different schemas are named {def_name!r}: the code's and "
                        "shared.contracts'"
                    )
                schemas[def_name] = schema
    for placeholder in placeholders:
        schemas.pop(placeholder, None)


def render(doc: Mapping[str, Any]) -> str:
    """The document as committed: YAML with sorted keys, after a header."""
    body = yaml.safe_dump(
        dict(doc), sort_keys=True, allow_unicode=True, default_flow_style=False, width=100
    )
    return HEADER + body


# --------------------------------------------------------------------------- write and check


def path(service: str, directory: Path = DOCS) -> Path:
    return directory / f"{service}.yaml"


def _shown(target: Path) -> str:
    """A path as a person would type it: relative to the working directory when inside it."""
    try:
        return str(target.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(target)


def write(directory: Path = DOCS, services: Sequence[str] = SERVICES) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in services:
        target = path(service, directory)
        target.write_text(render(document(service)), encoding="utf-8")
        written.append(target)
    return written


def differences(committed: Any, generated: Any, at: tuple[str, ...] = ()) -> list[str]:
    """What differs between two documents, one line per difference, paths as JSON pointers."""
    where = "/" + "/".join(at)
    if isinstance(committed, dict) and isinstance(generated, dict):
        lines: list[str] = []
        for key in sorted(committed.keys() | generated.keys(), key=str):
            if key not in generated:
                lines.append(f"- {where.rstrip('/')}/{key}: only in the committed document")
            elif key not in committed:
                lines.append(f"+ {where.rstrip('/')}/{key}: only in the code")
            else:
                lines.extend(differences(committed[key], generated[key], (*at, str(key))))
        return lines
    if (
        isinstance(committed, list)
        and isinstance(generated, list)
        and len(committed) == len(generated)
    ):
        return [
            line
            for i, (old, new) in enumerate(zip(committed, generated, strict=True))
            for line in differences(old, new, (*at, str(i)))
        ]
    if committed != generated:
        return [f"~ {where}: committed {_short(committed)}, code {_short(generated)}"]
    return []


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check(
    directory: Path = DOCS,
    services: Sequence[str] = SERVICES,
    generated: Mapping[str, Mapping[str, Any]] | None = None,
    max_lines: int = 30,
) -> list[str]:
    """Problems with the committed documents, for a person; empty when all are up to date.

    ``generated`` stands in for :func:`document` (the tests use it to simulate a code change).
    """
    problems: list[str] = []
    for service in services:
        target = path(service, directory)
        doc = generated[service] if generated and service in generated else document(service)
        expected = render(doc)
        if not target.exists():
            problems.append(f"{_shown(target)}: missing")
            continue
        text = target.read_text(encoding="utf-8")
        if text == expected:
            continue
        try:
            committed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problems.append(f"{_shown(target)}: not valid YAML ({exc.__class__.__name__})")
            continue
        lines = differences(committed, json.loads(json.dumps(doc)))
        if not lines:
            problems.append(f"{_shown(target)}: same content, but not as `write` formats it")
            continue
        shown = lines[:max_lines]
        if len(lines) > max_lines:
            shown.append(f"... and {len(lines) - max_lines} more")
        problems.append(
            f"{_shown(target)}: differs from the code in {len(lines)} place(s):\n"
            + "\n".join(f"  {line}" for line in shown)
        )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.asyncapi", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--dir", type=Path, default=DOCS, help="default: docs/asyncapi")
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: all three")
    args = parser.parse_intermixed_args(argv)
    services = tuple(args.services) or SERVICES
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        parser.error(f"unknown service {unknown[0]!r}; one of {', '.join(SERVICES)}")
    try:
        if args.command == "write":
            for written in write(args.dir, services):
                print(f"wrote {_shown(written)}")
            return 0
        problems = check(args.dir, services)
    except ContractMismatch as exc:
        print(f"cannot generate the AsyncAPI documents: {exc}")
        return 2
    for problem in problems:
        print(problem)
    if problems:
        print("The AsyncAPI documents are out of date: run `python -m tools.asyncapi write`.")
        return 1
    print(f"{', '.join(_shown(path(s, args.dir)) for s in services)}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
