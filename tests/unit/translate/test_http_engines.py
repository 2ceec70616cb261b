"""HTTP engines against small local servers that speak the real LibreTranslate and OpenAI chat
contracts (a FastAPI app under uvicorn on 127.0.0.1), so request shapes, batching, concurrency
and the failure mapping are checked over real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.translate.http_engines import (
    EngineRejected,
    EngineUnavailable,
    LibreTranslateEngine,
    OpenAICompatibleEngine,
)

LANGUAGES = [
    {"code": "fa", "name": "Persian", "targets": ["en", "ar"]},
    {"code": "en", "name": "English", "targets": ["fa", "ar"]},
    {"code": "ar", "name": "Arabic", "targets": ["en"]},
]


def fake_translation(text: str, target: str) -> str:
    return f"[{target}] " + " ".join(reversed(text.split()))


@dataclass
class Behaviour:
    """What the fake server records and how it misbehaves; reset for every test."""

    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    fail_status: int | None = None
    fail_body: dict[str, Any] = field(default_factory=lambda: {"error": "boom"})
    delay: float = 0.0
    drop_one: bool = False
    quote: bool = False
    in_flight: int = 0
    max_in_flight: int = 0

    def paths(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.requests if p == path]


@dataclass
class Box:
    """The current test's behaviour; a handler still sleeping from an earlier test keeps
    writing to that test's object, not to this one."""

    state: Behaviour = field(default_factory=Behaviour)


def build_app(box: Box) -> FastAPI:
    app = FastAPI()

    async def misbehave(state: Behaviour) -> JSONResponse | None:
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.fail_status is not None:
            return JSONResponse(state.fail_body, status_code=state.fail_status)
        return None

    @app.get("/languages")
    async def languages(request: Request) -> Any:
        state = box.state
        state.requests.append(("/languages", {}, dict(request.headers)))
        return LANGUAGES

    @app.post("/translate")
    async def translate(request: Request) -> Any:
        state = box.state
        body = await request.json()
        state.requests.append(("/translate", body, dict(request.headers)))
        if (failure := await misbehave(state)) is not None:
            return failure
        if "q" not in body:
            return JSONResponse({"error": "Invalid request: missing q parameter"}, 400)
        assert body["format"] == "text"
        source, target, q = body["source"], body["target"], body["q"]
        if target not in next(x["targets"] for x in LANGUAGES if x["code"] == source):
            return JSONResponse({"error": f"{source} -> {target} not supported"}, 400)
        if isinstance(q, str):
            return {"translatedText": fake_translation(q, target)}
        out = [fake_translation(s, target) for s in q]
        return {"translatedText": out[:-1] if state.drop_one else out}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        state = box.state
        body = await request.json()
        state.requests.append(("/v1/chat/completions", body, dict(request.headers)))
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(0.05)  # long enough for concurrent requests to overlap
            if (failure := await misbehave(state)) is not None:
                return failure
        finally:
            state.in_flight -= 1
        roles = [m["role"] for m in body["messages"]]
        if roles != ["system", "user"] or not isinstance(body.get("temperature"), (int, float)):
            return JSONResponse({"error": {"message": f"bad request shape {roles}"}}, 400)
        content = fake_translation(body["messages"][1]["content"], "xx")
        if state.quote:
            content = f'  "{content}"\n'
        choices = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ]
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": f"{body['model']}-2024-09",
            "choices": choices[:0] if state.drop_one else choices,
        }

    return app


@dataclass
class Server:
    url: str
    box: Box

    @property
    def state(self) -> Behaviour:
        return self.box.state


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    box = Box()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(box), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not uv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    yield Server(f"http://127.0.0.1:{port}", box)
    uv.should_exit = True
    thread.join(5)
    sock.close()


@pytest.fixture
def srv(server: Server) -> Server:
    server.box.state = Behaviour()
    return server


@pytest.fixture
async def libre(srv: Server) -> AsyncIterator[LibreTranslateEngine]:
    engine = LibreTranslateEngine(srv.url + "/", api_key="secret")
    yield engine
    await engine.aclose()


@pytest.fixture
async def chat(srv: Server) -> AsyncIterator[OpenAICompatibleEngine]:
    engine = OpenAICompatibleEngine(srv.url + "/v1/", "tiny-llm", api_key="sk-test", timeout=5)
    yield engine
    await engine.aclose()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port bound but not listening: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- LibreTranslate ---------------------------------------------------------------------------


async def test_libretranslate_batches_non_empty_segments_in_one_request(
    srv: Server, libre: LibreTranslateEngine
) -> None:
    segments = ["شهرداری مشهد", "", "  ", "متروپلیس جدید", "خبر سوم"]
    out = await libre.translate(segments, "fa", "en")
    assert out == [
        "[en] مشهد شهرداری",
        "",
        "  ",
        "[en] جدید متروپلیس",
        "[en] سوم خبر",
    ]
    (sent,) = srv.state.paths("/translate")
    assert sent == {
        "q": ["شهرداری مشهد", "متروپلیس جدید", "خبر سوم"],
        "source": "fa",
        "target": "en",
        "format": "text",
        "api_key": "secret",
    }
    assert libre.name == "libretranslate" and libre.model == "libretranslate"
    assert libre.model_version is None


async def test_libretranslate_all_empty_sends_nothing(
    srv: Server, libre: LibreTranslateEngine
) -> None:
    assert await libre.translate(["", " "], "fa", "en") == ["", " "]
    assert await libre.translate([], "fa", "en") == []
    assert srv.state.paths("/translate") == []


async def test_libretranslate_supports_comes_from_languages_once(
    srv: Server, libre: LibreTranslateEngine
) -> None:
    assert libre.supports("fa", "ru")  # unknown yet: translate() decides
    languages = await libre.load_languages()
    assert languages["fa"] == {"en", "ar"}
    assert libre.supports("fa", "ar") and libre.supports("ar", "en")
    assert not libre.supports("fa", "ru") and not libre.supports("ar", "fa")
    assert not libre.supports("en", "en")
    await libre.translate(["سلام"], "fa", "ar")
    assert len(srv.state.paths("/languages")) == 1
    with pytest.raises(EngineRejected, match="fa→ru"):
        await libre.translate(["سلام"], "fa", "ru")


async def test_libretranslate_languages_argument_skips_the_lookup(srv: Server) -> None:
    engine = LibreTranslateEngine(srv.url, languages=["fa", "en"], model_version="1.6.4")
    try:
        assert engine.supports("fa", "en") and not engine.supports("fa", "ar")
        assert await engine.translate(["یک دو"], "fa", "en") == ["[en] دو یک"]
        assert srv.state.paths("/languages") == []
        (sent,) = srv.state.paths("/translate")
        assert "api_key" not in sent
        assert engine.model_version == "1.6.4"
    finally:
        await engine.aclose()


async def test_libretranslate_wrong_count_is_rejected(
    srv: Server, libre: LibreTranslateEngine
) -> None:
    srv.state.drop_one = True
    with pytest.raises(EngineRejected, match="returned 2 translations for 3 segments"):
        await libre.translate(["a", "b", "c"], "fa", "en")


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_libretranslate_server_trouble_is_unavailable(
    srv: Server, libre: LibreTranslateEngine, status: int
) -> None:
    srv.state.fail_status = status
    srv.state.fail_body = {"error": "Slowdown: 10 per 1 minute"}
    with pytest.raises(EngineUnavailable, match=f"HTTP {status}: Slowdown: 10 per 1 minute"):
        await libre.translate(["سلام"], "fa", "en")


@pytest.mark.parametrize("status", [400, 403])
async def test_libretranslate_client_errors_are_rejected_with_the_server_text(
    srv: Server, libre: LibreTranslateEngine, status: int
) -> None:
    srv.state.fail_status = status
    srv.state.fail_body = {"error": "Invalid API key"}
    with pytest.raises(EngineRejected, match=f"HTTP {status}: Invalid API key") as info:
        await libre.translate(["سلام"], "fa", "en")
    assert not isinstance(info.value, EngineUnavailable)


async def test_libretranslate_timeout_is_unavailable(srv: Server) -> None:
    srv.state.delay = 1.0
    engine = LibreTranslateEngine(srv.url, timeout=0.2, languages={"fa": ["en"]})
    try:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable, match=r"timed out after 0\.2s"):
            await engine.translate(["سلام"], "fa", "en")
        assert time.monotonic() - started < 0.9
    finally:
        await engine.aclose()


async def test_libretranslate_connection_refused_is_unavailable(refused_url: str) -> None:
    engine = LibreTranslateEngine(refused_url, timeout=2)
    try:
        with pytest.raises(EngineUnavailable, match="ConnectError"):
            await engine.translate(["سلام"], "fa", "en")  # fails fetching /languages
    finally:
        await engine.aclose()


# --- OpenAI-compatible ------------------------------------------------------------------------


async def test_openai_one_request_per_segment_with_bounded_concurrency(srv: Server) -> None:
    engine = OpenAICompatibleEngine(srv.url, "tiny-llm", max_concurrency=2, timeout=5)
    try:
        segments = [f"خبر شماره {i}" for i in range(6)]
        segments.insert(2, "")
        out = await engine.translate(segments, "fa", "en")
    finally:
        await engine.aclose()
    assert out[2] == ""
    assert [o for o in out if o] == [f"[xx] {i} شماره خبر" for i in range(6)]  # order kept
    sent = srv.state.paths("/v1/chat/completions")
    assert len(sent) == 6
    assert srv.state.max_in_flight == 2
    first = sent[0]
    assert first["model"] == "tiny-llm" and first["temperature"] == 0.0
    system, user = first["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "from Persian to English" in system["content"]
    assert "HTML" in system["content"] and "only the translation" in system["content"]
    assert {m["messages"][1]["content"] for m in sent} == {s for s in segments if s}


async def test_openai_sends_bearer_key_and_reports_server_model(
    srv: Server, chat: OpenAICompatibleEngine
) -> None:
    assert chat.name == "openai-compatible" and chat.model == "tiny-llm"
    assert chat.model_version is None
    await chat.translate(["سلام دنیا"], "fa", "ar")
    assert chat.model_version == "tiny-llm-2024-09"
    (_, _, headers) = srv.state.requests[-1]
    assert headers["authorization"] == "Bearer sk-test"
    assert "to Arabic" in srv.state.paths("/v1/chat/completions")[0]["messages"][0]["content"]


async def test_openai_strips_whitespace_and_quotes(
    srv: Server, chat: OpenAICompatibleEngine
) -> None:
    srv.state.quote = True
    assert await chat.translate(["یک دو"], "fa", "en") == ["[xx] دو یک"]


def test_openai_supports_known_distinct_languages() -> None:
    engine = OpenAICompatibleEngine("http://localhost:11434", "llama3")
    assert engine.supports("fa", "en") and engine.supports("fa", "zh")
    assert not engine.supports("fa", "fa") and not engine.supports("fa", "xx")
    assert engine.url == "http://localhost:11434"


@pytest.mark.parametrize("status", [503, 429])
async def test_openai_server_trouble_is_unavailable(
    srv: Server, chat: OpenAICompatibleEngine, status: int
) -> None:
    srv.state.fail_status = status
    srv.state.fail_body = {"error": {"message": "model is loading", "type": "server_error"}}
    with pytest.raises(EngineUnavailable, match=f"HTTP {status}: model is loading"):
        await chat.translate(["یک", "دو", "سه"], "fa", "en")


async def test_openai_bad_request_is_rejected_with_the_server_text(
    srv: Server, chat: OpenAICompatibleEngine
) -> None:
    srv.state.fail_status = 400
    srv.state.fail_body = {"error": "model 'tiny-llm' not found"}
    with pytest.raises(EngineRejected, match="HTTP 400: model 'tiny-llm' not found"):
        await chat.translate(["یک"], "fa", "en")


async def test_openai_no_choice_is_rejected(srv: Server, chat: OpenAICompatibleEngine) -> None:
    srv.state.drop_one = True
    with pytest.raises(EngineRejected, match="returned 0 translations for 1 segment"):
        await chat.translate(["یک"], "fa", "en")


async def test_openai_timeout_is_unavailable(srv: Server) -> None:
    srv.state.delay = 1.0
    engine = OpenAICompatibleEngine(srv.url, "tiny-llm", timeout=0.2)
    try:
        with pytest.raises(EngineUnavailable, match="timed out"):
            await engine.translate(["یک"], "fa", "en")
    finally:
        await engine.aclose()


async def test_openai_connection_refused_is_unavailable(refused_url: str) -> None:
    engine = OpenAICompatibleEngine(refused_url, "tiny-llm", timeout=2)
    try:
        with pytest.raises(EngineUnavailable, match="ConnectError"):
            await engine.translate(["یک"], "fa", "en")
    finally:
        await engine.aclose()


async def test_unsupported_pair_is_rejected_before_any_request(
    srv: Server, chat: OpenAICompatibleEngine
) -> None:
    with pytest.raises(EngineRejected, match="fa→xx"):
        await chat.translate(["یک"], "fa", "xx")
    assert srv.state.requests == []


async def test_openai_failure_stops_the_remaining_requests(srv: Server) -> None:
    srv.state.fail_status = 503
    engine = OpenAICompatibleEngine(srv.url, "tiny-llm", max_concurrency=1, timeout=5)
    try:
        with pytest.raises(EngineUnavailable):
            await engine.translate(["یک", "دو", "سه", "چهار"], "fa", "en")
    finally:
        await engine.aclose()
    assert len(srv.state.paths("/v1/chat/completions")) == 1
