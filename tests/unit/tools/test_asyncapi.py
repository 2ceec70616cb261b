"""The committed AsyncAPI documents (docs/asyncapi/) match what the service code generates."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from pydantic import Field, create_model

from services.translate import consumer as translate_consumer
from shared.contracts import DeadLetter, IngestedArticle, RetranslationRequest, Topics
from tools import asyncapi

ROOT = Path(__file__).resolve().parents[3]

IN, OUT = "receive", "send"
EXPECTED: dict[str, dict[str, dict[str, str]]] = {
    "ingest": {
        IN: {
            Topics.SUBMITTED: "SubmissionMessage",
            Topics.TRANSLATED: "TranslatedArticle",
        },
        OUT: {
            Topics.INGESTED: "IngestedArticle",
            Topics.SUBMITTED: "SubmissionMessage",  # the editors' HTTP API
            Topics.HUMAN_TRANSLATIONS: "HumanTranslation",  # the editors' HTTP API
            Topics.RETRANSLATIONS: "RetranslationRequest",  # the desk's send back
            Topics.dlq(Topics.SUBMITTED): "DeadLetter",
            Topics.dlq(Topics.TRANSLATED): "DeadLetter",
        },
    },
    "translate": {
        IN: {
            Topics.INGESTED: "IngestedArticle",
            Topics.HUMAN_TRANSLATIONS: "HumanTranslation",
            Topics.RETRANSLATIONS: "RetranslationRequest",
        },
        OUT: {
            Topics.TRANSLATED: "TranslatedArticle",
            Topics.dlq(Topics.INGESTED): "DeadLetter",
            Topics.dlq(Topics.HUMAN_TRANSLATIONS): "DeadLetter",
            Topics.dlq(Topics.RETRANSLATIONS): "DeadLetter",
        },
    },
    "feeds": {
        IN: {
            Topics.INGESTED: "IngestedArticle",
            Topics.TRANSLATED: "TranslatedArticle",
        },
        OUT: {
            Topics.dlq(Topics.INGESTED): "DeadLetter",
            Topics.dlq(Topics.TRANSLATED): "DeadLetter",
        },
    },
}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {service: asyncapi.document(service) for service in asyncapi.SERVICES}


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """What a local reference (a JSON pointer in a URI fragment) points at."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc: dict[str, Any], action: str) -> dict[str, str]:
    """Topic -> payload schema name, for every operation of one kind."""
    found: dict[str, str] = {}
    for op in doc["operations"].values():
        if op["action"] != action:
            continue
        channel = resolve(doc, op["channel"]["$ref"])
        (message_ref,) = op["messages"]
        message = resolve(doc, resolve(doc, message_ref["$ref"])["$ref"])
        payload = message["payload"]["$ref"].removeprefix(asyncapi.SCHEMAS)
        assert channel["address"] not in found, f"{channel['address']} listed twice for {action}"
        found[channel["address"]] = payload
    return found


# --------------------------------------------------------------------------- (a) in sync


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_committed_documents_match_the_code(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    problems = asyncapi.check(services=[service], generated=documents)
    assert not problems, "\n".join(problems)


def test_generation_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1.example:19092")
    monkeypatch.setenv("INGEST_BATCH_MAX_RECORDS", "7")
    doc = asyncapi.document("ingest")
    assert asyncapi.render(doc) == asyncapi.render(asyncapi.document("ingest"))
    assert [s["host"] for s in doc["servers"].values()] == ["kafka:9092"]
    assert not asyncapi.check(services=["ingest"], generated={"ingest": doc})


# --------------------------------------------------------------------------- (b) contents


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_documents_list_what_each_service_consumes_and_produces(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    doc = documents[service]
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == f"City syndication: {service}"
    assert doc["info"]["version"] and doc["info"]["description"]
    assert operations(doc, IN) == EXPECTED[service][IN]
    assert operations(doc, OUT) == EXPECTED[service][OUT]


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_payload_schemas_are_the_contracts(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    schemas = documents[service]["components"]["schemas"]
    for topic, name in {**EXPECTED[service][IN], **EXPECTED[service][OUT]}.items():
        model = DeadLetter if topic.endswith(".dlq") else asyncapi.CONTRACTS[topic][1]
        for def_name, schema in asyncapi.contract_schemas(name, model).items():
            assert schemas[def_name] == schema, f"{service}: {def_name} differs from contracts"
    assert not [n for n in schemas if n.endswith(":Payload")], "a placeholder payload is left"


def test_submissions_are_any_of_the_four_forms(documents: dict[str, dict[str, Any]]) -> None:
    schema = documents["ingest"]["components"]["schemas"]["SubmissionMessage"]
    assert [ref["$ref"].removeprefix(asyncapi.SCHEMAS) for ref in schema["oneOf"]] == [
        "SubmittedArticle",
        "SubmittedNinjs",
        "SubmittedPage",
        "Withdrawal",
    ]


def _published_topics(package: Path) -> set[str]:
    """Topics a package publishes to imperatively: ``*.publish(..., topic=Topics.NAME)``."""
    found = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "publish"
            ):
                continue
            for kw in node.keywords:
                value = kw.value
                if (
                    kw.arg == "topic"
                    and isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == "Topics"
                ):
                    found.add(getattr(Topics, value.attr))
    return found


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_imperative_publishing_is_documented(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    """``broker.publish(..., topic=...)`` is invisible to FastStream: tools.asyncapi declares it
    (HTTP_PUBLISHED); a new one in the service code must be declared there too."""
    published = _published_topics(ROOT / "services" / service)
    missing = published - set(operations(documents[service], OUT))
    assert not missing, f"{service} publishes to {missing}: add them to HTTP_PUBLISHED"


# --------------------------------------------------------------------------- (c) drift


def test_a_changed_document_is_reported(
    tmp_path: Path, documents: dict[str, dict[str, Any]]
) -> None:
    asyncapi.write(tmp_path, services=["translate"])
    assert asyncapi.check(tmp_path, ["translate"], generated=documents) == []

    changed = copy.deepcopy(documents["translate"])
    props = changed["components"]["schemas"]["IngestedArticle"]["properties"]
    props["summary"] = {"title": "Summary", "type": "string"}
    del props["byline"]
    changed["info"]["version"] = "2"

    (problem,) = asyncapi.check(tmp_path, ["translate"], generated={"translate": changed})
    assert "translate.yaml: differs from the code in 3 place(s)" in problem
    assert "+ /components/schemas/IngestedArticle/properties/summary: only in the code" in problem
    assert "- /components/schemas/IngestedArticle/properties/byline: only in the committed" in (
        problem
    )
    assert '~ /info/version: committed "1", code "2"' in problem


def test_a_changed_contract_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncapi.write(tmp_path)
    assert asyncapi.main(["check", "--dir", str(tmp_path)]) == 0

    # A new field on the event translate and feeds consume (their batch consumers take the
    # contract, and the send-back handler takes a request that carries the article).
    extended = create_model(
        "IngestedArticle",
        __base__=IngestedArticle,
        summary=(str | None, Field(default=None, description="A one-line summary.")),
    )
    monkeypatch.setitem(asyncapi.CONTRACTS, Topics.INGESTED, ("IngestedArticle", extended))
    request = create_model(
        "RetranslationRequest",
        __base__=RetranslationRequest,
        article=(extended, RetranslationRequest.model_fields["article"]),
    )
    monkeypatch.setattr(translate_consumer, "RetranslationRequest", request)
    monkeypatch.setitem(
        asyncapi.CONTRACTS, Topics.RETRANSLATIONS, ("RetranslationRequest", request)
    )
    assert asyncapi.main(["check", "--dir", str(tmp_path), "translate"]) == 1
    out = capsys.readouterr().out
    assert "translate.yaml: differs from the code" in out
    assert "/components/schemas/IngestedArticle/properties/summary: only in the code" in out
    assert "run `python -m tools.asyncapi write`" in out

    # feeds consumes in batches too: its document takes the contract as well.
    assert asyncapi.main(["check", "--dir", str(tmp_path), "feeds"]) == 1
    assert "feeds.yaml: differs from the code" in capsys.readouterr().out


def test_a_missing_or_hand_edited_document_is_reported(tmp_path: Path) -> None:
    assert asyncapi.check(tmp_path, ["feeds"]) == [f"{tmp_path / 'feeds.yaml'}: missing"]
    asyncapi.write(tmp_path, ["feeds"])
    target = tmp_path / "feeds.yaml"
    target.write_text(
        yaml.safe_dump(yaml.safe_load(target.read_text(encoding="utf-8")), sort_keys=False),
        encoding="utf-8",
    )
    (problem,) = asyncapi.check(tmp_path, ["feeds"])
    assert problem.endswith("same content, but not as `write` formats it")
