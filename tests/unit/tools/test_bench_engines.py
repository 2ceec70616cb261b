"""Engines that live outside the service plug in by import path (``TRANSLATE_ENGINE``), as the
benchmarks' do (bench/engines.py); a path that names no engine stops the service at start-up."""

from __future__ import annotations

import pytest

from bench.engines import BenchCpuEngine, BenchWaitEngine, burn
from services.translate.engines import EngineNotConfigured, engines_from_settings
from services.translate.settings import TranslateSettings


async def test_bench_engines_plug_in_by_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_WAIT_MS", "0")
    monkeypatch.setenv("BENCH_WAIT_SEGMENT_MS", "1.5")
    monkeypatch.setenv("BENCH_CPU_ITERATIONS", "10")
    settings = TranslateSettings(engine="bench.engines:wait, bench.engines:cpu,pseudo")
    wait, cpu, pseudo = engines_from_settings(settings)
    assert isinstance(wait, BenchWaitEngine) and (wait.call_ms, wait.segment_ms) == (0, 1.5)
    assert isinstance(cpu, BenchCpuEngine) and cpu.iterations == 10
    assert (wait.name, cpu.name, pseudo.name) == ("bench-wait", "bench-cpu", "pseudo")
    assert await cpu.translate(["a", " "], "fa", "en") == ["[en] a", " "]
    assert burn(3) == burn(3)


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("no.such.module:factory", "cannot import 'no.such.module'"),
        ("bench.engines:nothing", "has no engine factory 'nothing'"),
        ("bench.engines:IMPORT_PATHS", "has no engine factory 'IMPORT_PATHS'"),
        ("builtins:str", "made no engine"),
        ("bench.engines:", "has no engine factory ''"),
        ("Deepl", "unknown translation engine 'deepl'"),
    ],
)
def test_an_engine_path_that_names_no_engine_fails_at_start_up(engine: str, message: str) -> None:
    with pytest.raises(EngineNotConfigured, match=message):
        engines_from_settings(TranslateSettings(engine=engine))
