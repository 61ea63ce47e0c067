"""Alembic environment, used by `taskapi database ...`, by start-up migrations and by tests.

Runs every upgrade under a transaction-scoped advisory lock so that instances starting
together apply each revision once.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import persistence.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from persistence.database import VERSION_TABLE, make_engine
from persistence.migrate import MIGRATION_LOCK_ID

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


async def run_with_engine(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported")
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    # `taskapi database ...` passes advanced-alchemy's engine (built from DATABASE_URL and
    # DATABASE_POOLER); plain `alembic` passes a URL.
    engine = getattr(config, "engine", None) or make_engine(
        config.get_main_option("sqlalchemy.url")
    )
    asyncio.run(run_with_engine(engine))


main()
