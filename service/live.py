"""Live updates: the change feed as server-sent events, woken by PostgreSQL `NOTIFY`.

Every committed write is announced on `CHANGES_CHANNEL` with its owner's id (see
`persistence.announcements`). Each instance holds one connection that `LISTEN`s to it and wakes
that user's open streams here. A woken stream reads the feed on from its own cursor, so
notifications coalesce into one read, and a slow client only falls behind: nothing is queued
for it, and nobody waits for it. A quiet stream reads again at each heartbeat too, so a
notification lost with the listening connection costs at most one heartbeat's delay.
"""

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from weakref import WeakSet

import msgspec
from litestar.response import ServerSentEventMessage
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from persistence.database import listening_engine
from persistence.domain import CHANGES_PAGE_DEFAULT
from persistence.models import CHANGES_CHANNEL
from persistence.urls import DatabaseURL, direct_endpoint
from queries.changes import Cursor, PositionedPage, encode_cursor, positioned_changes
from queries.views import Change

logger = logging.getLogger("taskapi.live")

STREAMS_PER_USER = 10
# The listening connection: how often a quiet one is checked, and how long to wait between
# attempts to get it back (doubling from the first to the last).
LISTENER_PING_SECONDS = 15.0
LISTENER_PING_TIMEOUT_SECONDS = 5.0
LISTENER_BACKOFF_SECONDS = (0.5, 30.0)


class TooManyStreams(Exception):
    """The user already has `STREAMS_PER_USER` streams open on this instance."""


class Subscription:
    """One open stream's place in the hub: a flag that says "read the feed again"."""

    def __init__(self, hub: "ChangeHub", user_id: str) -> None:
        self.hub = hub
        self.user_id = user_id
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, seconds: float) -> None:
        """Until woken or closed, or for `seconds` at most."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), max(seconds, 0))
        # Cleared before the next read, so a change announced from now on wakes it again.
        self._woken.clear()

    @property
    def closed(self) -> bool:
        return self.hub.closing

    async def release(self) -> None:
        """Give the place back: when the stream ends, and when its response has been sent, for
        a stream that never started (a `HEAD`, a client gone at once) runs no `finally`."""
        self.hub.leave(self)


class ChangeHub:
    """This instance's open streams by user."""

    def __init__(self, streams_per_user: int = STREAMS_PER_USER) -> None:
        self.streams_per_user = streams_per_user
        self.closing = False
        # Weak, so that a stream whose response was dropped before it started frees its place.
        self._streams: dict[str, WeakSet[Subscription]] = {}

    def subscribe(self, user_id: str) -> Subscription:
        streams = self._streams.setdefault(user_id, WeakSet())
        if len(streams) >= self.streams_per_user:
            raise TooManyStreams
        subscription = Subscription(self, user_id)
        streams.add(subscription)
        return subscription

    def leave(self, subscription: Subscription) -> None:
        streams = self._streams.get(subscription.user_id)
        if streams is not None:
            streams.discard(subscription)
            if not streams:
                del self._streams[subscription.user_id]

    def notify(self, user_id: str) -> None:
        for subscription in list(self._streams.get(user_id, ())):
            subscription.wake()

    def wake_all(self) -> None:
        for streams in list(self._streams.values()):
            for subscription in list(streams):
                subscription.wake()

    def close(self) -> None:
        """End every stream: the server is stopping."""
        self.closing = True
        self.wake_all()


@dataclass
class LiveUpdates:
    """What a stream needs: where to read the feed, and whom to listen to."""

    engine: AsyncEngine  # the primary: a notified change is committed there already
    retention: timedelta
    heartbeat_seconds: float  # a quiet stream sends a comment line this often
    hub: ChangeHub = field(default_factory=ChangeHub)

    def open(
        self, user_id: str, since: Cursor | None, expires_at: float
    ) -> tuple[AsyncIterator[ServerSentEventMessage], Subscription]:
        """The user's stream from `since` (a full sync without it) until the token expires or
        the server stops, and its place among the user's streams. Raises `TooManyStreams` when
        the user has their share open."""
        subscription = self.hub.subscribe(user_id)
        return self._events(subscription, since, expires_at), subscription

    async def _events(
        self, subscription: Subscription, since: Cursor | None, expires_at: float
    ) -> AsyncIterator[ServerSentEventMessage]:
        cursor = since
        next_beat = time.monotonic() + self.heartbeat_seconds
        try:
            while not subscription.closed:
                page = await self._read(subscription.user_id, cursor)
                for change, position in page.changes:
                    yield _change_event(change, position)
                if page.changes:
                    next_beat = time.monotonic() + self.heartbeat_seconds
                cursor = page.cursor
                if page.has_more:
                    continue
                await subscription.wait(min(next_beat - time.monotonic(), expires_at - time.time()))
                if time.time() >= expires_at:
                    return
                if time.monotonic() >= next_beat:
                    yield ServerSentEventMessage(data=None, comment="keep-alive")
                    next_beat = time.monotonic() + self.heartbeat_seconds
        except (OSError, DBAPIError) as error:  # the client reconnects from its last event id
            logger.warning("change stream ended, database unavailable: %s", type(error).__name__)
        finally:
            await subscription.release()

    async def _read(self, user_id: str, cursor: Cursor | None) -> PositionedPage:
        async with AsyncSession(self.engine) as session:
            return await positioned_changes(
                session, user_id, cursor, CHANGES_PAGE_DEFAULT, self.retention
            )


def _change_event(change: Change, position: Cursor) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=msgspec.json.encode(change).decode(), event="change", id=encode_cursor(position)
    )


# --- the listening connection ------------------------------------------------------------------


async def listen_for_changes(primary: DatabaseURL, hub: ChangeHub) -> None:
    """Relay notifications to the hub for as long as the app runs, reconnecting with backoff."""
    if direct_endpoint(primary).transaction_pooler:
        logger.warning(
            "listening for changes through a transaction pooler, which may drop notifications: "
            "streams then catch up at each heartbeat"
        )
    engine = listening_engine(primary)
    first, last = LISTENER_BACKOFF_SECONDS
    backoff = first
    try:
        while True:
            try:
                async with engine.connect() as connection:
                    driver = (await connection.get_raw_connection()).driver_connection
                    await driver.add_listener(CHANGES_CHANNEL, _relay_to(hub))
                    hub.wake_all()  # what was committed while nobody listened
                    backoff = first
                    await _until_lost(driver)
            except Exception as error:  # whatever it was, listening must go on
                logger.warning(
                    "not listening for changes (%s); retrying in %.1f s",
                    type(error).__name__,
                    backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, last)
    finally:
        await engine.dispose()


def _relay_to(hub: ChangeHub) -> Any:
    def relay(_connection: object, _pid: int, _channel: str, user_id: str) -> None:
        hub.notify(user_id)

    return relay


async def _until_lost(driver: Any) -> None:
    """Returns when the connection closes; a link that died silently shows up in a ping."""
    lost = asyncio.Event()
    driver.add_termination_listener(lambda _: lost.set())
    while not lost.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), LISTENER_PING_SECONDS)
        if not lost.is_set():
            await driver.execute("SELECT 1", timeout=LISTENER_PING_TIMEOUT_SECONDS)


# --- stopping ----------------------------------------------------------------------------------


@contextmanager
def closing_on_signals(hub: ChangeHub) -> Iterator[None]:
    """End every stream when the server is told to stop.

    uvicorn waits for open responses to finish before it shuts the app down, and a stream never
    finishes by itself, so SIGTERM and SIGINT also close the hub; the handlers installed before
    (uvicorn's) still run. Signals reach only the main thread: elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    def handle(number: int, frame: Any) -> None:
        loop.call_soon_threadsafe(hub.close)
        before = previous[number]
        if callable(before):
            before(number, frame)
        elif before == signal.SIG_DFL:
            signal.signal(number, before)
            signal.raise_signal(number)

    for number in previous:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
