"""Tiffin's configuration: TIFFIN_* environment variables, checked at start-up."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from application.kafka_topics import partition_overrides

ENV_PREFIX = "TIFFIN_"
CIPHER_KEY_SIZES = (16, 24, 32)
CLIENT_VARIABLES = frozenset({"TIFFIN_TOKEN"})
SHARDED = (
    "restaurants",
    "ordering",
    "payments",
    "deliveries",
    "views",
)  # own database URLs  # read by `tiffin call`, not a platform setting


class ConfigurationError(Exception):
    """A TIFFIN_* variable is unknown or malformed; the message names it."""


def _require_scheme(url: str | None, schemes: tuple[str, ...]) -> str | None:
    if url is not None and urlsplit(url).scheme not in schemes:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")
    return url


class Settings(BaseSettings):
    """Every setting, its default, and what is checked about it (see README: Configuration)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True
    )

    data_dir: Path = Path("./var")
    database_url: str | None = None
    # The first sharding step: a context's events (or the views) in a database of their own.
    restaurants_database_url: str | None = None
    ordering_database_url: str | None = None
    payments_database_url: str | None = None
    deliveries_database_url: str | None = None
    views_database_url: str | None = None
    views_replica_url: str | None = None  # the API's queries read a streaming replica of it
    create_tables: bool = True  # off: only `tiffin migrate` creates and upgrades tables
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_topic_prefix: str = Field(default="tiffin.", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_publish_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    live_ping_seconds: float = Field(default=20.0, ge=0.05, le=300)  # /v1/live heartbeat
    live_buffer_messages: int = Field(default=256, ge=1, le=100_000)  # per follower
    live_max_topics: int = Field(default=20, ge=1, le=1_000)  # per connection
    push_credentials_file: Path | None = None  # FCM service account key; push is off without
    push_project_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")
    push_fcm_url: str = "https://fcm.googleapis.com"
    push_token_url: str | None = None  # instead of the key file's token_uri
    push_max_devices: int = Field(default=10, ge=1, le=100)  # per party
    kafka_partitions: int = Field(default=6, ge=1, le=10_000)  # `tiffin events topics`
    kafka_topic_partitions: str = ""  # per topic: orders=24,courier-locations=12
    kafka_replication_factor: int | None = Field(default=None, ge=1, le=32)  # None: min(3, brokers)
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    plain_port: int | None = Field(default=None, ge=1, le=65535)  # behind a TLS proxy only
    tls_cert: Path | None = None
    tls_key: Path | None = None
    firebase_project_id: str | None = None
    firebase_certs_url: str = (
        "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    )
    jwt_secret: SecretStr | None = None
    payment_webhook_secret: SecretStr | None = None
    merchant_vpa: str = Field(
        default="tiffin@upi", pattern=r"^[A-Za-z0-9._\-]{2,256}@[A-Za-z]{2,64}$"
    )
    merchant_name: str = Field(default="Tiffin", min_length=1, max_length=100)
    payment_gateway: Literal["simulated", "http"] = "simulated"
    payment_gateway_url: str | None = None
    payment_gateway_key: SecretStr | None = None
    simulated_capture_seconds: float = Field(default=2.0, ge=-1)
    payment_expiry_seconds: int = Field(default=900, gt=0)
    acceptance_timeout_seconds: int = Field(default=600, gt=0)
    event_cipher_key: SecretStr | None = None
    write_batch_max: int = Field(default=500, ge=1, le=10_000)
    write_batches_in_flight: int = Field(default=1, ge=1, le=8)
    database_pool_size: int = Field(default=2, ge=1, le=100)
    database_pool_overflow: int = Field(default=10, ge=0, le=100)  # opened when busy, then closed
    delivery_fee: Decimal = Field(default=Decimal("30.00"), ge=0, decimal_places=2)
    max_item_price: Decimal = Field(default=Decimal("100000.00"), gt=0, decimal_places=2)
    max_order_total: Decimal = Field(default=Decimal("500000.00"), gt=0, decimal_places=2)
    assignment_retry_seconds: float = Field(default=15.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    work_lease_seconds: float = Field(default=60.0, ge=1, le=3_600)
    reconcile_after_seconds: float = Field(default=120.0, gt=0, le=86_400)
    breaker_failures: int = Field(default=5, ge=1, le=1_000)
    breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3_600)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)  # plain-HTTP /metrics
    worker_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    component_give_up_seconds: float = Field(default=30.0, gt=0, le=3600)
    redis_prefix: str = Field(default="tiffin:", min_length=1, max_length=100)
    rate_limit_orders_per_minute: int = Field(default=10, ge=1, le=1_000_000)
    rate_limit_location_pings_per_second: int = Field(default=1, ge=1, le=1_000)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    rate_limit_anonymous_per_minute: int = Field(default=300, ge=1, le=1_000_000)
    rate_limit_webhooks_per_minute: int = Field(default=6_000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=16_777_216)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # JSON lines on stderr
    otel_endpoint: str | None = None  # OTLP/HTTP receiver: traces go to <it>/v1/traces
    otel_service_name: str | None = None  # default: tiffin-api, tiffin-worker, ...
    otel_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    cors_origins: str = ""  # comma-separated origins allowed by CORS; empty = no CORS headers
    idempotency_claim_seconds: float = Field(default=30.0, ge=1, le=3_600)  # then taken over
    read_wait_seconds: float = Field(default=5.0, ge=0, le=60)

    @field_validator(
        "database_url",
        "restaurants_database_url",
        "ordering_database_url",
        "payments_database_url",
        "deliveries_database_url",
        "views_database_url",
        "views_replica_url",
    )
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        return _require_scheme(url, ("postgresql", "postgres"))

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        return _require_scheme(url, ("redis", "rediss", "unix"))

    @field_validator("push_fcm_url", "push_token_url", "otel_endpoint")
    @classmethod
    def _push_urls(cls, url: str | None) -> str | None:
        return _require_scheme(url, ("http", "https"))

    @field_validator("payment_gateway_url")
    @classmethod
    def _gateway_url(cls, url: str | None) -> str | None:
        return _require_scheme(url, ("http", "https"))

    @field_validator("kafka_topic_partitions")
    @classmethod
    def _topic_partitions(cls, text: str) -> str:
        partition_overrides(text)  # ValueError says what is wrong
        return text

    @field_validator("event_cipher_key")
    @classmethod
    def _cipher_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:
            return None
        for part in key.get_secret_value().split(","):
            try:
                raw = base64.b64decode(part.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be base64 (keys comma-separated, newest first)") from None
            if len(raw) not in CIPHER_KEY_SIZES:
                raise ValueError("each key must decode to 16, 24 or 32 bytes (AES-128/192/256)")
        return key

    @model_validator(mode="after")
    def _paired_settings(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TIFFIN_TLS_CERT and TIFFIN_TLS_KEY must be set together")
        if self.plain_port is not None and self.plain_port == self.port:
            raise ValueError("TIFFIN_PLAIN_PORT must differ from TIFFIN_PORT")
        own = [name for name in SHARDED if getattr(self, f"{name}_database_url")]
        if own and self.database_url is None:
            named = ", ".join(f"TIFFIN_{name.upper()}_DATABASE_URL" for name in own)
            raise ValueError(f"{named}: only in server mode, with TIFFIN_DATABASE_URL set")
        if self.views_replica_url and self.database_url is None:
            raise ValueError("TIFFIN_VIEWS_REPLICA_URL: only in server mode, with a database")
        if self.payment_gateway == "http" and not self.payment_gateway_url:
            raise ValueError("TIFFIN_PAYMENT_GATEWAY=http needs TIFFIN_PAYMENT_GATEWAY_URL")
        return self

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def context_database_url(self, context: str) -> str | None:
        """Where a bounded context's events are (``Ordering``, ...): its own database if
        TIFFIN_<CONTEXT>_DATABASE_URL is set, else the shared one (None: embedded)."""
        own: str | None = getattr(self, f"{context.lower()}_database_url", None)
        return own or self.database_url

    @property
    def views_url(self) -> str | None:
        """Where the views are: TIFFIN_VIEWS_DATABASE_URL (a replica, another server), else
        the shared database (None: embedded)."""
        return self.views_database_url or self.database_url

    @property
    def embedded(self) -> bool:
        """True on the embedded default (SQLite files, everything in one process)."""
        return self.database_url is None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Reads the TIFFIN_* variables; raises ConfigurationError naming the one that is wrong."""
    environ = os.environ if environ is None else environ
    values = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and value != "" and name not in CLIENT_VARIABLES
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            where = ENV_PREFIX + "_".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "is not a Tiffin setting (see README: Configuration)"
            problems.append(f"{where}: {message}" if problem["loc"] else message)
        raise ConfigurationError("; ".join(problems)) from None
