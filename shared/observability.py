"""Structured logging: one JSON object per line, carrying the article being processed.

Inside :func:`article_context` every log line carries the article's ``article_id``, ``version``
(and ``language``), and, when a span is current, its ``trace_id``. FastStream's own "Processed"
line for a single (non-batch) message carries them too (:class:`MessageContext`); its "Received"
line is written before the message is decoded, and a batch's lines cover many articles, so
those carry only FastStream's ``topic``, ``group_id`` and ``message_id``; our own lines for each
article ("announced", "translation announced", "dead-lettered") carry the article.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from faststream.message import StreamMessage
from faststream.middlewares import BaseMiddleware
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from shared import tracing

_article: ContextVar[dict[str, Any] | None] = ContextVar("article", default=None)


ARTICLE_FIELDS = ("article_id", "version", "language")


@contextmanager
def article_context(**fields: Any) -> Iterator[None]:
    """Attach fields (article_id, version, language) to every log line inside the block.

    In a batch handler the block also continues the trace of the record that brought the article
    (:func:`shared.tracing.article_trace`), so what is published about it joins that trace.
    """
    current = _article.get() or {}
    token = _article.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    article_id = fields.get("article_id")
    try:
        if article_id is None:
            yield
        else:
            with tracing.article_trace(str(article_id)):
                yield
    finally:
        _article.reset(token)


def article_fields(payload: Any) -> dict[str, Any]:
    """The article fields of a decoded event, if it is about an article."""
    if not isinstance(payload, dict):
        return {}
    return {
        k: payload[k]
        for k in ARTICLE_FIELDS
        if isinstance(payload.get(k), str | int) and not isinstance(payload.get(k), bool)
    }


class MessageContext(BaseMiddleware):
    """Broker middleware (pass the class): batch deliveries remember each record's trace for
    :func:`article_context`; FastStream's "Processed" line of a single message gets the
    article's fields and the trace id."""

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        raw = msg.raw_message
        if isinstance(raw, tuple | list):
            with tracing.batch_scope(raw):
                return await call_next(msg)
        log_context = self.context.get_local("log_context")
        trace_id = tracing.current_trace_id()
        if isinstance(log_context, dict) and trace_id:
            log_context["trace_id"] = trace_id
        try:
            return await call_next(msg)
        finally:
            if isinstance(log_context, dict):
                try:
                    decoded = await msg.decode()  # cached: the handler decoded it already
                except Exception:
                    decoded = None
                log_context.update(article_fields(decoded))


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        for key, value in (_article.get() or {}).items():
            setattr(record, key, value)
        if not hasattr(record, "trace_id"):
            trace_id = tracing.current_trace_id()
            if trace_id:
                record.trace_id = trace_id
        return True


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> logging.Logger:
    """Route every logger (ours, FastStream's, uvicorn's) through one handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("faststream", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aiokafka", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(service)
