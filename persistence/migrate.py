"""Apply Alembic revisions from inside a running program (start-up and tests)."""

import asyncio
import logging
import ssl

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.database import MIGRATIONS

logger = logging.getLogger("taskapi")

# Held (per transaction) by every upgrade, so instances starting together take turns.
MIGRATION_LOCK_ID = 0x7461736B
MIGRATION_ATTEMPTS = 5


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def upgrade_when_reachable(engine: AsyncEngine) -> None:
    """Apply pending revisions, retrying while a sleeping database wakes up."""
    for attempt in range(1, MIGRATION_ATTEMPTS + 1):
        try:
            await upgrade_to_head(engine)
            return
        except ssl.SSLError:
            raise  # a certificate that cannot be trusted will not be trusted later either
        except (OSError, DBAPIError) as error:
            if attempt == MIGRATION_ATTEMPTS:
                raise
            logger.warning("database not reachable yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(0.5 * 2**attempt)
