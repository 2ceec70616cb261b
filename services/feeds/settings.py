"""Feeds settings, from ``FEEDS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared import netguard
from shared.settings import RateLimits, ServiceSettings


class FeedsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDS_", extra="ignore")

    http_port: int = 8080
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL partners reach the feeds at."
    )
    entries_per_feed: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Entries per archive page; the subscription document shows the last one "
        "or two pages.",
    )
    cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a replica serves a feed document from memory before reading it "
        "again (0: never from memory). Another replica's new render may be served this much "
        "later; the replica that rendered it serves it at once.",
    )
    websub_hub_url: str | None = Field(
        default=None,
        description="An external WebSub hub to advertise and ping; unset = the built-in hub "
        "at {public_url}/websub.",
    )
    batch_max_records: int = Field(
        default=500,
        gt=0,
        le=1000,
        description="Most events stored in one database round (and one render per feed).",
    )
    batch_wait_ms: int = Field(
        default=200, gt=0, description="Longest wait for a batch when the topics are idle."
    )
    render_delay_ms: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="Changes to one feed within this window are rendered once (0: every change "
        "at once).",
    )
    links_delay_ms: int = Field(
        default=1000,
        ge=0,
        le=60_000,
        description="Feeds whose entries only gained or lost a link to a translation are "
        "rendered within this window, after the feeds with new entries.",
    )
    websub_retry_seconds: float = Field(
        default=5.0, gt=0, description="How often due WebSub redeliveries are looked for."
    )
    websub_allow_networks: str = Field(
        default="",
        description="Comma-separated CIDRs WebSub callbacks may reach although they are not "
        "public internet addresses (development and tests: 127.0.0.0/8). Empty, the default, "
        "refuses loopback, private, link-local and every other non-public address.",
    )
    websub_connect_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to connect to a WebSub callback."
    )
    websub_timeout: float = Field(
        default=15.0,
        gt=0,
        le=150,
        description="Seconds a verification or delivery request may take in all; a callback "
        "host that times out is backed off (30 s, then 2, 10 and 60 minutes).",
    )
    websub_per_host: int = Field(
        default=2, ge=1, description="WebSub requests at once to one callback host."
    )
    websub_connections: int = Field(
        default=64, ge=1, description="WebSub deliveries at once, all hosts together."
    )
    websub_pending_per_host: int = Field(
        default=4, ge=1, description="Verifications of intent pending for one callback host."
    )
    websub_pending_max: int = Field(
        default=256, ge=1, description="Verifications of intent pending in all (per replica)."
    )

    activitypub: bool = Field(
        default=True,
        description="Every public feed is a fediverse (ActivityPub) account people can follow "
        "from Mastodon: @mashhad.en@<host of FEEDS_PUBLIC_URL>. Needs FEEDS_PUBLIC_URL to be "
        "the https address the internet reaches.",
    )
    activitypub_allow_networks: str = Field(
        default="",
        description="Comma-separated CIDRs that followers' inboxes and key URLs may reach "
        "although they are not public internet addresses (development and tests: "
        "127.0.0.0/8). Empty, the default, refuses every non-public address.",
    )
    activitypub_signature_window: int = Field(
        default=300,
        ge=30,
        le=86_400,
        description="Seconds an inbox request's signed date may be from our clock; a signature "
        "is accepted once within twice this.",
    )
    activitypub_rate_limit: RateLimits = Field(
        default="300/minute",
        description="Inbox requests accepted per remote server (the host of the signing key), "
        "in the limits notation; past it, 429.",
    )
    activitypub_followers_per_host: int = Field(
        default=1000, ge=1, description="Followers from one remote server, all feeds together."
    )
    activitypub_timeout: float = Field(
        default=15.0, gt=0, le=120, description="Seconds a delivery or a key fetch may take."
    )
    activitypub_retry_delays: str = Field(
        default="10,60,300,1800,7200,21600",
        description="Seconds between a failed delivery and its next try, comma-separated; after "
        "the last, the delivery is given up.",
    )
    activitypub_retry_seconds: float = Field(
        default=5.0, gt=0, description="How often due deliveries are looked for."
    )

    @field_validator("activitypub_retry_delays")
    @classmethod
    def _delays(cls, value: str) -> str:
        cls.delays(value)  # a typo must stop the service
        return value

    @staticmethod
    def delays(value: str) -> tuple[float, ...]:
        try:
            found = tuple(float(part) for part in value.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not comma-separated seconds") from None
        if any(d <= 0 for d in found):
            raise ValueError("every retry delay must be positive")
        return found

    @field_validator("websub_allow_networks", "activitypub_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        netguard.parse_networks(value)  # a typo must stop the service, not open it up
        return value

    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the registry admin API (unset: disabled); several, "
        "comma-separated, are all accepted (to rotate it without a gap).",
    )
    admin_token_file: Path | None = Field(
        default=None,
        description="File holding the admin token (a mounted secret); one token a line.",
    )

    def admin_secret(self) -> str | None:
        """The admin token, from the file when one is named (read at start-up)."""
        if self.admin_token_file is not None:
            return self.admin_token_file.read_text(encoding="utf-8").strip() or None
        return self.admin_token.get_secret_value() if self.admin_token else None
