"""Benchmark engines: the translate service's engine interface with a known, adjustable cost, so
that ``bench/scaling.py`` measures the service around the engine and not the engine.

They plug in by import path, ``TRANSLATE_ENGINE=bench.engines:wait`` (or ``bench.engines:cpu``),
and read their costs from ``BENCH_*`` environment variables (:class:`BenchEngineSettings`). Their
output is marked ``engine=bench-wait`` / ``bench-cpu`` and is not a translation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.translate.engines import PseudoEngine, TranslationEngine
from services.translate.settings import TranslateSettings


class BenchEngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore")

    wait_ms: float = Field(default=50.0, ge=0, description="Engine `wait`: wait per call, ms.")
    wait_segment_ms: float = Field(
        default=2.0, ge=0, description="Engine `wait`: wait per segment, ms."
    )
    cpu_iterations: int = Field(
        default=20_000, ge=0, description="Engine `cpu`: loop turns per segment."
    )


class BenchWaitEngine(PseudoEngine):
    """Benchmark engine whose cost is waiting, as with a remote GPU server or a hosted API: each
    call waits ``BENCH_WAIT_MS`` plus ``BENCH_WAIT_SEGMENT_MS`` per segment (``asyncio.sleep``:
    no CPU), then answers like :class:`PseudoEngine`. For ``bench/scaling.py`` only; its output
    is marked ``engine=bench-wait`` and is not a translation."""

    name = "bench-wait"
    model: str | None = "bench-wait"

    def __init__(self, call_ms: float, segment_ms: float) -> None:
        self.call_ms = call_ms
        self.segment_ms = segment_ms

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        await asyncio.sleep((self.call_ms + self.segment_ms * len(segments)) / 1000)
        return await super().translate(segments, source, target)


class BenchCpuEngine(PseudoEngine):
    """Benchmark engine whose cost is CPU, as with a local model: ``BENCH_CPU_ITERATIONS``
    iterations of a tight pure-Python loop per segment (fixed, deterministic work), in a worker
    thread as the CTranslate2 engine runs its model. For ``bench/scaling.py`` only; its output is
    marked ``engine=bench-cpu`` and is not a translation."""

    name = "bench-cpu"
    model: str | None = "bench-cpu"

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        await asyncio.to_thread(burn, self.iterations * len(segments))
        return await super().translate(segments, source, target)


def burn(iterations: int) -> int:
    """Busy work that no interpreter or compiler can skip: a running hash of the counter."""
    x = 0
    for i in range(iterations):
        x = (x * 31 + i) & 0xFFFFFFFF
    return x


def wait(_: TranslateSettings) -> TranslationEngine:
    """``TRANSLATE_ENGINE=bench.engines:wait``."""
    settings = BenchEngineSettings()
    return BenchWaitEngine(settings.wait_ms, settings.wait_segment_ms)


def cpu(_: TranslateSettings) -> TranslationEngine:
    """``TRANSLATE_ENGINE=bench.engines:cpu``."""
    return BenchCpuEngine(BenchEngineSettings().cpu_iterations)


#: The engines by the name their output carries, as ``TRANSLATE_ENGINE`` names them.
IMPORT_PATHS = {"bench-wait": "bench.engines:wait", "bench-cpu": "bench.engines:cpu"}
