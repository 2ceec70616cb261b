"""Translate settings, from ``TRANSLATE_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TranslateSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSLATE_", extra="ignore")

    http_port: int = 8001
    engine: str = Field(
        default="",
        description="Empty: none configured (translations stay pending and say why). One engine, "
        "or several separated by commas, tried in order (a fallback chain; pairs no engine has "
        "go through English): `ctranslate2` (a local model from `model_dir`), `libretranslate`, "
        "`openai-compatible`, `pseudo` (the deterministic test engine), or an engine factory by "
        "import path, `module.path:factory` (a function of these settings returning an engine: "
        "the benchmarks' `bench.engines:wait`).",
    )
    model_dir: Path | None = Field(
        default=None, description="A CTranslate2 model directory with its cityfeeds-model.json."
    )
    model_dirs: str = Field(
        default="",
        description="Pairs served by another model than `model_dir`, as `models pick` writes "
        "them from measured scores: `fa-en=DIR,fa-ar=DIR`. Each listed pair is translated by its "
        "model; every other pair by `model_dir`.",
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str | None = Field(
        default=None, description="Default: int8 on CPU, int8_float16 (or float16) on GPU."
    )
    inter_threads: int = Field(default=1, ge=1, description="Batches translated in parallel.")
    intra_threads: int = Field(default=0, ge=0, description="Threads per batch; 0 = all cores.")
    max_batch_size: int = Field(default=32, ge=1, description="Segments per model call.")
    beam_size: int = Field(default=2, ge=1)
    max_decoding_length: int = Field(
        default=256,
        ge=1,
        description="Most tokens the model may write for one segment (a guard: segments are "
        "paragraphs, and a real model ends each well before this).",
    )
    libretranslate_url: str | None = Field(default=None, description="e.g. http://libre:5000")
    libretranslate_api_key: str | None = None
    openai_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible server (vLLM, Ollama), e.g. http://vllm:8000",
    )
    openai_model: str | None = Field(default=None, description="The model name the server serves.")
    openai_api_key: str | None = None
    openai_max_concurrency: int = Field(default=4, ge=1)
    engine_timeout_seconds: float = Field(default=60.0, gt=0, description="Per HTTP engine call.")
    batch_max_records: int = Field(
        default=200, ge=1, description="Articles taken from Kafka at once and pooled per pair."
    )
    batch_wait_ms: int = Field(default=100, ge=0, description="How long a batch may fill.")
    batch_tokens: int = Field(
        default=2048, ge=16, description="Token budget of one engine call (segments pooled)."
    )
    engine_attempts: int = Field(
        default=3, ge=1, description="Tries per engine call before its articles go to the DLQ."
    )
    engine_backoff_seconds: float = Field(
        default=1.0, ge=0, description="First retry delay; doubles, at most 30 s."
    )
    glossary_mode: Literal["inline", "verify"] = Field(
        default="inline",
        description="`inline`: write the wanted target term into the source before translating; "
        "`verify`: only check the output. Both flag output missing a required term.",
    )
    glossary_missing: Literal["flag", "hold"] = Field(
        default="flag",
        deprecated=True,
        description="Deprecated and ignored: a missing required term is a failed automatic "
        "check (`glossary`), and each publisher's `translation_policy` in the registry decides "
        "what a failed check does (docs/review.md).",
    )
    glossary_ttl_seconds: float = Field(
        default=5.0, ge=0, description="How soon a glossary edit reaches every replica; 0: at once."
    )
