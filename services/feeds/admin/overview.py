"""``GET /admin/registry``: the whole registry at a glance, without a secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.feeds.admin.context import AdminOf
from services.feeds.admin.views import RegistryView

router = APIRouter()


@router.get(
    "/registry",
    summary="Every publisher, network and partner (no secrets)",
    response_model=RegistryView,
)
async def everything(admin: AdminOf) -> dict[str, Any]:
    registry = admin.registry
    await registry.refresh(force=True)
    return {
        "publishers": [
            {
                **p.model_dump(mode="json"),
                "target_languages": await registry.target_languages(p.id),
            }
            for p in await registry.publishers()
        ],
        "networks": [n.model_dump(mode="json") for n in await registry.networks()],
        "partners": [
            {**p.model_dump(mode="json"), "receives": await registry.partner_publishers(p)}
            for p in await registry.partners()
        ],
    }
