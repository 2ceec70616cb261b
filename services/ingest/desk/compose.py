"""Writing: an editor pastes or uploads a page or an article, sees what ingest extracts from it
(headline, date, news code, body) before sending it, then sends it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from services.ingest.desk.deps import DeskForm, DeskOf, Signed, SignedPost, text_of
from services.ingest.desk.pages import PREFIX, problem_of, redirect
from shared.web import Refused

FORMATS = {
    "html": "text/html",
    "text": "text/plain",
    "json": "application/json",
}
EXTENSIONS = {".html": "html", ".htm": "html", ".txt": "text", ".json": "json"}
#: Page-form fields that go beside a pasted page (``SubmittedPage``'s optional fields).
PAGE_FIELDS = ("url", "published", "external_id", "byline")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


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


async def written(form: Mapping[str, Any], values: dict[str, Any]) -> tuple[str, str | None]:
    """The text pasted or uploaded (``values["content"]`` becomes it) and the file's name."""
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
                reason = f"{filename} is not UTF-8 text"
                raise Refused(422, "invalid article", reason, code="upload_not_utf8") from None
    text = str(values["content"] or "")
    if not text.strip():
        reason = "paste a page or an article, or choose a file"
        raise Refused(422, "invalid article", reason, code="article_empty")
    return text, filename


@router.get("/compose")
async def compose_page(request: Request, s: Signed, desk: DeskOf) -> Response:
    return desk.page(request, "desk_compose.html", session=s, form={"format": "auto"})


@router.post("/compose")
async def compose(request: Request, s: SignedPost, desk: DeskOf, posted: DeskForm) -> Response:
    values: dict[str, Any] = {"format": "auto"}
    try:
        form = posted.fields()
        values = {
            name: text_of(form, name) for name in ("content", "format", "subjects", *PAGE_FIELDS)
        }
        text, filename = await written(form, values)
        ctype = content_type(values["format"], filename, text)
        fields: dict[str, Any] = {}
        if ctype != FORMATS["json"]:
            fields = {name: values[name] for name in PAGE_FIELDS if values[name]}
            if values["subjects"]:
                fields["subjects"] = subjects_of(values["subjects"])
        sub, change = await desk.editors.judge(s.key, text.encode("utf-8"), ctype, fields)
        if text_of(form, "action") == "publish":
            accepted = await desk.editors.submit(s.key, sub, change)
            desk.editors.rt.log.info(
                "desk submission",
                extra={"article_id": accepted.article_id, "key_id": s.key.id},
            )
            return redirect(
                f"{PREFIX}/articles?done=submitted&submitted={quote(accepted.article_id)}"
            )
        preview = desk.editors.preview(sub, change)
        exists = await desk.editors.store.exists(preview["article_id"])
    except Refused as exc:
        return desk.page(
            request,
            "desk_compose.html",
            exc.status,
            session=s,
            form=values,
            problem=problem_of(exc),
        )
    return desk.page(
        request,
        "desk_compose.html",
        session=s,
        form=values,
        preview=preview,
        exists=exists,
        zone=await desk.zone_of(s.key),
        json_fields_ignored=ctype == FORMATS["json"]
        and any(values[n] for n in (*PAGE_FIELDS, "subjects")),
    )
