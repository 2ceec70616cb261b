"""The registry file: YAML read and validated into publishers, networks and partners, and
written to the database (``python -m tools.registry load FILE``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.registry.models import (
    NETWORKS,
    PARTNERS,
    PUBLISHERS,
    Network,
    Partner,
    Publisher,
    check_network,
    check_partner,
)
from shared.storage import Collection, Database


class RegistryContents(NamedTuple):
    publishers: list[Publisher]
    networks: list[Network]
    partners: list[Partner]


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line: ``field: problem; field: problem``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = "is required" if err["type"] == "missing" else str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "is not a known field"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    partners: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def parsed(self) -> RegistryContents:
        pubs = [Publisher(id=k, **v) for k, v in self.publishers.items()]
        nets = [Network(id=k, **v) for k, v in self.networks.items()]
        partners = []
        for key, value in self.partners.items():
            try:
                partners.append(Partner(id=key, **value))
            except ValidationError as exc:
                raise ValueError(f"partner {key!r}: {_describe(exc)}") from None
        known = [p.id for p in pubs]
        for net in nets:
            check_network(net, known)
        for partner in partners:
            check_partner(partner, known, [n.id for n in nets])
        return RegistryContents(pubs, nets, partners)


def read_registry(path: Path) -> RegistryContents:
    """Publishers, networks and partners of a registry file, validated (ValueError)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return RegistryFile.model_validate(data).parsed()


def read_file(path: Path) -> tuple[list[Publisher], list[Network]]:
    """Publishers and networks of a registry file (partners validated too, then left out)."""
    contents = read_registry(path)
    return contents.publishers, contents.networks


async def save(
    db: Database,
    publishers: Sequence[Publisher],
    networks: Sequence[Network],
    partners: Sequence[Partner] = (),
) -> None:
    """Upsert every entry (idempotent); entries missing from the file are left in place."""
    entries: list[tuple[Collection, Sequence[Publisher | Network | Partner]]] = [
        (PUBLISHERS, publishers),
        (NETWORKS, networks),
        (PARTNERS, partners),
    ]
    for coll, items in entries:
        for item in items:
            doc = item.model_dump(exclude={"id"})
            await db[coll.name].replace_one({"_id": item.id}, doc, upsert=True)
