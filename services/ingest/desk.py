"""The editor desk: server-rendered pages at ``/desk`` over the editors' API.

An editor pastes or uploads a page or an article, sees what ingest extracts from it (headline,
date, news code, body) before sending it, lists the recent articles with their state in each
target language, compares an article with a translation side by side, edits and approves the
translation (it becomes the human, reviewed version), corrects or withdraws an article, and
settles the machine translations held or flagged by the automatic checks (the review queue,
:mod:`services.ingest.review`; the menu shows how many wait). Every operation is one of
:class:`services.ingest.api.Editors`, the same the JSON API calls, so a page and an API client
are judged, refused and published alike.

**How an editor signs in.** With the editor key the API takes, pasted into the sign-in form
once. That opens a server-side session (:mod:`services.ingest.sessions`): the browser keeps only
a random session id, in the ``desk_session`` cookie: ``HttpOnly`` (no script can read it),
``SameSite=Strict`` (no other site's page makes the browser send it), ``Path=/desk`` (no other
route of the service receives it), ``Secure`` when the desk is reached over HTTPS. The session
ends on signing out (on the server: a copy of the cookie stops working too), after
``INGEST_DESK_SESSION_IDLE_MINUTES`` without a request, ``INGEST_DESK_SESSION_MAX_HOURS`` after
signing in, or when the key is revoked (each request looks the key up again through the
registry, within its cache time). Forms that change something are guarded against cross-site
requests twice over: each carries a token (an HMAC of a fixed label keyed with the session id,
which another site cannot compute, and which dies with the session), and the request's
``Origin`` (else ``Referer``), when the browser sends one, must name this host. Neither the key
nor the session id appears in a URL, a page or a log line (uvicorn's access log is off; traces
carry only the path).

**Where the translation beside the source comes from.** From the feeds service: the entry
partners receive, read over HTTP (``GET {INGEST_FEEDS_URL}/entries/{article}/{lang}.json``),
read-only. Ingest never reads another service's collections; the desk shows exactly what
subscribers get (machine or human, which version); when feeds cannot be reached the page says so
and the editor can still write a translation.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.templating import Jinja2Templates

from services.ingest import review
from services.ingest.api import OUTAGES, Editors, Refused, TranslationSubmission
from services.ingest.review_text import isolate_rtl
from services.ingest.sessions import SESSIONS, DeskSessions, Lifetimes
from services.ingest.text import html_to_text
from shared import display
from shared.bodylimit import DEFAULT_MAX_BYTES, limits_of
from shared.contracts import LANGUAGE_TAG
from shared.messaging import describe_validation_error
from shared.registry import EditorKey

PREFIX = "/desk"
COOKIE = "desk_session"
CSRF_LABEL = b"city-syndication desk csrf v2"
HEADERS = {**display.PAGE_HEADERS, "Cache-Control": "no-store"}
FORMATS = {
    "html": "text/html",
    "text": "text/plain",
    "json": "application/json",
}
EXTENSIONS = {".html": "html", ".htm": "html", ".txt": "text", ".json": "json"}
NOTICES = {
    "submitted": "Sent. Ingest stores it within seconds; it appears here, then in every feed.",
    "corrected": "Correction sent: it replaces the article in every feed and is translated again.",
    "withdrawn": "Withdrawal sent: the article leaves every feed, in every language.",
    "approved": "Your translation was sent: it becomes the human, reviewed version in the feeds.",
    "signed-out": "You are signed out.",
}
#: Page-form fields that go beside a pasted page (``SubmittedPage``'s optional fields).
PAGE_FIELDS = ("url", "published", "external_id", "byline")


def templates() -> Jinja2Templates:
    """The desk's templates (``services/ingest/templates``) and the shared layout, escaped."""
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader("services.ingest", "templates"), FileSystemLoader(display.TEMPLATES)]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(display.FILTERS)
    env.filters["isolate_rtl"] = isolate_rtl
    return Jinja2Templates(env=env)


def csrf_token(session_id: str) -> str:
    """The token a desk form carries: only who holds the session's id can compute it, and it
    dies with the session."""
    return hmac.new(session_id.encode(), CSRF_LABEL, hashlib.sha256).hexdigest()[:40]


def sessions_of(editors: Editors) -> DeskSessions:
    """The desk's sessions in the ingest database, with the lifetimes its settings give."""
    settings = editors.settings
    lifetimes = Lifetimes(
        idle=timedelta(minutes=settings.desk_session_idle_minutes),
        absolute=timedelta(hours=settings.desk_session_max_hours),
    )
    registry = editors.rt.registry
    return DeskSessions(editors.rt.db[SESSIONS.name], lifetimes, registry.editor_key_for_digest)


def same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from a page of this host (or says nothing,
    as non-browser clients do)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    return urlsplit(origin).netloc == request.headers.get("host", "")


def problem_of(exc: Refused) -> dict[str, str]:
    titles = {
        401: "Not signed in.",
        403: "Not allowed.",
        404: "Not found.",
        409: "Conflict.",
        413: "Too large.",
        415: "Unsupported format.",
        422: "Cannot use this.",
    }
    return {"title": titles.get(exc.status, "Refused."), "reason": exc.reason}


def subjects_of(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\n", ",").replace("،", ",").split(",") if s.strip()]


def content_type(choice: str, filename: str | None, text: str) -> str:
    """The media type of a pasted or uploaded submission: as chosen, else from the file's
    extension, else by its look (JSON object, HTML markup, or plain text)."""
    if choice in FORMATS:
        return FORMATS[choice]
    if filename:
        ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext in EXTENSIONS:
            return FORMATS[EXTENSIONS[ext]]
    start = text.lstrip()[:1000].lower()
    if start.startswith("{"):
        return FORMATS["json"]
    if start.startswith("<") or any(t in start for t in ("<html", "<body", "<p>", "<article")):
        return FORMATS["html"]
    return FORMATS["text"]


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a desk page only (never another site)."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/articles"


def install(
    api: FastAPI,
    editors: Editors,
    transport: httpx.AsyncBaseTransport | None = None,
    sessions: DeskSessions | None = None,
) -> None:
    """The desk's routes on the ingest service's app (``transport``: how to reach the feeds
    service, and ``sessions``: where sign-ins are kept, for tests)."""
    sessions = sessions or sessions_of(editors)
    rt = editors.rt
    store = editors.store
    limit = editors.limit
    # The forms that carry a page or an article take the submission limit and room for their
    # other fields; sign-in, sign-out and withdrawal keep the small default (shared.bodylimit).
    limits = limits_of(api)
    for upload in ("/compose", "/articles/{article_id}/correct",
                   "/articles/{article_id}/translations/{language}"):  # fmt: skip
        limits.allow("POST", PREFIX + upload, limit + DEFAULT_MAX_BYTES)
    feeds_url = editors.settings.feeds_url.rstrip("/")
    pages = templates()

    async def signed_in(request: Request) -> tuple[EditorKey, str] | None:
        """The key and the session id of a live session (see :mod:`services.ingest.sessions`)."""
        found = await sessions.resume(request.cookies.get(COOKIE))
        if found is None:
            return None
        request.state.review_count = await editors.review_count(found.key)  # for the menu
        return found.key, found.id

    async def zone_of(key: EditorKey) -> str:
        publisher = await rt.registry.publisher(key.publisher)
        return publisher.timezone if publisher else "UTC"

    async def language_of(key: EditorKey) -> str:
        publisher = await rt.registry.publisher(key.publisher)
        return publisher.language if publisher else "fa"

    def page(
        request: Request,
        name: str,
        status: int = 200,
        session: tuple[EditorKey, str] | None = None,
        **context: Any,
    ) -> Response:
        key = session[0] if session else None
        nav = []
        if key is not None:
            here = request.url.path
            nav = [
                ("Articles", f"{PREFIX}/articles", here == f"{PREFIX}/articles"),
                ("New article", f"{PREFIX}/compose", here == f"{PREFIX}/compose"),
            ]
            waiting = getattr(request.state, "review_count", None)
            label = "Review" if waiting is None else f"Review ({waiting})"
            nav.append((label, f"{PREFIX}/review", here.startswith(f"{PREFIX}/review")))
        done = request.query_params.get("done")
        response = pages.TemplateResponse(
            request,
            name,
            {
                "site_name": "Editor desk",
                "home": f"{PREFIX}/articles" if key else f"{PREFIX}/login",
                "assets": f"{PREFIX}/assets",
                "prefix": PREFIX,
                "nav": nav,
                "scripts": True,
                "editor": key,
                "csrf": csrf_token(session[1]) if session else "",
                "notice": NOTICES.get(done or ""),
                "session_idle": f"{sessions.lifetimes.idle.total_seconds() / 60:g}",
                "session_max": f"{sessions.lifetimes.absolute.total_seconds() / 3600:g}",
                **context,
            },
            status_code=status,
            headers=HEADERS,
        )
        return response

    # An outage on a desk page: the API's handler decides (503 and Retry-After, or 500) and
    # logs; the editor gets a desk page saying so instead of the API's JSON.
    async def outage_page(
        handler: Callable[[Request, Exception], Response | Awaitable[Response]],
        request: Request,
        exc: Exception,
    ) -> Response:
        found = handler(request, exc)
        answer = await found if inspect.isawaitable(found) else found
        if request.url.path != PREFIX and not request.url.path.startswith(PREFIX + "/"):
            return answer
        unavailable = answer.status_code == 503
        response = page(
            request,
            "desk_outage.html",
            answer.status_code,
            problem={
                "title": "Not sent." if request.method == "POST" else "Not available.",
                "reason": "The desk cannot reach the broker or the database just now. Try "
                "again in a few seconds."
                if unavailable
                else "An unexpected error; it has been logged.",
            },
            posted=request.method == "POST",
            again=str(request.url) if request.method == "GET" else None,
        )
        if retry := answer.headers.get("retry-after"):
            response.headers["Retry-After"] = retry
        return response

    for outage in OUTAGES:
        api.add_exception_handler(outage, partial(outage_page, api.exception_handlers[outage]))

    def to_login(request: Request) -> Response:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"{PREFIX}/login?next={target}", 303, headers=HEADERS)

    async def checked_form(
        request: Request, session: tuple[EditorKey, str] | None
    ) -> Mapping[str, Any]:
        """The form of a request that changes something, once it is shown to come from the
        desk itself (the origin, and the token when signed in)."""
        if not same_origin(request):
            raise Refused(403, "forbidden", "this form was sent from another site")
        form = await request.form(max_files=1, max_fields=40, max_part_size=limit)
        if session is not None:
            sent = form.get("csrf")
            if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(session[1])):
                raise Refused(
                    403, "forbidden", "the form is out of date or not from this desk; reload it"
                )
        return form

    def text_of(form: Mapping[str, Any], name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    # ------------------------------------------------------------------ signing in and out

    @api.get(PREFIX, include_in_schema=False)
    async def desk_home(request: Request) -> Response:
        target = f"{PREFIX}/articles" if await signed_in(request) else f"{PREFIX}/login"
        return RedirectResponse(target, 303, headers=HEADERS)

    @api.get(f"{PREFIX}/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        return page(request, "desk_login.html", next=safe_next(request.query_params.get("next")))

    @api.post(f"{PREFIX}/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        try:
            form = await checked_form(request, None)
            key = await editors.editor(text_of(form, "key"))
        except Refused as exc:
            return page(
                request,
                "desk_login.html",
                exc.status,
                problem=problem_of(exc),
                next=safe_next(request.query_params.get("next")),
            )
        opened = await sessions.open(text_of(form, "key"), key)
        rt.log.info("desk sign-in", extra={"key_id": key.id, "publisher": key.publisher})
        response = RedirectResponse(safe_next(text_of(form, "next")), 303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            opened.id,
            max_age=int(sessions.lifetimes.absolute.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto") == "https",
        )
        return response

    @api.post(f"{PREFIX}/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = await signed_in(request)
        try:
            await checked_form(request, session)
        except Refused as exc:
            return page(request, "desk_login.html", exc.status, problem=problem_of(exc))
        await sessions.end(session[1] if session else None)  # over for every copy of the cookie
        response = RedirectResponse(f"{PREFIX}/login?done=signed-out", 303, headers=HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @api.get(PREFIX + "/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        return display.asset(name)

    # ------------------------------------------------------------------ writing

    @api.get(f"{PREFIX}/compose", include_in_schema=False)
    async def compose_page(request: Request) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        return page(request, "desk_compose.html", session=session, form={"format": "auto"})

    @api.post(f"{PREFIX}/compose", include_in_schema=False)
    async def compose(request: Request) -> Response:
        session = await signed_in(request)
        if session is None:
            exc = Refused(401, "unauthorized", "sign in with your editor key first")
            return page(request, "desk_login.html", 401, problem=problem_of(exc))
        key = session[0]
        values: dict[str, Any] = {"format": "auto"}
        try:
            form = await checked_form(request, session)
            values = {
                name: text_of(form, name)
                for name in ("content", "format", "subjects", *PAGE_FIELDS)
            }
            values["content"] = form.get("content") if isinstance(form.get("content"), str) else ""
            upload = form.get("file")
            filename = None
            if isinstance(upload, UploadFile) and upload.filename:
                raw = await upload.read()
                filename = upload.filename
                if raw:
                    try:
                        values["content"] = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise Refused(
                            422, "invalid article", f"{filename} is not UTF-8 text"
                        ) from None
            text = str(values["content"] or "")
            if not text.strip():
                raise Refused(
                    422, "invalid article", "paste a page or an article, or choose a file"
                )
            ctype = content_type(values["format"], filename, text)
            fields: dict[str, Any] = {}
            if ctype != FORMATS["json"]:
                fields = {name: values[name] for name in PAGE_FIELDS if values[name]}
                if values["subjects"]:
                    fields["subjects"] = subjects_of(values["subjects"])
            sub, change = await editors.judge(key, text.encode("utf-8"), ctype, fields)
            if text_of(form, "action") == "publish":
                accepted = await editors.submit(key, sub, change)
                rt.log.info(
                    "desk submission",
                    extra={"article_id": accepted.article_id, "key_id": key.id},
                )
                target = f"{PREFIX}/articles?done=submitted&submitted={quote(accepted.article_id)}"
                return RedirectResponse(target, 303, headers=HEADERS)
            preview = editors.preview(sub, change)
            exists = await store.exists(preview["article_id"])
        except Refused as exc:
            return page(
                request,
                "desk_compose.html",
                exc.status,
                session=session,
                form=values,
                problem=problem_of(exc),
            )
        return page(
            request,
            "desk_compose.html",
            session=session,
            form=values,
            preview=preview,
            exists=exists,
            zone=await zone_of(key),
            json_fields_ignored=ctype == FORMATS["json"]
            and any(values[n] for n in (*PAGE_FIELDS, "subjects")),
        )

    # ------------------------------------------------------------------ reading

    @api.get(f"{PREFIX}/articles", include_in_schema=False)
    async def articles(request: Request) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        key = session[0]
        rows = await editors.recent(key, 50)
        submitted = request.query_params.get("submitted")
        waiting = bool(submitted) and not any(r["article_id"] == submitted for r in rows)
        return page(
            request,
            "desk_articles.html",
            session=session,
            rows=rows,
            waiting_for=submitted if waiting else None,
            zone=await zone_of(key),
            source_language=await language_of(key),
        )

    async def article_or_problem(
        request: Request, session: tuple[EditorKey, str], article_id: str
    ) -> dict[str, Any] | Response:
        try:
            return await editors.show(session[0], article_id)
        except Refused as exc:
            return page(
                request, "desk_missing.html", exc.status, session=session, problem=problem_of(exc)
            )

    @api.get(PREFIX + "/articles/{article_id}", include_in_schema=False)
    async def article(request: Request, article_id: str) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        shown = await article_or_problem(request, session, article_id)
        if isinstance(shown, Response):
            return shown
        return await article_view(request, session, shown)

    async def article_view(
        request: Request,
        session: tuple[EditorKey, str],
        shown: dict[str, Any],
        status: int = 200,
        **context: Any,
    ) -> Response:
        latest = shown["article"]
        return page(
            request,
            "desk_article.html",
            status,
            session=session,
            a=shown,
            latest=latest,
            zone=await zone_of(session[0]),
            correction=context.pop(
                "correction",
                {"headline": latest["headline"], "body_text": latest.get("body_text") or ""},
            ),
            **context,
        )

    @api.post(PREFIX + "/articles/{article_id}/correct", include_in_schema=False)
    async def correct(request: Request, article_id: str) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        shown = await article_or_problem(request, session, article_id)
        if isinstance(shown, Response):
            return shown
        latest = shown["article"]
        values = {"headline": latest["headline"], "body_text": latest.get("body_text") or ""}
        try:
            form = await checked_form(request, session)
            values = {"headline": text_of(form, "headline"), "body_text": text_of(form, "body")}
            if not latest.get("external_id"):
                raise Refused(
                    409,
                    "no news code",
                    "this article has no news code (external id), so a correction could not be "
                    "told from a new article: send the corrected page with its news code instead",
                )
            correction = {
                "headline": values["headline"],
                "body_text": values["body_text"],
                "external_id": latest["external_id"],
                "published": latest["published"],
                "language": latest["language"],
                "subjects": latest.get("subjects") or [],
                **{k: latest[k] for k in ("url", "byline") if latest.get(k)},
            }
            body = json.dumps(correction, ensure_ascii=False, default=str).encode()
            sub, change = await editors.judge(session[0], body, FORMATS["json"], {})
            if change.article_id != article_id:
                raise Refused(409, "conflict", "the correction would not be the same article")
            await editors.submit(session[0], sub, change)
        except Refused as exc:
            return await article_view(
                request, session, shown, exc.status, problem=problem_of(exc), correction=values
            )
        return RedirectResponse(
            f"{PREFIX}/articles/{quote(article_id)}?done=corrected", 303, headers=HEADERS
        )

    @api.post(PREFIX + "/articles/{article_id}/withdraw", include_in_schema=False)
    async def withdraw(request: Request, article_id: str) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        try:
            form = await checked_form(request, session)
            if form.get("confirm") != "yes":
                raise Refused(422, "not confirmed", "tick the box to confirm the withdrawal")
            await editors.withdraw(session[0], article_id, text_of(form, "reason") or None)
        except Refused as exc:
            shown = await article_or_problem(request, session, article_id)
            if isinstance(shown, Response):
                return shown
            return await article_view(request, session, shown, exc.status, problem=problem_of(exc))
        return RedirectResponse(
            f"{PREFIX}/articles/{quote(article_id)}?done=withdrawn", 303, headers=HEADERS
        )

    # ------------------------------------------------------------------ translations

    async def published_translation(
        article_id: str, language: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The feeds service's entry for the article in ``language`` and, without one, why."""
        url = f"{feeds_url}/entries/{quote(article_id)}/{quote(language)}.json"
        try:
            async with httpx.AsyncClient(timeout=5, transport=transport) as client:
                resp = await client.get(url)
        except httpx.HTTPError as exc:
            rt.log.warning("feeds unreachable from the desk", extra={"error": repr(exc)})
            return None, "The feeds service cannot be reached just now; reload in a moment."
        if resp.status_code == 200:
            found: dict[str, Any] = resp.json()
            return found, None
        if resp.status_code == 410:
            return None, "The article is withdrawn: the feeds no longer carry it."
        if resp.status_code == 404:
            return None, "No translation is published yet."
        return None, f"The feeds service answered {resp.status_code}."

    async def compare_view(
        request: Request,
        session: tuple[EditorKey, str],
        shown: dict[str, Any],
        language: str,
        status: int = 200,
        **context: Any,
    ) -> Response:
        translation, missing = await published_translation(shown["article_id"], language)
        state = shown["languages"].get(language, {"status": "pending"})
        draft = context.pop("draft", None) or {
            "headline": translation["headline"] if translation else "",
            "body": html_to_text(translation["body_html"]) if translation else "",
        }
        human = bool(
            translation
            and (translation.get("provenance") or {}).get("method") == "human"
            and translation.get("version") == shown["version"]
        )
        waiting = request.query_params.get("done") == "approved" and not human
        return page(
            request,
            "desk_compare.html",
            status,
            session=session,
            a=shown,
            latest=shown["article"],
            language=language,
            state=state,
            translation=translation,
            missing=missing,
            draft=draft,
            human=human,
            waiting=waiting or (translation is None and shown["status"] == "active"),
            zone=await zone_of(session[0]),
            **context,
        )

    def known_language(language: str) -> bool:
        return re.fullmatch(LANGUAGE_TAG, language) is not None

    @api.get(PREFIX + "/articles/{article_id}/translations/{language}", include_in_schema=False)
    async def compare(request: Request, article_id: str, language: str) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        shown = await article_or_problem(request, session, article_id)
        if isinstance(shown, Response):
            return shown
        if not known_language(language) or language not in shown["languages"]:
            exc = Refused(404, "not found", f"{article_id} is not translated into {language!r}")
            return page(request, "desk_missing.html", 404, session=session, problem=problem_of(exc))
        return await compare_view(request, session, shown, language)

    @api.post(PREFIX + "/articles/{article_id}/translations/{language}", include_in_schema=False)
    async def approve(request: Request, article_id: str, language: str) -> Response:
        session = await signed_in(request)
        if session is None:
            return to_login(request)
        shown = await article_or_problem(request, session, article_id)
        if isinstance(shown, Response):
            return shown
        draft = None
        try:
            form = await checked_form(request, session)
            draft = {"headline": text_of(form, "headline"), "body": text_of(form, "body")}
            version = text_of(form, "version")
            try:
                body = TranslationSubmission(
                    headline=draft["headline"],
                    body_text=draft["body"] or None,
                    version=int(version) if version.isdigit() else None,
                )
            except ValidationError as exc:
                raise Refused(422, "invalid translation", describe_validation_error(exc)) from None
            await editors.translate(session[0], article_id, language, body)
            rt.log.info(
                "desk translation approved",
                extra={"article_id": article_id, "language": language, "key_id": session[0].id},
            )
        except Refused as exc:
            return await compare_view(
                request, session, shown, language, exc.status, problem=problem_of(exc), draft=draft
            )
        target = f"{PREFIX}/articles/{quote(article_id)}/translations/{quote(language)}"
        return RedirectResponse(f"{target}?done=approved", 303, headers=HEADERS)

    # ------------------------------------------------------------------ the review queue

    review.install(
        api,
        review.DeskTools(
            editors=editors,
            page=page,
            signed_in=signed_in,
            checked_form=checked_form,
            to_login=to_login,
            zone_of=zone_of,
            problem_of=problem_of,
            prefix=PREFIX,
            headers=HEADERS,
        ),
    )
