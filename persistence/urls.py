"""Turn any PostgreSQL URL a person may paste (libpq, Neon, SQLAlchemy) into what asyncpg takes.

SQLAlchemy's asyncpg dialect hands URL query parameters to `asyncpg.connect()` as keywords,
so libpq-only parameters must be translated or dropped: `sslmode` and `sslrootcert` become
asyncpg's `ssl` (a mode, or an `SSLContext` when a CA is named), `channel_binding` and the
rest are dropped. The app, `taskapi database ...` and Alembic all go through `parse_database_url`.
"""

import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_DRIVERLESS_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}

# libpq's sslmode values; asyncpg takes the ones that verify nothing as they are.
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
_VERIFYING_MODES = frozenset({"verify-ca", "verify-full"})
# Where libpq (and asyncpg) look for a CA when `sslrootcert` is not given.
_DEFAULT_ROOT_CERT = Path("~/.postgresql/root.crt")
SYSTEM_CA_STORE = "system"

# Understood by asyncpg as connect() keywords; everything else libpq-specific is dropped.
_ASYNCPG_QUERY_KEYS = {"host", "port"}


@dataclass(frozen=True)
class DatabaseURL:
    """Where to connect (`url`, for asyncpg) and how: TLS and whether a transaction pooler sits
    in between (PgBouncer, Neon's `-pooler` hosts), where a prepared statement may land on
    another server connection."""

    url: URL
    ssl: ssl.SSLContext | str | None
    transaction_pooler: bool

    def __str__(self) -> str:
        """For logs: never the password."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)


def parse_database_url(raw: str, *, transaction_pooler: bool = False) -> DatabaseURL:
    """Raises ValueError, in one line, for a URL or setting that cannot work."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError("not a URL such as postgresql://user:password@host/db") from None
    if url.drivername not in _DRIVERLESS_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {url.drivername!r})")
    query = dict(url.query)
    transaction_pooler = transaction_pooler or "-pooler" in (url.host or "")  # Neon's names
    kept = {key: value for key, value in query.items() if key in _ASYNCPG_QUERY_KEYS}
    if transaction_pooler:  # SQLAlchemy's own prepared-statement cache, off
        kept["prepared_statement_cache_size"] = "0"
    return DatabaseURL(
        url=url.set(drivername="postgresql+asyncpg", query=kept),
        ssl=_tls(query.get("sslmode") or query.get("ssl"), query.get("sslrootcert")),
        transaction_pooler=transaction_pooler,
    )


def _tls(mode: str | None, root_cert: str | None) -> ssl.SSLContext | str | None:
    """libpq's meaning: `require` with a CA verifies the CA; `verify-ca` checks the chain,
    `verify-full` the host name too; `sslrootcert=system` is the system's CA store."""
    if mode is None:
        return None
    if mode not in _SSL_MODES:
        raise ValueError(f"unknown sslmode {mode!r}: use one of {', '.join(sorted(_SSL_MODES))}")
    if mode in _VERIFYING_MODES or (mode == "require" and root_cert):
        context = _verifying_context(root_cert)
        context.check_hostname = mode == "verify-full"
        return context
    return mode


def _verifying_context(root_cert: str | None) -> ssl.SSLContext:
    if root_cert == SYSTEM_CA_STORE:
        return ssl.create_default_context()
    path = Path(root_cert).expanduser() if root_cert else _DEFAULT_ROOT_CERT.expanduser()
    if not path.is_file():
        raise ValueError(
            f"sslrootcert file {str(path)!r} not found (name a CA file, or `system` for the "
            "system's CA store)"
        )
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise ValueError(f"sslrootcert file {str(path)!r} holds no PEM certificate") from None


def direct_endpoint(db: DatabaseURL) -> DatabaseURL:
    """Where a connection that needs a session of its own (`LISTEN`) goes: a transaction pooler
    hands each transaction any server connection. Neon's direct endpoint is its pooler host
    without `-pooler`; another pooler's is not known, and it is returned as it is."""
    host = db.url.host or ""
    if not db.transaction_pooler or "-pooler" not in host:
        return db
    direct = db.url.set(host=host.replace("-pooler", "", 1))
    return replace(
        db,
        url=direct.difference_update_query(["prepared_statement_cache_size"]),
        transaction_pooler=False,
    )
