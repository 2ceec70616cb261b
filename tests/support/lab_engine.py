"""A LibreTranslate-compatible server the integration tests control.

It speaks LibreTranslate's real contract (``GET /languages``, ``POST /translate`` with ``q`` as a
list) for fa→en, en→ar and en→ru only, so fa→ar and fa→ru must pivot through English. Tests make
a pair fail (HTTP 503, as a restarting server answers), make it "forget" a word (to trip glossary
verification), give chosen outputs for chosen segments (``replies``: a translation that drops a
figure), and read every call it received (to prove memory hits cost no engine call).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

LANGUAGES = [
    {"code": "fa", "name": "Persian", "targets": ["en"]},
    {"code": "en", "name": "English", "targets": ["ar", "ru"]},
]


@dataclass
class Lab:
    url: str = ""
    calls: list[tuple[str, str, list[str]]] = field(default_factory=list)
    failing: set[tuple[str, str]] = field(default_factory=set)
    forget: set[str] = field(default_factory=set)
    #: Chosen outputs: (source segment, target language) -> the translation to return.
    replies: dict[tuple[str, str], str] = field(default_factory=dict)

    def reset(self) -> None:
        self.calls.clear()
        self.failing.clear()
        self.forget.clear()
        self.replies.clear()

    def texts(self, source: str, target: str) -> list[str]:
        return [t for s, g, q in self.calls if (s, g) == (source, target) for t in q]

    def translation(self, text: str, target: str) -> str:
        if (text, target) in self.replies:
            return self.replies[(text, target)]
        words = [w for w in text.split() if w not in self.forget]
        return f"<{target}> " + " ".join(words)


def _app(lab: Lab) -> FastAPI:
    app = FastAPI()

    @app.get("/languages")
    async def languages() -> Any:
        return LANGUAGES

    @app.post("/translate")
    async def translate(body: dict[str, Any]) -> Any:
        source, target, q = body["source"], body["target"], body["q"]
        texts = [q] if isinstance(q, str) else list(q)
        lab.calls.append((source, target, texts))
        if (source, target) in lab.failing:
            return JSONResponse({"error": "Service temporarily unavailable"}, 503)
        if target not in next((x["targets"] for x in LANGUAGES if x["code"] == source), []):
            return JSONResponse({"error": f"{source} -> {target} not supported"}, 400)
        out = [lab.translation(t, target) for t in texts]
        return {"translatedText": out[0] if isinstance(q, str) else out}

    return app


@contextmanager
def running_lab() -> Iterator[Lab]:
    lab = Lab()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    lab.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(_app(lab), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "lab engine did not start"
        time.sleep(0.01)
    try:
        yield lab
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
