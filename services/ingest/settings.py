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
    batch_chunk_records: int = Field(
        default=100,
        gt=0,
        description="A batch is prepared and stored this many records at a time, each chunk "
        "prepared while the one before it is stored.",
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
    desk_session_idle_minutes: float = Field(
        default=30,
        gt=0,
        description="An editor desk session ends after this long without a request.",
    )
    desk_session_max_hours: float = Field(
        default=12,
        gt=0,
        description="An editor desk session ends this long after signing in, however active.",
    )
    publish_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Longest an editor's request waits for the broker to acknowledge what it "
        "publishes; past it a 503 (fewer brokers up than min.insync.replicas, say). What was "
        "sent may still arrive once the cluster recovers: resubmitting is safe.",
    )
    prepare_budget_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest a submission may take to prepare (extract, sanitise, normalise); "
        "past it the preparation is stopped and the submission refused (422, or the DLQ). "
        "Ordinary articles take milliseconds.",
    )
    prepare_workers: int = Field(
        default=2,
        gt=0,
        description="Worker processes preparing submissions side by side, off the event loop "
        "(each about 100 MB of memory).",
    )
