"""Background upkeep, off the request path: forget idempotency keys once they expire, delete
for good what has been in the trash longer than the retention window, and drop the spent rate
limit budgets kept in process memory.

Every instance runs it; the purge is one idempotent DELETE, so instances running it at once
do no harm.
"""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commands.handlers import purge_expired
from commands.idempotency import purge_expired_keys
from persistence.domain import utcnow
from service.rate_limits import Budgets

logger = logging.getLogger("taskapi.housekeeping")


async def purge_once(engine: AsyncEngine, trash_retention: timedelta) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await purge_expired_keys(session)
        await purge_expired(session, utcnow() - trash_retention)


async def keep_house(
    engine: AsyncEngine, interval_seconds: float, trash_retention: timedelta, budgets: Budgets
) -> None:
    while True:
        try:
            await purge_once(engine, trash_retention)
        except (OSError, DBAPIError) as error:  # the database is away: try again next round
            logger.warning("housekeeping skipped: %s", type(error).__name__)
        budgets.forget_closed()
        await asyncio.sleep(interval_seconds)
