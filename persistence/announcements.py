"""Announcing committed changes on `CHANGES_CHANNEL`, for every instance's listeners.

A write does not `NOTIFY` in its own transaction: PostgreSQL commits the transactions that sent
a notification one at a time, server-wide, holding one lock across each commit's flush to
disk (`PreCommit_Notify`), so every write in the database would wait for every other write's
flush, and commits could never be flushed together. Instead a write session notes whose tasks
it wrote (`changed`), and when it commits hands them to its worker's `Announcer`. That sends
them at most `GATHER_SECONDS` later, together, in a transaction that writes nothing to the log
and so commits without waiting for the disk. An announcement is sent again until the database
takes it; one lost with the process costs a stream at most a heartbeat, as streams also read
the feed at each.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from persistence.models import CHANGES_CHANNEL

logger = logging.getLogger("taskapi.live")

# In a write session's `info`: the worker's announcer, and the owners its transaction changed.
ANNOUNCER = "announcer"
_CHANGED = "changed_owners"
# How long the first change waits for others to go out with it: an announcement costs the
# worker about half a write's CPU, so a busy worker sends at most 20 a second. Then how
# long after a failed attempt to try again, and how long the last attempt may take when the
# app stops.
GATHER_SECONDS = 0.05
RETRY_SECONDS = 0.5
LAST_ATTEMPT_SECONDS = 2.0

_OWNERS = func.unnest(bindparam("owners", type_=ARRAY(Text))).column_valued("owner")
_ANNOUNCE = select(func.pg_notify(CHANGES_CHANNEL, _OWNERS))


def changed(session: Session | AsyncSession, owner: str) -> None:
    """Announce a change to `owner`'s tasks once the session's transaction commits."""
    session.info.setdefault(_CHANGED, set()).add(owner)


@event.listens_for(Session, "after_commit")
def _announce_committed(session: Session) -> None:
    owners = session.info.pop(_CHANGED, None)
    announcer = session.info.get(ANNOUNCER)
    if owners and announcer is not None:
        announcer.announce(owners)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)


async def announce(engine: AsyncEngine, owners: list[str]) -> None:
    """Notify `CHANGES_CHANNEL` once for each owner, in one statement."""
    async with engine.begin() as connection:
        await connection.execute(_ANNOUNCE, {"owners": owners})


class Announcer:
    """One worker's announcements, gathered, and sent by `run` while the app runs."""

    def __init__(self) -> None:
        self._owners: set[str] = set()
        self._due = asyncio.Event()

    def announce(self, owners: Iterable[str]) -> None:
        self._owners.update(owners)
        self._due.set()

    async def run(self, send: Callable[[list[str]], Awaitable[object]]) -> None:
        """Send what is due with `send`, until cancelled; then what is left, once."""
        self._due = asyncio.Event()  # of this event loop: an app may run in more than one
        if self._owners:
            self._due.set()
        try:
            while True:
                await self._due.wait()
                await asyncio.sleep(GATHER_SECONDS)
                if not await self._send(send):
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            if self._owners:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._send(send), LAST_ATTEMPT_SECONDS)

    async def _send(self, send: Callable[[list[str]], Awaitable[object]]) -> bool:
        owners, self._owners = self._owners, set()
        self._due.clear()
        try:
            await send(sorted(owners))
        except Exception as error:  # whatever it was, the owners are due again
            logger.warning("changes not announced yet (%s)", type(error).__name__)
            self.announce(owners)
            return False
        return True
