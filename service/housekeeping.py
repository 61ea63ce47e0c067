"""Background upkeep, off the request path: forget idempotency keys once they expire.

Every instance runs it; the purge is one idempotent DELETE, so instances running it at once
do no harm.
"""

import asyncio
import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commands.idempotency import purge_expired_keys

logger = logging.getLogger("taskapi.housekeeping")


async def purge_once(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        purged = await purge_expired_keys(session)
    if purged:
        logger.info("purged %d expired idempotency keys", purged)


async def keep_house(engine: AsyncEngine, interval_seconds: float) -> None:
    while True:
        try:
            await purge_once(engine)
        except (OSError, DBAPIError) as error:  # the database is away: try again next round
            logger.warning("housekeeping skipped: %s", type(error).__name__)
        await asyncio.sleep(interval_seconds)
