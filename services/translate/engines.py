"""Translation engines behind one interface.

An engine translates a batch of plain-text segments from one language to another. Engines are
chosen by name (``TRANSLATE_ENGINE``); with none configured the service says so and leaves every
translation pending rather than publishing anything that pretends to be a translation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class EngineNotConfigured(LookupError):
    pass


class TranslationEngine(Protocol):
    name: str
    model: str | None
    model_version: str | None

    def supports(self, source: str, target: str) -> bool: ...

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]: ...


class PseudoEngine:
    """Deterministic stand-in for tests and pipeline benchmarks: tags each segment with its
    target language. Its output is marked ``engine=pseudo`` in provenance: it is not a
    translation and must never be deployed as one."""

    name = "pseudo"
    model: str | None = "pseudo"
    model_version: str | None = "1"

    def supports(self, source: str, target: str) -> bool:
        return source != target

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        return [f"[{target}] {s}" if s.strip() else s for s in segments]


ENGINES: dict[str, Callable[[], TranslationEngine]] = {"pseudo": PseudoEngine}


def engine_from_name(name: str) -> TranslationEngine | None:
    """The configured engine, ``None`` when none is configured; unknown names fail loudly."""
    name = name.strip().lower()
    if not name or name == "none":
        return None
    try:
        return ENGINES[name]()
    except KeyError:
        raise EngineNotConfigured(
            f"unknown translation engine {name!r}; available: {', '.join(sorted(ENGINES))}"
        ) from None
