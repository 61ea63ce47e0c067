"""Apply Alembic revisions from inside a running program (start-up and tests)."""

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.database import MIGRATIONS

# Held (per transaction) by every upgrade, so instances starting together take turns.
MIGRATION_LOCK_ID = 0x7461736B


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
