"""Translation engines that live behind HTTP: self-hosted LibreTranslate and any
OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server).

Both raise exactly two kinds of failure so the service can decide what to do without knowing
HTTP: :class:`EngineUnavailable` (timeouts, refused connections, 5xx, 429: worth retrying later
or falling back to another engine) and :class:`EngineRejected` (any other 4xx, or an answer that
cannot be a translation of what was sent: retrying the same request will not help). Nothing is
retried here; retries and fallback are the service's job.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from services.translate.segment import translate_non_blank
from shared.languages import name_of

__all__ = [
    "OPENAI_LANGUAGES",
    "EngineRejected",
    "EngineUnavailable",
    "LibreTranslateEngine",
    "OpenAICompatibleEngine",
]


class EngineUnavailable(Exception):
    """The engine could not answer now (timeout, connection error, HTTP 5xx or 429): transient."""


class EngineRejected(ValueError):
    """The engine refused the request or answered nonsense: sending it again will not help."""


#: Languages the OpenAI-compatible engine offers; its prompt names them in English
#: (``shared/languages.py``).
OPENAI_LANGUAGES = frozenset(
    {"fa", "en", "ar", "ru", "de", "fr", "es", "it", "pt", "tr", "zh", "ja", "ko", "hi", "ur",
     "ps", "az", "hy", "ka", "tg", "uz", "kk", "uk", "id", "ms"}
)  # fmt: skip

_ERROR_TEXT_LIMIT = 300


def _error_text(response: httpx.Response) -> str:
    """The server's own explanation, whichever of the usual shapes it came in: LibreTranslate's
    ``{"error": "..."}``, OpenAI's ``{"error": {"message": ...}}``, vLLM's ``{"message": ...}``,
    FastAPI's ``{"detail": ...}``, or plain text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message", error)
        for value in (error, body.get("message"), body.get("detail")):
            if value:
                return str(value)[:_ERROR_TEXT_LIMIT]
    text = response.text.strip()
    return text[:_ERROR_TEXT_LIMIT] if text else response.reason_phrase


class _HttpEngine:
    """One lazily created ``httpx.AsyncClient`` per engine (created inside the running loop, so
    constructing an engine at import or settings time is free) and one error mapping."""

    name: str
    model: str | None
    model_version: str | None

    def __init__(self, url: str, *, timeout: float, max_connections: int | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{type(self).__name__} needs an http(s) URL, not {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None

    def _headers(self) -> dict[str, str]:
        return {}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers=self._headers(),
                limits=httpx.Limits(max_connections=self._max_connections),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _request(self, method: str, path: str, payload: Any = None) -> Any:
        """The decoded JSON body of a 2xx answer; every other outcome becomes one of the two
        engine exceptions with the URL, the status and the server's error text."""
        url = self.url + path
        try:
            response = await self.client.request(method, url, json=payload)
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(
                f"{self.name}: {method} {url} timed out after {self.timeout:g}s "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise EngineUnavailable(
                f"{self.name}: {method} {url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise EngineUnavailable(
                f"{self.name}: {method} {url} answered HTTP {status}: {_error_text(response)}"
            )
        if not 200 <= status < 300:
            raise EngineRejected(
                f"{self.name}: {method} {url} answered HTTP {status}: {_error_text(response)}"
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EngineRejected(
                f"{self.name}: {method} {url} answered HTTP {status} without JSON: "
                f"{response.text[:_ERROR_TEXT_LIMIT]!r}"
            ) from exc


class LibreTranslateEngine(_HttpEngine):
    """Self-hosted LibreTranslate: all non-empty segments of a call go in one ``POST /translate``
    (``q`` as a list), since its per-request overhead dominates for short segments."""

    name = "libretranslate"

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        languages: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
        model_version: str | None = None,
    ) -> None:
        """``languages``: either ``{source: targets}`` or plain codes (any pair of different
        ones); left out, ``GET /languages`` answers on first use. ``model_version``: what the
        operator deployed, for provenance; LibreTranslate's API does not report one."""
        super().__init__(url, timeout=timeout)
        self.api_key = api_key
        self.model: str | None = "libretranslate"
        self.model_version = model_version
        self._languages: dict[str, frozenset[str]] | None = None
        if languages is not None:
            if isinstance(languages, Mapping):
                self._languages = {s: frozenset(t) for s, t in languages.items()}
            else:
                codes = frozenset(languages)
                self._languages = {s: codes - {s} for s in codes}

    @property
    def languages(self) -> dict[str, frozenset[str]] | None:
        """Source code → target codes, once known."""
        return self._languages

    async def load_languages(self) -> dict[str, frozenset[str]]:
        """Fetch (once) which pairs the server has models for."""
        if self._languages is None:
            body = await self._request("GET", "/languages")
            if not isinstance(body, list):
                raise EngineRejected(f"{self.name}: /languages answered {body!r}, not a list")
            languages: dict[str, frozenset[str]] = {}
            for entry in body:
                if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                    targets = entry.get("targets") or []
                    languages[entry["code"]] = frozenset(str(t) for t in targets)
            self._languages = languages
        return self._languages

    def supports(self, source: str, target: str) -> bool:
        """Before the languages are known this says yes and ``translate`` decides."""
        if source == target:
            return False
        if self._languages is None:
            return True
        return target in self._languages.get(source, frozenset())

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        await self.load_languages()
        if not self.supports(source, target):
            raise EngineRejected(f"{self.name} at {self.url} cannot translate {source}→{target}")
        return await translate_non_blank(
            segments, lambda texts: self._translate_texts(texts, source, target)
        )

    async def _translate_texts(self, texts: list[str], source: str, target: str) -> list[str]:
        """All texts in one ``POST /translate``."""
        payload: dict[str, Any] = {"q": texts, "source": source, "target": target, "format": "text"}
        if self.api_key:
            payload["api_key"] = self.api_key
        body = await self._request("POST", "/translate", payload)
        translated = body.get("translatedText") if isinstance(body, dict) else None
        if isinstance(translated, str):  # some versions answer a one-item list with a string
            translated = [translated]
        if not isinstance(translated, list) or not all(isinstance(t, str) for t in translated):
            raise EngineRejected(f"{self.name}: unexpected /translate answer {body!r:.300}")
        if len(translated) != len(texts):
            raise EngineRejected(
                f"{self.name} returned {len(translated)} translations for {len(texts)} segments"
            )
        return translated


_QUOTES = {'"': '"', "'": "'", "“": "”", "«": "»", "„": "“", "‘": "’", "「": "」"}
_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


def _clean(reply: str, original: str) -> str:
    """Undo what chat models add around a translation: a leading ``<think>`` block (reasoning
    models), surrounding whitespace, and quotes the source did not have."""
    text = _THINK.sub("", reply).strip()
    src = original.strip()
    while len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        if src and _QUOTES.get(src[0]) == src[-1]:
            break
        text = text[1:-1].strip()
    return text


class OpenAICompatibleEngine(_HttpEngine):
    """Any server speaking OpenAI's ``/v1/chat/completions``. One request per segment (chat
    models drift, merge or drop lines when asked for several at once), at most
    ``max_concurrency`` in flight."""

    keeps_markup = True  # its prompt asks to keep inline tags, so <x1>…</x1> markers survive
    uses_context = True  # headlines are sent with the lead in <context> tags (segment.py)

    name = "openai-compatible"

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        temperature: float = 0.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        base = url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        super().__init__(base, timeout=timeout, max_connections=max_concurrency)
        self.api_key = api_key
        self.model: str | None = model
        self.model_version: str | None = None
        self.temperature = temperature
        self.max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def supports(self, source: str, target: str) -> bool:
        return source != target and source in OPENAI_LANGUAGES and target in OPENAI_LANGUAGES

    @staticmethod
    def system_prompt(source: str, target: str) -> str:
        return (
            f"You are a professional news translator. Translate the user's text from "
            f"{name_of(source)} to {name_of(target)}. Output only the translation: "
            "no explanations, notes, quotes or transliterations. Keep names, numbers and any "
            "inline HTML tags unchanged. Text inside <context>…</context> is the start of the "
            "article, given so a headline is translated in context: translate it too and keep "
            "the <context> tags around it."
        )

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise EngineRejected(f"{self.name} does not offer {source}→{target}")
        prompt = self.system_prompt(source, target)
        return await translate_non_blank(segments, lambda texts: self._all(texts, prompt))

    async def _all(self, texts: list[str], prompt: str) -> list[str]:
        """One request per text, concurrently (bounded by the semaphore in ``_one``)."""
        tasks = [asyncio.create_task(self._one(text, prompt)) for text in texts]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # One failure fails the call: stop the other requests instead of leaving them running.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _one(self, segment: str, prompt: str) -> str:
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": segment},
            ],
            "temperature": self.temperature,
        }
        async with self._semaphore:
            body = await self._request("POST", "/v1/chat/completions", payload)
        try:
            choices = body["choices"]
            if len(choices) != 1:
                raise EngineRejected(
                    f"{self.name} returned {len(choices)} translations for 1 segment"
                )
            choice = choices[0]
            content = choice["message"]["content"]
            if not isinstance(content, str):
                raise TypeError(f"content is {type(content).__name__}")
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineRejected(
                f"{self.name}: unexpected chat completion answer {body!r:.300}"
            ) from exc
        if choice.get("finish_reason") == "length":
            raise EngineRejected(f"{self.name}: translation cut off at the token limit")
        if self.model_version is None and isinstance(body.get("model"), str):
            self.model_version = body["model"]
        text = _clean(content, segment)
        if not text:
            raise EngineRejected(f"{self.name} returned an empty translation for {segment!r:.80}")
        return text
