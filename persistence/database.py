"""Engine and session configuration for the primary (writes) and the read side (queries)."""

from pathlib import Path
from typing import Any
from uuid import uuid4

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from persistence.urls import is_transaction_pooler, to_asyncpg_url

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
VERSION_TABLE = "alembic_version"
READ_SESSION_KEY = "read_session"

# Neon suspends idle computes after 5 minutes and drops their connections: recycle before that,
# ping before use, and give a waking compute a few seconds to answer.
_POOL_RECYCLE_SECONDS = 240
# Connections kept open per instance, and how many more a burst may open (and close again).
_POOL_SIZE = 20
_POOL_OVERFLOW = 10
_CONNECT_TIMEOUT_SECONDS = 10


def connect_args(url: URL) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": _CONNECT_TIMEOUT_SECONDS}
    if is_transaction_pooler(url):
        args |= {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__",
        }
    return args


def _engine_options(url: URL) -> dict[str, Any]:
    return {
        "pool_size": _POOL_SIZE,
        "max_overflow": _POOL_OVERFLOW,
        "pool_pre_ping": True,
        "pool_recycle": _POOL_RECYCLE_SECONDS,
        "connect_args": connect_args(url),
    }


def make_engine(raw_url: str) -> AsyncEngine:
    """A standalone engine, for tools and tests that run without the app."""
    url = to_asyncpg_url(raw_url)
    return create_async_engine(url, **_engine_options(url))


def write_config(raw_url: str) -> SQLAlchemyAsyncConfig:
    """The primary: command handlers' sessions, committed when the response is sent."""
    url = to_asyncpg_url(raw_url)
    return SQLAlchemyAsyncConfig(
        connection_string=url.render_as_string(hide_password=False),
        engine_config=EngineConfig(**_engine_options(url)),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
        # The handlers move `updated_at` only when a value really changes (not on a trash move
        # or a change-feed number), so advanced-alchemy's touch-on-every-flush is off.
        enable_touch_updated_timestamp_listener=False,
        alembic_config=AlembicAsyncConfig(
            script_location=MIGRATIONS, version_table_name=VERSION_TABLE
        ),
    )


def read_config(primary: SQLAlchemyAsyncConfig) -> SQLAlchemyAsyncConfig:
    """Query handlers' sessions. They share the primary's engine until a replica is configured."""
    return SQLAlchemyAsyncConfig(
        engine_instance=primary.get_engine(),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        session_dependency_key=READ_SESSION_KEY,
        engine_dependency_key="read_engine",
        engine_app_state_key="read_engine",
        session_maker_app_state_key="read_session_maker",
        session_scope_key="_read_session",
    )
