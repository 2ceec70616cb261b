"""Translation engines behind one interface.

An engine translates a batch of plain-text segments from one language to another. Engines are
chosen by name (``TRANSLATE_ENGINE``); with none configured the service says so and leaves every
translation pending rather than publishing anything that pretends to be a translation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from services.translate.settings import TranslateSettings

if TYPE_CHECKING:
    from services.translate.ct2 import CTranslate2Engine


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
    #: Not a translation, so the automatic checks would only fail it: its output goes unchecked
    #: (provenance ``checks_version`` None). Real engines leave this out and are checked.
    checked = False

    def supports(self, source: str, target: str) -> bool:
        return source != target

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        return [f"[{target}] {s}" if s.strip() else s for s in segments]


def _pseudo(_: TranslateSettings) -> TranslationEngine:
    return PseudoEngine()


def _ctranslate2(settings: TranslateSettings) -> TranslationEngine:
    if settings.model_dir is None:
        raise EngineNotConfigured(
            "TRANSLATE_ENGINE=ctranslate2 needs TRANSLATE_MODEL_DIR: a converted model directory"
        )
    return ct2_engine(settings, settings.model_dir)


class PairLimitedEngine:
    """An engine that offers only some of its pairs, so that the router, which takes the first
    engine supporting a pair, serves those pairs from it and every other from the engines after
    it. Provenance names the wrapped engine and its model."""

    def __init__(self, inner: TranslationEngine, pairs: Iterable[tuple[str, str]]) -> None:
        self.inner = inner
        self.pairs = frozenset(pairs)
        self.name = inner.name
        self.model = inner.model
        self.model_version = inner.model_version

    def __getattr__(self, attribute: str) -> Any:
        """Everything else (``checked``, ``keeps_markup``, ``info`` ...) is the wrapped engine's."""
        return getattr(self.inner, attribute)

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs and self.inner.supports(source, target)

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        return await self.inner.translate(segments, source, target)


def parse_model_dirs(text: str) -> dict[tuple[str, str], Path]:
    """``fa-en=DIR,fa-ar=DIR`` (``TRANSLATE_MODEL_DIRS``) as {(source, target): directory}."""
    result: dict[tuple[str, str], Path] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        pair, sep, directory = item.partition("=")
        source, dash, target = pair.strip().partition("-")
        if not sep or not dash or not source or not target or not directory.strip():
            raise EngineNotConfigured(
                f"TRANSLATE_MODEL_DIRS: expected SRC-TGT=DIR, comma-separated, got {item!r}"
            )
        result[(source, target)] = Path(directory.strip()).expanduser()
    return result


def _ctranslate2_engines(settings: TranslateSettings) -> list[TranslationEngine]:
    """The per-pair models of ``TRANSLATE_MODEL_DIRS`` (each offering only its pairs), then the
    ``TRANSLATE_MODEL_DIR`` model for every other pair; a folder is loaded once."""
    per_pair = parse_model_dirs(settings.model_dirs)
    if not per_pair:
        return [_ctranslate2(settings)]
    loaded: dict[Path, TranslationEngine] = {}

    def load(directory: Path) -> TranslationEngine:
        key = directory.resolve()
        if key not in loaded:
            loaded[key] = ct2_engine(settings, directory)
        return loaded[key]

    by_dir: dict[Path, list[tuple[str, str]]] = {}
    for pair, directory in per_pair.items():
        by_dir.setdefault(directory, []).append(pair)
    engines: list[TranslationEngine] = []
    for directory, pairs in by_dir.items():
        engine = load(directory)
        unsupported = [f"{s}→{t}" for s, t in pairs if not engine.supports(s, t)]
        if unsupported:
            raise EngineNotConfigured(
                f"TRANSLATE_MODEL_DIRS: {engine.model} in {directory} does not translate "
                + ", ".join(unsupported)
            )
        engines.append(PairLimitedEngine(engine, pairs))
    if settings.model_dir is not None:
        engines.append(load(settings.model_dir))
    return engines


def ct2_engine(settings: TranslateSettings, directory: Path) -> CTranslate2Engine:
    """The CTranslate2 engine for ``directory`` as the ``TRANSLATE_*`` settings configure it (the
    service's engines and ``model_cli evaluate`` both)."""
    from services.translate.ct2 import CTranslate2Engine  # only images that translate need it

    return CTranslate2Engine(
        directory,
        device=settings.device,
        compute_type=settings.compute_type,
        inter_threads=settings.inter_threads,
        intra_threads=settings.intra_threads,
        max_batch_size=settings.max_batch_size,
        beam_size=settings.beam_size,
        max_decoding_length=settings.max_decoding_length,
    )


def _libretranslate(settings: TranslateSettings) -> TranslationEngine:
    from services.translate.http_engines import LibreTranslateEngine

    if not settings.libretranslate_url:
        raise EngineNotConfigured("libretranslate needs TRANSLATE_LIBRETRANSLATE_URL")
    return LibreTranslateEngine(
        settings.libretranslate_url,
        api_key=settings.libretranslate_api_key,
        timeout=settings.engine_timeout_seconds,
    )


def _openai_compatible(settings: TranslateSettings) -> TranslationEngine:
    from services.translate.http_engines import OpenAICompatibleEngine

    if not settings.openai_url or not settings.openai_model:
        raise EngineNotConfigured(
            "openai-compatible needs TRANSLATE_OPENAI_URL and TRANSLATE_OPENAI_MODEL"
        )
    return OpenAICompatibleEngine(
        settings.openai_url,
        settings.openai_model,
        api_key=settings.openai_api_key,
        timeout=settings.engine_timeout_seconds,
        max_concurrency=settings.openai_max_concurrency,
    )


EngineFactory = Callable[[TranslateSettings], TranslationEngine]

ENGINES: dict[str, EngineFactory] = {
    "pseudo": _pseudo,
    "ctranslate2": _ctranslate2,
    "libretranslate": _libretranslate,
    "openai-compatible": _openai_compatible,
}


def engines_from_settings(settings: TranslateSettings) -> list[TranslationEngine]:
    """The configured engines in order (empty when none is configured); unknown names and broken
    model directories fail loudly at start-up, not at the first article."""
    names = [n.strip() for n in settings.engine.split(",") if n.strip()]
    engines = []
    for name in (n if ":" in n else n.lower() for n in names):
        if name == "none":
            continue
        if name == "ctranslate2":
            engines.extend(_ctranslate2_engines(settings))
            continue
        engines.append(_checked(name, _factory(name)(settings)))
    return engines


def _factory(name: str) -> EngineFactory:
    """A built-in engine by name, or one that lives elsewhere by import path
    (``package.module:factory``: the benchmarks' ``bench.engines:wait``, say), so that code only
    benchmarks or tests run never ships in the service."""
    if ":" in name:
        return _imported(name)
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineNotConfigured(
            f"unknown translation engine {name!r}; available: {', '.join(sorted(ENGINES))}, "
            "or an engine factory as module.path:factory"
        ) from None


def _imported(path: str) -> EngineFactory:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module failing as it loads
        raise EngineNotConfigured(
            f"translation engine {path!r}: cannot import {module_name!r} ({exc})"
        ) from exc
    factory = getattr(module, attribute, None) if attribute.isidentifier() else None
    if factory is None or not callable(factory):
        raise EngineNotConfigured(
            f"translation engine {path!r}: {module_name} has no engine factory {attribute!r} "
            "(a function of the translate settings that returns an engine)"
        )
    return cast(EngineFactory, factory)


def _checked(name: str, engine: object) -> TranslationEngine:
    """What a factory made, refused at start-up unless it has the engine interface."""
    if not all(hasattr(engine, a) for a in ("name", "model", "model_version", "supports")) or (
        not callable(getattr(engine, "translate", None))
    ):
        raise EngineNotConfigured(f"translation engine {name!r}: its factory made no engine")
    return cast(TranslationEngine, engine)
