"""The editors' HTTP API. ``POST /articles`` publishes to the same topic as every other client.

Every request carries a publisher's editor key (``Authorization: Bearer <key>`` or ``X-API-Key``);
the key decides which publisher the editor writes as. Any problem is a 4xx with a JSON body
``{"error": ..., "code": ..., "reason": ...}``: a stable code for programs (docs/architecture.md,
"Refusal codes") and an English reason that tells a person what to change.

:mod:`.editors` holds the operations (the desk calls them too), :mod:`.auth` the declared
dependencies (key, scope, ownership), :mod:`.routes` the routes, :mod:`.bodies` the JSON bodies,
:mod:`.errors` the refusal and outage handlers, :mod:`.openapi` the document.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest.api import routes
from services.ingest.api.editors import Editors
from services.ingest.api.errors import install_errors
from services.ingest.api.openapi import install_openapi
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore
from shared.bodylimit import limits_of
from shared.glossary import GlossaryStore
from shared.service import Runtime

__all__ = ["DESCRIPTION", "Editors", "install"]

DESCRIPTION = """\
Submit Persian news articles for translation and syndication.

`POST /articles` takes any of the input forms as JSON: a clean article, an IPTC ninjs document
(`{"ninjs": {...}}`), a raw page (`{"raw_html": "..."}` or `{"raw_text": "..."}`) or a withdrawal
(`{"withdraw": true, "article_id": "..."}`). A raw page can also be sent as it is, with
`Content-Type: text/html` or `text/plain`. The publisher comes from your editor key.
"""


def install(
    api: FastAPI,
    rt: Runtime,
    store: ArticleStore,
    settings: IngestSettings,
    glossaries: GlossaryStore,
) -> Editors:
    """The JSON API's routes; the :class:`Editors` they use, for the desk's pages."""
    limits = limits_of(api)  # cut on the bytes streamed, before any parsing
    for method, path in routes.UPLOADS:
        limits.allow(method, path, settings.max_submission_bytes)
    editors = Editors(rt, store, settings, glossaries)
    api.state.ingest_editors = editors  # what the routes' dependencies call (auth.editors_of)
    install_errors(api, rt)
    api.include_router(routes.router)
    install_openapi(api)
    return editors
