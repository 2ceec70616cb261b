"""Who calls the editors' API and what they may touch, as declared dependencies: the editor key a
request carries (401 without a valid one), the scope an operation needs (403, naming what the key
may not do) and, to translate, an article of the key's own publisher (404 otherwise, without
saying whose). They run before the route, in the order the route declares them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from services.ingest.api.editors import Editors, editor_for, require
from shared.registry import EditorKey
from shared.registry import Scope as KeyScope


async def editors_of(request: Request) -> Editors:
    """The :class:`Editors` that :func:`services.ingest.api.install` gave the app (async, as
    every dependency here: a plain function would run on a worker thread)."""
    editors = getattr(request.app.state, "ingest_editors", None)
    if not isinstance(editors, Editors):
        raise TypeError("services.ingest.api.install has not run on this app")
    return editors


EditorsOf = Annotated[Editors, Depends(editors_of)]


def request_token(request: Request) -> str | None:
    """The editor key a request carries (``Authorization: Bearer`` or ``X-API-Key``)."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")


async def editor(request: Request, editors: EditorsOf) -> EditorKey:
    """The caller's editor key; :class:`shared.web.Refused` (401) with a reason otherwise."""
    return await editor_for(editors.rt, request_token(request))


Editor = Annotated[EditorKey, Depends(editor)]


def scoped(scope: KeyScope, what: str) -> Callable[[EditorKey], Awaitable[EditorKey]]:
    """A dependency: the caller's key, once it is shown to have ``scope`` (403 naming ``what``)."""

    async def allowed(key: Editor) -> EditorKey:
        require(key, scope, what)
        return key

    return allowed


Translator = Annotated[EditorKey, Depends(scoped("translate", "submit translations"))]
GlossaryEditor = Annotated[EditorKey, Depends(scoped("translate", "edit the glossary"))]


async def translator_of(article_id: str, key: Translator, editors: EditorsOf) -> EditorKey:
    """The translator's key, once the article is shown to be its publisher's: checked before the
    body is read, so another publisher's article is a 404 whatever the body."""
    await editors.owned(article_id, key)
    return key


ArticleTranslator = Annotated[EditorKey, Depends(translator_of)]
