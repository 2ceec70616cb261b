"""Translate settings, from ``TRANSLATE_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TranslateSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSLATE_", extra="ignore")

    http_port: int = 8001
    engine: str = ""
    """Engine name: empty means none configured (translations stay pending), ``pseudo`` is the
    deterministic test engine. Real engines (CTranslate2, LibreTranslate, OpenAI-compatible)
    plug in through :mod:`services.translate.engines`."""
