"""Typed configuration from the environment and an optional `.env` file.

The variable names are a contract with operators (see the README's configuration table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain import Tier


class SettingsError(Exception):
    """One line naming the variable and what is wrong with it."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # Telegram's per-bot send limit (30/s); broadcasts pace themselves to it.
    telegram_send_rate_per_s: int = Field(default=30, ge=1, le=1000)

    # Storage
    rivet_data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    migrate_on_start: bool = True

    # Web
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"
    admin_api_key: SecretStr | None = None

    # People
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    onboarding_token_ttl_days: float = Field(default=7.0, gt=0)
    unknown_user_reply_interval_s: float = Field(default=60.0, ge=0)

    # Runtime
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    shutdown_grace_s: float = Field(default=8.0, gt=0)

    # Scheduled jobs
    cmms_watch_interval_s: int = Field(default=60, ge=5)
    escalation_ack_minutes: float = Field(default=30.0, gt=0)
    digest_time: str = Field(default="07:00", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    digest_timezone: str = "UTC"
    cleanup_token_days: float = Field(default=7.0, ge=0)

    # Billing (Stripe)
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_price_basic: str | None = None
    stripe_price_pro: str | None = None
    stripe_price_enterprise: str | None = None
    stripe_past_due_grace_days: float = Field(default=7.0, ge=0)
    # Tier gates: JSON overriding bot.services.tiers.DEFAULT_POLICY, e.g.
    # {"minimum": {"prints": "pro"}, "monthly_quota": {"basic": {"work_orders": 50}}}
    tier_policy: dict[str, Any] = Field(default_factory=dict)

    # CMMS
    cmms_backend: Literal["local", "atlas"] = "local"
    atlas_url: str | None = None
    atlas_email: str | None = None
    atlas_password: SecretStr | None = None
    atlas_frontend_url: str | None = None

    # AI
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_transcribe_model: str = "gpt-4o-mini-transcribe"
    openai_vision_model: str | None = None
    speech_backend: Literal["auto", "openai", "offline", "none"] = "auto"
    voice_max_duration_s: int = Field(default=300, gt=0)
    # Start the offline speech worker with the process, so no voice note pays the start-up.
    speech_warm_up: bool = True

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "telegram_webhook_url",
        "database_url",
        "redis_url",
        "stripe_api_base",
        "atlas_url",
        "openai_base_url",
        "openai_vision_model",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("digest_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Berlin") from None
        return value

    @field_validator("telegram_api_base", "public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        if self.cmms_backend == "atlas" and not (
            self.atlas_url and self.atlas_email and self.atlas_password
        ):
            raise ValueError("CMMS_BACKEND=atlas needs ATLAS_URL, ATLAS_EMAIL and ATLAS_PASSWORD")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.rivet_data_dir / 'rivet.db').resolve()}"

    @property
    def webhook_mode(self) -> bool:
        return self.telegram_webhook_url is not None

    def stripe_price_for_tier(self) -> dict[Tier, str]:
        pairs = {
            Tier.BASIC: self.stripe_price_basic,
            Tier.PRO: self.stripe_price_pro,
            Tier.ENTERPRISE: self.stripe_price_enterprise,
        }
        return {tier: price for tier, price in pairs.items() if price}

    def secret_values(self) -> list[str]:
        """Every configured secret, so the log filter can mask them."""
        secrets = [
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.admin_api_key,
            self.stripe_api_key,
            self.stripe_webhook_secret,
            self.atlas_password,
            self.openai_api_key,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        return [v for v in values if len(v) >= 4]


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's multi-line report into one line per problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    # Never echo the offending input: it may be a secret.
    return f"{location}: {message}" if location else message
