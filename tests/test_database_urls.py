"""Database URLs as people paste them (Neon, libpq), translated for asyncpg or refused."""

import pytest

from persistence.database import connect_args
from persistence.urls import to_asyncpg_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgresql://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://u:p@ep-x.neon.tech/db?ssl=require",
        ),
        ("postgres://u@h:5433/d", "postgresql+asyncpg://u@h:5433/d"),
        (
            "postgresql+asyncpg://u@h/d?ssl=verify-full",
            "postgresql+asyncpg://u@h/d?ssl=verify-full",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql+asyncpg://postgres:@/postgres?host=%2Ftmp%2Fpg",
        ),
        (
            "postgresql://u@h/d?sslmode=disable&application_name=x",
            "postgresql+asyncpg://u@h/d?ssl=disable",
        ),
        (
            "postgresql://u:p@ep-x-pooler.neon.tech/db?sslmode=require",
            "postgresql+asyncpg://u:p@ep-x-pooler.neon.tech/db?prepared_statement_cache_size=0&ssl=require",
        ),
    ],
)
def test_urls_are_translated_for_asyncpg(raw, expected):
    assert to_asyncpg_url(raw).render_as_string(hide_password=False) == expected


def test_a_transaction_pooler_gets_no_asyncpg_statement_cache_and_unique_names():
    pooler = connect_args(to_asyncpg_url("postgresql://u@ep-x-pooler.neon.tech/db"))
    assert pooler["statement_cache_size"] == 0
    assert pooler["prepared_statement_name_func"]() != pooler["prepared_statement_name_func"]()
    direct = connect_args(to_asyncpg_url("postgresql://u@ep-x.neon.tech/db"))
    assert "statement_cache_size" not in direct


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("mysql://u@h/d", "not a PostgreSQL URL"),
        ("postgresql://u@h/d?sslmode=x", "unknown sslmode"),
    ],
)
def test_urls_that_cannot_work_are_refused(raw, reason):
    with pytest.raises(ValueError, match=reason):
        to_asyncpg_url(raw)
