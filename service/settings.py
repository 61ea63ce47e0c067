"""The one settings object, read once from the environment (and a `.env` file)."""

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from dotenv import dotenv_values

from persistence.urls import DatabaseURL, parse_database_url

LOG_FORMATS = ("console", "json")
TRANSACTION_POOLER = "transaction"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RATE_LIMIT_UNITS = ("second", "minute", "hour", "day")
# Requests in progress per worker (`service/admission.py`). A request mostly waiting for the
# database needs its place for longer: raise it where the database is far away (about
# requests per second x seconds per round trip, per worker).
DEFAULT_MAX_REQUESTS_IN_PROGRESS = 16
_RATE_LIMIT = re.compile(r"^\s*([1-9]\d{0,8})\s*/\s*([a-z]+)\s*$")


class ConfigurationError(Exception):
    """The service refuses to start; the message says what to set."""


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _rate_limit(value: str) -> tuple[str, int]:
    """`300/minute` -> ("minute", 300)."""
    match = _RATE_LIMIT.match(value.lower())
    if not match or match.group(2) not in RATE_LIMIT_UNITS:
        units = "|".join(RATE_LIMIT_UNITS)
        raise ConfigurationError(f"RATE_LIMIT must look like 300/minute (a count, then {units})")
    return match.group(2), int(match.group(1))


def _days(value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 36500:
        raise ConfigurationError("TRASH_RETENTION_DAYS must be a whole number of days, 1 or more")
    return int(value)


def _positive(env: Mapping[str, str], name: str, *, default: int) -> int:
    value = env.get(name, str(default)).strip()
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _database_url(name: str, raw: str | None, *, transaction_pooler: bool = False) -> DatabaseURL:
    if raw is None:
        raise ConfigurationError(f"{name} is not set and no embedded database was started")
    try:
        return parse_database_url(raw, transaction_pooler=transaction_pooler)
    except ValueError as error:
        raise ConfigurationError(f"{name}: {error}") from None


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str | None = None
    database_pooler: str | None = None
    read_database_url: str | None = None
    web_concurrency: int = 1
    max_requests_in_progress: int = DEFAULT_MAX_REQUESTS_IN_PROGRESS
    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_issuer: tuple[str, ...] = ()
    jwt_audience: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)
    auto_migrate: bool = True
    rate_limit: tuple[str, int] = ("minute", 300)
    redis_url: str | None = None
    trash_retention_days: int = 30
    # How often expired idempotency keys and trash are purged (not read from the environment).
    housekeeping_seconds: float = 600.0
    # How long a quiet event stream waits before it sends a comment line (not read either).
    heartbeat_seconds: float = 15.0
    log_level: str = "info"
    log_format: str = "console"
    data_dir: Path = Path(".data")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        if environ is None:
            dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
            environ = dotenv | dict(os.environ)
        env = {key: value for key, value in environ.items() if value.strip()}
        auth_url = env.get("BETTER_AUTH_URL", "").rstrip("/")
        from_auth_url = (auth_url,) if auth_url else ()
        return cls(
            database_url=env.get("DATABASE_URL"),
            database_pooler=env.get("DATABASE_POOLER"),
            read_database_url=env.get("READ_DATABASE_URL"),
            web_concurrency=_positive(env, "WEB_CONCURRENCY", default=1),
            max_requests_in_progress=_positive(
                env, "MAX_REQUESTS_IN_PROGRESS", default=DEFAULT_MAX_REQUESTS_IN_PROGRESS
            ),
            jwt_secret=env.get("JWT_SECRET") or env.get("BETTER_AUTH_SECRET"),
            jwks_url=env.get("JWT_JWKS_URL") or (f"{auth_url}/api/auth/jwks" if auth_url else None),
            jwt_issuer=_split(env.get("JWT_ISSUER")) or from_auth_url,
            jwt_audience=_split(env.get("JWT_AUDIENCE")) or from_auth_url,
            cors_origins=_split(env.get("CORS_ORIGINS")) or cls.cors_origins,
            auto_migrate=_flag(env.get("AUTO_MIGRATE"), default=True),
            rate_limit=_rate_limit(env.get("RATE_LIMIT", "300/minute")),
            redis_url=env.get("REDIS_URL"),
            trash_retention_days=_days(env.get("TRASH_RETENTION_DAYS", "30")),
            log_level=env.get("LOG_LEVEL", "info").lower(),
            log_format=env.get("LOG_FORMAT", "console" if sys.stderr.isatty() else "json").lower(),
            data_dir=Path(env.get("DATA_DIR", ".data")),
        )

    @property
    def trash_retention(self) -> timedelta:
        return timedelta(days=self.trash_retention_days)

    @cached_property
    def primary(self) -> DatabaseURL:
        if self.database_pooler not in (None, TRANSACTION_POOLER):
            raise ConfigurationError(f"DATABASE_POOLER must be {TRANSACTION_POOLER!r} or unset")
        pooled = self.database_pooler == TRANSACTION_POOLER
        return _database_url("DATABASE_URL", self.database_url, transaction_pooler=pooled)

    @cached_property
    def replica(self) -> DatabaseURL | None:
        if self.read_database_url is None:
            return None
        return _database_url("READ_DATABASE_URL", self.read_database_url)

    @property
    def auth_configured(self) -> bool:
        return bool(self.jwt_secret or self.jwks_url)

    def check(self) -> "Settings":
        """Refuse to run open or misconfigured."""
        _ = self.primary, self.replica  # each refuses, naming it, a URL that cannot work
        if not self.auth_configured:
            raise ConfigurationError(
                "No way to verify tokens: set BETTER_AUTH_URL (or JWT_JWKS_URL) for Better Auth's "
                "JWKS, or JWT_SECRET (BETTER_AUTH_SECRET) for HS256 tokens."
            )
        return self.check_logging()

    def check_logging(self) -> "Settings":
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS).lower()}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
        return self
