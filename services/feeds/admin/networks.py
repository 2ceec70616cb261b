"""``/admin/networks``: networks, the groups of publishers a partner may receive together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from services.feeds.admin.context import AdminOf, Body, checked, entry, slug
from services.feeds.admin.views import put_docs, stored
from shared.registry import NETWORKS, Network, check_network
from shared.web import Refused

router = APIRouter()


async def described_network(network_id: str, body: Body, admin: AdminOf) -> Network:
    """The network a PUT describes, its members registered publishers."""
    net = entry(Network, network_id, body)
    await admin.registry.refresh(force=True)
    publishers = [p.id for p in await admin.registry.publishers()]
    with checked("network"):
        check_network(net, publishers)
    return net


@router.put("/networks/{network_id}", summary="Add or replace a network", **put_docs(Network))
async def put_network(
    net: Annotated[Network, Depends(described_network)], response: Response, admin: AdminOf
) -> dict[str, Any]:
    return stored(response, await admin.put(NETWORKS, net), net)


@router.delete("/networks/{network_id}", summary="Remove a network no partner lists")
async def delete_network(network_id: str, admin: AdminOf) -> dict[str, Any]:
    net_id = slug(network_id)
    await admin.registry.refresh(force=True)
    partners = [p.id for p in await admin.registry.partners() if net_id in p.networks]
    if partners:
        raise Refused(
            409,
            "still listed",
            f"network {net_id!r} is listed by partners {partners}: remove it there first",
            code="still_listed",
        )
    await admin.delete(NETWORKS, "network", net_id)
    return {"deleted": net_id}
