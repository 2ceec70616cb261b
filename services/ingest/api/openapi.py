"""The API's OpenAPI document: ``POST /articles`` and its preview take any input form, described
by the submission contract's own JSON schema (the routes read the body themselves)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from shared.contracts import SubmissionMessage


def install_openapi(api: FastAPI) -> None:
    """``api``'s document, with the submission schemas among its components."""

    def custom_openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, description=api.description, routes=api.routes
            )
            defs = TypeAdapter(SubmissionMessage).json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            components["Submission"] = defs
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = custom_openapi  # type: ignore[method-assign]


def submission_body() -> dict[str, Any]:
    """The request body of the routes that take a submission, in each media type."""
    page = {"type": "string", "description": "The page, as it is (publisher from the key)."}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Submission"}},
            "text/html": {"schema": page},
            "text/plain": {"schema": page},
        },
    }
