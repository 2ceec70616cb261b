"""Settings from environment variables (pydantic-settings).

Connection settings are shared and unprefixed (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ...)
so one environment file serves every service; each service adds its own settings under its own
prefix (``INGEST_``, ``TRANSLATE_``, ``FEEDS_``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InfraSettings(BaseSettings):
    """Where the broker and the database are, and how topics are laid out."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "syndication"
    topic_partitions: int = Field(
        default=6, ge=1, description="Partitions for topics the services create; caps replicas."
    )
    topic_replication_factor: int = Field(default=1, ge=1, description="3 on a production cluster.")
    # Aligned with the broker's message.max.bytes so no record is ever too big to fetch.
    kafka_max_message_bytes: int = 10 * 1024 * 1024
    kafka_producer_batch_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Producer batch size per partition; aiokafka's 16 KB default makes one "
        "request per article and costs the broker most of a CPU under load.",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as a list: FastStream takes a string for one server, so
        ``a:9092,b:9092`` given as is would be looked up as one host name."""
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


def _known_notation(value: str) -> str:
    from shared.ratelimit import parse_limits

    parse_limits(value)  # a typo fails at start-up, with the notation to use
    return value


#: Limits in the ``limits`` notation (``100/second;2000/minute``, or ``off``), checked on load.
RateLimits = Annotated[str, AfterValidator(_known_notation)]


class ServiceSettings(BaseSettings):
    """Settings every service has; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_server: Literal["uvicorn", "granian"] = Field(
        default="uvicorn",
        description="The HTTP server: uvicorn, or Granian (measured no faster for feed polls "
        "on two cores; docs/benchmarks.md).",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Tries for a message failing with an unexpected error."
    )
    transient_retry_seconds: float = Field(
        default=60.0, gt=0, description="How long to retry while the database or broker is down."
    )
    rate_limit: RateLimits = Field(
        default="50/second;1000/minute",
        description="Requests per client address (shared.ratelimit); 'off' to turn it off.",
    )
    max_poll_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest a handler may take over one batch before the broker gives its "
        "partitions to another replica (Kafka's max.poll.interval.ms); the batch is then "
        "handled again. Raise it for an engine slower than this per batch.",
    )
    consumer_stall_seconds: float = Field(
        default=300.0,
        ge=0,
        description="/healthz fails once a partition the service reads has had no consumer in "
        "its group for this long (longer than a rebalance may take); 0 turns the watch off.",
    )
    infra: InfraSettings = Field(default_factory=InfraSettings)
