"""Which ninjs a document is, and whether it is valid against IPTC's schema of that version.

ninjs 3.0 renamed most properties to camelCase (``versionCreated``, ``pubStatus``, …); 2.x and
1.x spell them in lower case. A document read in the wrong spelling loses its dates and its
status (a ``canceled`` story would be published), so the spelling is decided first:

* by the schema the document names: ``$schema``, ``standard.schema`` (2.x, 3.x) or
  ``$standard.schema`` (1.3 to 1.6), matched against the ``$id`` of IPTC's schema files kept in
  ``schemas/ninjs``; else ``standard.version`` (or ``$standard.version``) when the standard's
  name is ``ninjs``. A document that names a version is validated against IPTC's schema of
  that version, and refused with the schema's own reason. An extension's schema (TT's
  ``ttninjs``) is not IPTC's: such a document is read, not validated.
* else by its own properties: a 3.x camelCase property makes it 3.x, a lower-case one 1.x/2.x;
  both at once is refused (which of ``pubStatus`` and ``pubstatus`` would count?).

The schemas refer to GeoJSON's schema on the web for ``places[].geoJSON``; ingest never fetches
anything, so that reference stands for any JSON object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import validators  # type: ignore[import-untyped]
from jsonschema.exceptions import (  # type: ignore[import-untyped]
    ValidationError,
    best_match,
)
from referencing import Registry
from referencing.jsonschema import DRAFT202012

#: The properties 3.0 renamed, in their 3.x spelling; any of them makes a document 3.x.
CAMEL_CASE = frozenset(
    {
        "representationType", "firstCreated", "versionCreated", "contentCreated",
        "embargoedUntil", "pubStatus", "copyrightHolder", "copyrightNotice", "usageTerms",
        "edNote", "infoSources", "altIds", "trustIndicators", "rightsInfo", "eventDetails",
        "plannedCoverage", "digitalSourceType",
    }
)  # fmt: skip
#: The same properties in the 1.x/2.x spelling (3.x's ``embargoedUntil`` was ``embargoed``).
LOWER_CASE = frozenset({k.lower() for k in CAMEL_CASE} - {"embargoeduntil"} | {"embargoed"})
_GEOJSON = "https://geojson.org/schema/GeoJSON.json"
_IPTC_SCHEMA = re.compile(
    r"^https?://(?:www\.)?iptc\.org/std/ninjs/ninjs-schema_(?P<version>\d+\.\d+)\.json#?$"
)
_MESSAGE_MAX = 300


class SchemaError(ValueError):
    """The document is not what the ninjs it names allows; the message is the schema's reason."""


@dataclass(frozen=True)
class Dialect:
    """How to read a document: its ninjs version when it names one, and its spelling."""

    version: str | None  # "3.1", "2.1", …: the IPTC schema it was validated against
    camel_case: bool  # 3.x spelling


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    """IPTC's schema files by version ("1.0" … "3.1"), from each file's own ``$id``."""
    folder = resources.files("services.ingest") / "schemas" / "ninjs"
    found: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.startswith("ninjs-schema_") and entry.name.endswith(".json"):
            schema = json.loads(entry.read_text(encoding="utf-8"))
            match = _IPTC_SCHEMA.match(schema.get("$id") or schema.get("id") or "")
            if match:
                found[match.group("version")] = schema
    return found


def known_versions() -> list[str]:
    return sorted(_schemas(), key=lambda v: tuple(int(p) for p in v.split(".")))


@cache
def validator(version: str) -> Any:
    """IPTC's schema of ``version`` (a jsonschema ``Validator``), compiled once per process."""
    schema = _schemas()[version]
    cls = validators.validator_for(schema)
    registry: Registry[Any] = Registry().with_resource(
        _GEOJSON, DRAFT202012.create_resource({"type": "object"})
    )
    return cls(schema, registry=registry)


def _version_of_uri(value: object) -> str | None:
    """The version an IPTC ninjs schema URI names; None for any other schema (an extension's).
    An IPTC schema this service does not have is refused: it cannot be checked."""
    if not isinstance(value, str):
        return None
    match = _IPTC_SCHEMA.match(value.strip())
    if match is None:
        return None
    if match.group("version") not in _schemas():
        raise SchemaError(
            f"ninjs: the document names IPTC's ninjs schema {match.group('version')}, "
            f"which this service does not know (it knows {', '.join(known_versions())})"
        )
    return match.group("version")


def named_version(doc: Mapping[str, Any]) -> str | None:
    """The IPTC ninjs version the document names, or None."""
    if version := _version_of_uri(doc.get("$schema")):
        return version
    for key in ("standard", "$standard"):
        standard = doc.get(key)
        if not isinstance(standard, Mapping):
            continue
        if version := _version_of_uri(standard.get("schema")):
            return version
        name, value = standard.get("name"), standard.get("version")
        if (
            standard.get("schema") is None
            and isinstance(name, str)
            and name.lower() == "ninjs"
            and isinstance(value, str)
            and value.strip() in _schemas()
        ):
            return value.strip()
    return None


def _where(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "the document"


def validate(doc: Mapping[str, Any], version: str) -> None:
    """Raise :class:`SchemaError` with the schema's own reason when ``doc`` is not valid ninjs
    ``version``. ``$schema`` names the schema and is no ninjs property, so it is left out."""
    content = {k: v for k, v in doc.items() if k != "$schema"}
    error = best_match(validator(version).iter_errors(content))
    if error is None:
        return
    message = error.message
    if len(message) > _MESSAGE_MAX:
        message = message[: _MESSAGE_MAX - 3] + "..."
    raise SchemaError(
        f"ninjs: not valid against IPTC's ninjs {version} schema, which the document names: "
        f"{_where(error)}: {message}"
    )


def dialect(doc: Mapping[str, Any]) -> Dialect:
    """The document's version (validated against its schema) and spelling; raises
    :class:`SchemaError` for an invalid document or one that mixes the two spellings."""
    version = named_version(doc)
    if version is not None:
        validate(doc, version)
        return Dialect(version, camel_case=int(version.split(".")[0]) >= 3)
    camel = sorted(CAMEL_CASE.intersection(doc))
    lower = sorted(LOWER_CASE.intersection(doc))
    if camel and lower:
        raise SchemaError(
            f"ninjs: the document mixes ninjs 3.x properties ({', '.join(camel)}) with "
            f"1.x/2.x ones ({', '.join(lower)}): send one version's spelling, or name the "
            "version in standard.schema"
        )
    return Dialect(None, camel_case=bool(camel))
