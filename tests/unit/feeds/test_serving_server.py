"""``shared.service.serve`` on either HTTP server (``FEEDS_HTTP_SERVER``): the app's front door
(the feeds fast path's place) under the rate limit, the lifespan run at start, and on SIGTERM
its shutdown (where the feeds service flushes) run to the end before the process exits. Each
server runs a small app in a process of its own, as a service does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.feeds.settings import FeedsSettings

ROOT = Path(__file__).resolve().parents[3]
APP = """
import asyncio, sys
from contextlib import asynccontextmanager
from fastapi import FastAPI
from services.feeds.settings import FeedsSettings
from shared.service import serve

@asynccontextmanager
async def lifespan(_):
    print("started", flush=True)
    yield
    await asyncio.sleep(0.3)  # a flush that takes a moment
    print("flushed", flush=True)

api = FastAPI(lifespan=lifespan)

@api.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

def front(app):
    async def door(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/front":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"front door"})
            return
        await app(scope, receive, send)
    return door

api.state.asgi_front = front
serve(api, FeedsSettings())
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_each_server_runs_the_lifespan_and_drains_on_sigterm(server: str, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    port = _port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FEEDS_HTTP_SERVER": server,
        "FEEDS_HTTP_PORT": str(port),
        "FEEDS_RATE_LIMIT": "2/minute",
    }
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/front")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert (status, body) == (200, b"front door")  # the front door, in front of the app
        assert _get(f"{base}/hello") == (200, b'{"hello":"world"}')
        assert _get(f"{base}/hello")[0] == 429  # the rate limit is in front of both
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out.decode().split() == ["started", "flushed"], err.decode()
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def test_the_server_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDS_HTTP_SERVER", raising=False)
    assert FeedsSettings().http_server == "uvicorn"
    monkeypatch.setenv("FEEDS_HTTP_SERVER", "granian")
    assert FeedsSettings().http_server == "granian"
    monkeypatch.setenv("FEEDS_HTTP_SERVER", "gunicorn")
    with pytest.raises(ValidationError, match="granian"):
        FeedsSettings()
