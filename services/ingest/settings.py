"""Ingest settings, from ``INGEST_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    http_port: int = 8000
    max_submission_bytes: int = Field(
        default=2 * 1024 * 1024, gt=0, description="Largest accepted submission, on both paths."
    )
    batch_max_records: int = Field(
        default=500, gt=0, description="Most submissions handled in one database round."
    )
    batch_wait_ms: int = Field(
        default=200, gt=0, description="Longest wait for a batch when the topic is idle."
    )
    embargo_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often embargoed articles are checked for release."
    )
    feeds_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The feeds service, where the editor desk reads the published translations "
        "it shows beside their source (GET /entries/{article}/{language}.json).",
    )
