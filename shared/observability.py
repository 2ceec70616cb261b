"""Structured logging: one JSON object per line, carrying the article being processed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

_article: ContextVar[dict[str, Any] | None] = ContextVar("article", default=None)


@contextmanager
def article_context(**fields: Any) -> Iterator[None]:
    """Attach fields (article_id, version, language) to every log line inside the block."""
    current = _article.get() or {}
    token = _article.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _article.reset(token)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        for key, value in (_article.get() or {}).items():
            setattr(record, key, value)
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
