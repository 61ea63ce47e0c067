"""Database URLs as people paste them (libpq, Neon's dashboard, SQLAlchemy), made fit for
asyncpg, and the settings around them."""

import ssl

import pytest

from persistence.database import connect_args, listening_engine
from persistence.urls import direct_endpoint, parse_database_url
from service.settings import ConfigurationError, Settings


@pytest.mark.parametrize(
    ("raw", "url", "tls"),
    [
        (
            "postgresql://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://u:p@ep-x.neon.tech/db",
            "require",
        ),
        ("postgres://u@h:5433/d", "postgresql+asyncpg://u@h:5433/d", None),
        ("postgresql+asyncpg://u@h/d?ssl=prefer", "postgresql+asyncpg://u@h/d", "prefer"),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql+asyncpg://postgres:@/postgres?host=%2Ftmp%2Fpg",
            None,
        ),
        (
            "postgresql://u@h/d?sslmode=disable&application_name=x",
            "postgresql+asyncpg://u@h/d",
            "disable",
        ),
        (
            "postgresql://u:p@ep-x-pooler.neon.tech/db?sslmode=require",
            "postgresql+asyncpg://u:p@ep-x-pooler.neon.tech/db?prepared_statement_cache_size=0",
            "require",
        ),
    ],
)
def test_urls_are_translated_for_asyncpg(raw, url, tls):
    parsed = parse_database_url(raw)
    assert (parsed.url.render_as_string(hide_password=False), parsed.ssl) == (url, tls)


def test_logs_never_show_the_password():
    shown = str(parse_database_url("postgresql://neondb_owner:s3cret@ep-x.neon.tech/neondb"))
    assert shown == "postgresql://neondb_owner:***@ep-x.neon.tech/neondb"


def test_sslrootcert_system_verifies_against_the_system_store_and_the_host_name():
    context = parse_database_url("postgresql://u@h/d?sslmode=verify-full&sslrootcert=system").ssl
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


@pytest.mark.parametrize(("mode", "checks_host"), [("verify-ca", False), ("require", False)])
def test_a_named_ca_is_verified_as_libpq_does(certificates, mode, checks_host):
    raw = f"postgresql://u@h/d?sslmode={mode}&sslrootcert={certificates.ca}"
    context = parse_database_url(raw).ssl
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, checks_host)
    assert len(context.get_ca_certs()) == 1


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        (
            "postgresql://u:p@ep-x-pooler.eu.aws.neon.tech/db?sslmode=require",
            "ep-x.eu.aws.neon.tech",
        ),
        ("postgresql://u:p@ep-x.eu.aws.neon.tech/db?sslmode=require", "ep-x.eu.aws.neon.tech"),
        ("postgresql://u@db.internal:5432/d", "db.internal"),
    ],
)
def test_listening_bypasses_neons_pooler_for_the_direct_endpoint(raw, host):
    db = parse_database_url(raw)
    direct = direct_endpoint(db)
    assert direct.url.host == host
    assert (direct.url.database, direct.ssl, direct.transaction_pooler) == (
        db.url.database,
        db.ssl,
        False,
    )
    assert dict(direct.url.query) == {}
    assert listening_engine(db).url == direct.url


def test_another_transaction_poolers_direct_endpoint_is_not_known():
    db = parse_database_url("postgresql://u@bouncer:6432/d", transaction_pooler=True)
    assert direct_endpoint(db) == db


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("mysql://u@h/d", "not a PostgreSQL URL"),
        ("not a url", "not a URL"),
        ("postgresql://u@h/d?sslmode=x", "unknown sslmode 'x'"),
        ("postgresql://u@h/d?sslmode=verify-ca&sslrootcert=/nowhere.pem", "sslrootcert file"),
        ("postgresql://u@h/d?sslmode=verify-full&sslrootcert=/etc/hostname", "no PEM"),
    ],
)
def test_urls_that_cannot_work_are_refused(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_database_url(raw)


def test_a_transaction_pooler_gets_no_statement_caches_and_unique_names():
    for pooled in (
        parse_database_url("postgresql://u@ep-x-pooler.neon.tech/db"),  # Neon's, by name
        parse_database_url("postgresql://u@pgbouncer.internal/db", transaction_pooler=True),
    ):
        assert pooled.transaction_pooler
        assert pooled.url.query["prepared_statement_cache_size"] == "0"
        args = connect_args(pooled)
        assert args["statement_cache_size"] == 0
        assert args["prepared_statement_name_func"]() != args["prepared_statement_name_func"]()
    direct = connect_args(parse_database_url("postgresql://u@ep-x.neon.tech/db"))
    assert "statement_cache_size" not in direct


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DATABASE_URL": "postgresql://u@h/d", "DATABASE_POOLER": "session"}, "DATABASE_POOLER"),
        ({"DATABASE_URL": "postgresql://u@h/d", "READ_DATABASE_URL": "x"}, "READ_DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u@h/d?sslmode=maybe"}, "DATABASE_URL"),
    ],
)
def test_database_settings_that_cannot_work_are_named(environ, named):
    settings = Settings.from_env(environ | {"JWT_SECRET": "s"})
    with pytest.raises(ConfigurationError, match=f"^{named}"):
        settings.check()


def test_web_concurrency_is_a_positive_number():
    assert Settings.from_env({"WEB_CONCURRENCY": "3"}).web_concurrency == 3
    assert Settings.from_env({}).web_concurrency == 1
    with pytest.raises(ConfigurationError, match="WEB_CONCURRENCY"):
        Settings.from_env({"WEB_CONCURRENCY": "0"})
