"""Engine and session configuration for the primary (writes) and the read side (queries)."""

import logging
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from persistence.announcements import ANNOUNCER, Announcer
from persistence.plugin import AlembicAsyncConfig, AsyncSessionConfig, SQLAlchemyAsyncConfig
from persistence.urls import DatabaseURL, direct_endpoint, parse_database_url

logger = logging.getLogger("taskapi")

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
VERSION_TABLE = "alembic_version"
READ_SESSION_KEY = "read_session"
# The name the plugin gives its own write-session dependency, which no route asks for: routes
# take `db_session` from the HTTP edge, which commits it before the response (`committed_sessions`
# in `service/controllers/owned.py`), and the two must not share a name.
WRITE_SESSION_KEY = "write_session"
READ_ENGINE_KEY = "read_engine"
# Marks, in a read connection's `info`, a connection to the primary made while the replica was
# unreachable.
ON_PRIMARY = "on_primary"
LISTENER_NAME = "taskapi-listener"  # `application_name` of the connection that LISTENs
# True in a session's `info` when its connections are direct, so that a statement may run
# outside a transaction: through a transaction pooler it may not (see `connect_args`).
AUTOCOMMIT_SAFE = "autocommit_safe"

# Neon suspends an idle compute after 5 minutes and closes its connections: a pooled connection
# the server has closed, or one left idle longer than this (which a network may have dropped
# without a word), is replaced at checkout (see `_replace_stale`), and a waking compute gets a
# few seconds to answer. A connection in use is never retired for its age alone: retiring by
# age (`pool_recycle`) had every connection of a busy pool reconnect in the same few seconds,
# all of them opened together under the first load, a stall every few minutes.
_IDLE_SECONDS = 240
# In a pooled connection's `info` (cleared when it reconnects): when it was last checked in.
_IDLE_SINCE = "idle_since"
# Connections kept open per worker. A burst beyond them waits for one: a connection opened for
# the burst and closed after it would cost a connect (a TLS handshake on Neon) and every
# statement prepared afresh, burst after burst.
_POOL_SIZE = 20
_CONNECT_TIMEOUT_SECONDS = 10
# advanced-alchemy's listeners for its cache and file objects, neither of which is used here:
# asking whether its cache is on builds an engine (`Engine.execution_options`) on every commit.
_NO_CACHE = {"enable_cache_listener": False}
# How long reads stay on the primary after the replica failed to answer, before trying it again.
REPLICA_RETRY_SECONDS = 5.0


def connect_args(db: DatabaseURL) -> dict[str, Any]:
    """Through a transaction pooler every statement must also run inside a transaction: asyncpg
    prepares a statement in one round trip and runs it in the next, and only an open
    transaction keeps the pooler from handing the second to another server connection."""
    args: dict[str, Any] = {"timeout": _CONNECT_TIMEOUT_SECONDS}
    if db.ssl is not None:
        args["ssl"] = db.ssl
    if db.transaction_pooler:
        # A prepared statement may land on another server connection: no statement cache,
        # and names that never collide.
        args |= {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__",
        }
    return args


def _engine_options(db: DatabaseURL) -> dict[str, Any]:
    return {
        "pool_size": _POOL_SIZE,
        "max_overflow": 0,
        "connect_args": connect_args(db),
    }


def make_engine(raw_url: str) -> AsyncEngine:
    """A standalone engine, for tools and tests that run without the app."""
    return engine_for(parse_database_url(raw_url))


def engine_for(db: DatabaseURL) -> AsyncEngine:
    engine = create_async_engine(db.url, **_engine_options(db))
    event.listen(engine.sync_engine.pool, "checkin", _note_idle_since)
    event.listen(engine.sync_engine.pool, "checkout", _replace_stale)
    return engine


def _note_idle_since(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _replace_stale(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Instead of a pre-ping (three round trips on every checkout): a connection whose socket
    the server has closed, as Neon does when it suspends, or that sat idle longer than
    `_IDLE_SECONDS`, is replaced before use. One that fails in use anyway invalidates the pool
    (SQLAlchemy's disconnect handling), and the request gets a 503."""
    if record.driver_connection.is_closed():
        raise DisconnectionError("closed by the server")  # the pool connects afresh
    now = time.monotonic()
    if now - record.info.get(_IDLE_SINCE, now) > _IDLE_SECONDS:
        raise DisconnectionError("idle too long")


def listening_engine(db: DatabaseURL) -> AsyncEngine:
    """Connections for `LISTEN`, held open one at a time, never pooled or shared; on the
    direct endpoint when `db` goes through a transaction pooler."""
    direct = direct_endpoint(db)
    args = connect_args(direct) | {"server_settings": {"application_name": LISTENER_NAME}}
    return create_async_engine(direct.url, poolclass=NullPool, connect_args=args)


def write_config(primary: DatabaseURL, announcer: Announcer | None = None) -> SQLAlchemyAsyncConfig:
    """The primary: command handlers' sessions, committed by the HTTP edge before the response
    is sent (advanced-alchemy's commit as it is sent would swallow a failed commit) and closed
    after it, their changes then announced by `announcer` (the app's; tools that write no
    tasks have none)."""
    info = _NO_CACHE | {AUTOCOMMIT_SAFE: _direct(primary), ANNOUNCER: announcer}
    return SQLAlchemyAsyncConfig(
        engine_instance=engine_for(primary),
        session_config=AsyncSessionConfig(expire_on_commit=False, info=info),
        session_dependency_key=WRITE_SESSION_KEY,
        # The handlers move `updated_at` only when a value really changes (not on a trash move
        # or a change-feed number), so advanced-alchemy's touch-on-every-flush is off.
        enable_touch_updated_timestamp_listener=False,
        enable_file_object_listener=False,
        alembic_config=AlembicAsyncConfig(
            script_location=MIGRATIONS, version_table_name=VERSION_TABLE
        ),
    )


def read_config(
    primary_config: SQLAlchemyAsyncConfig, primary: DatabaseURL, replica: DatabaseURL | None
) -> SQLAlchemyAsyncConfig:
    """Query handlers' sessions: on the replica when one is configured, else on the primary's
    engine (and pool). In autocommit on direct connections: each query is one statement,
    consistent on its own, so BEGIN and COMMIT would be two round trips for nothing."""
    engine = primary_config.get_engine() if replica is None else replica_engine(replica, primary)
    if _direct(primary, replica):
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False, info=_NO_CACHE),
        enable_file_object_listener=False,
        session_dependency_key=READ_SESSION_KEY,
        engine_dependency_key=READ_ENGINE_KEY,
        engine_app_state_key=READ_ENGINE_KEY,
        session_maker_app_state_key="read_session_maker",
        session_scope_key="_read_session",
    )


def _direct(*databases: DatabaseURL | None) -> bool:
    return not any(db.transaction_pooler for db in databases if db is not None)


def replica_engine(replica: DatabaseURL, primary: DatabaseURL) -> AsyncEngine:
    """An engine on the replica that connects to the primary while the replica is unreachable,
    tries the replica again every few seconds, and then retires its primary connections."""
    engine = engine_for(replica)
    fallback = _PrimaryFallback(engine.dialect, primary)
    event.listen(engine.sync_engine, "do_connect", fallback.connect)
    event.listen(engine.sync_engine.pool, "checkout", fallback.retire_when_replica_is_due)
    return engine


class _PrimaryFallback:
    def __init__(self, dialect: Dialect, primary: DatabaseURL) -> None:
        cargs, cparams = dialect.create_connect_args(primary.url)
        self._primary_args = (cargs, cparams | connect_args(primary))
        self._next_replica_attempt = 0.0

    def _replica_is_due(self) -> bool:
        return time.monotonic() >= self._next_replica_attempt

    def connect(
        self, dialect: Dialect, record: ConnectionPoolEntry, cargs: list, cparams: dict
    ) -> Any:
        if self._replica_is_due():
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as error:  # whatever the cause, the primary can answer reads
                self._next_replica_attempt = time.monotonic() + REPLICA_RETRY_SECONDS
                logger.warning("read replica unreachable (%s): reading from the primary", error)
        record.info[ON_PRIMARY] = True
        primary_cargs, primary_cparams = self._primary_args
        return dialect.connect(*primary_cargs, **primary_cparams)

    def retire_when_replica_is_due(
        self, _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        if record.info.get(ON_PRIMARY) and self._replica_is_due():
            raise DisconnectionError("trying the read replica again")  # the pool reconnects
