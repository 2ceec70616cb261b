"""Feeds settings, from ``FEEDS_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FeedsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDS_", extra="ignore")

    http_port: int = 8080
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL partners reach the feeds at."
    )
    entries_per_feed: int = Field(default=50, ge=1, le=1000)
