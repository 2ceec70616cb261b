"""Ingest settings, from ``INGEST_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    http_port: int = 8000
    max_submission_bytes: int = Field(
        default=2 * 1024 * 1024, gt=0, description="Largest accepted article, on both paths."
    )
