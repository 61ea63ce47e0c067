"""Turn any PostgreSQL URL a person may paste (libpq, Neon, SQLAlchemy) into one asyncpg accepts.

SQLAlchemy's asyncpg dialect hands URL query parameters to `asyncpg.connect()` as keywords,
so libpq-only parameters such as `sslmode` or `channel_binding` must be translated or dropped.
The app and Alembic both go through `to_asyncpg_url`.
"""

from sqlalchemy.engine import URL, make_url

_DRIVERLESS_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}

# libpq's sslmode values, which asyncpg's `ssl` takes as they are
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})

# Understood by asyncpg as connect() keywords; everything else libpq-specific is dropped.
_ASYNCPG_QUERY_KEYS = {"host", "port", "ssl", "prepared_statement_cache_size"}


def to_asyncpg_url(raw: str) -> URL:
    url = make_url(raw.strip())
    if url.drivername not in _DRIVERLESS_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {url.drivername!r})")
    query = dict(url.query)
    sslmode = query.pop("sslmode", None)
    if sslmode is not None and "ssl" not in query:
        if sslmode not in _SSL_MODES:
            raise ValueError(f"unknown sslmode {sslmode!r}")
        query["ssl"] = sslmode
    kept = {key: value for key, value in query.items() if key in _ASYNCPG_QUERY_KEYS}
    url = url.set(drivername="postgresql+asyncpg", query=kept)
    if is_transaction_pooler(url):  # SQLAlchemy's own prepared-statement cache, off
        url = url.update_query_dict({"prepared_statement_cache_size": "0"})
    return url


def is_transaction_pooler(url: URL) -> bool:
    """Neon's `-pooler` endpoints are PgBouncer in transaction mode, where a prepared statement
    may land on another server connection: no statement caches, unique statement names."""
    return "-pooler" in (url.host or "")
