"""Admission: at most `MAX_REQUESTS_IN_PROGRESS` requests in progress per worker, the rest
waiting their turn in arrival order.

A worker is one event loop. Unbounded, every request that arrives starts at once, and each turn
of the loop runs a step of every one of them: under load a turn grows long, and a request that
needs a few turns waits through a few long ones, behind requests that came after it. Bounded,
the requests that got in are finished first, and the rest wait in line before any work is done
for them, so a request's time is its place in the line plus its own work.

A place is taken once the request's body has arrived (a slow client holds none while it sends)
and given back when the response starts (nor while it reads, and an event stream holds one only
until its headers are sent). A request that waits longer than `MAX_WAIT_SECONDS` is answered
503 with `Retry-After`, so that an overloaded worker sheds load instead of queueing without end.
"""

import asyncio
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import send_problem

MAX_WAIT_SECONDS = 5.0
BUSY_RETRY_AFTER_SECONDS = "1"
# Answered without a place: a liveness probe must not fail because the worker is busy.
_UNGATED_PATHS = frozenset({"/health"})


async def _body_first(receive: Receive, max_bytes: int) -> Receive:
    """Reads the request's body (up to just over `max_bytes`, which the app then refuses), and
    returns a `receive` that hands the app what was read, then whatever comes next."""
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body") or size > max_bytes:
            break
    read.reverse()

    async def replay() -> Message:
        return read.pop() if read else await receive()

    return replay


def admission(app: ASGIApp, max_in_progress: int, max_body_bytes: int) -> ASGIApp:
    places = asyncio.Semaphore(max_in_progress)  # first come, first served

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNGATED_PATHS:
            await app(scope, receive, send)
            return
        receive = await _body_first(receive, max_body_bytes)
        if not await _place_taken(places):
            await send_problem(
                send,
                503,
                "The service is too busy to take this request; retry shortly",
                headers={"Retry-After": BUSY_RETRY_AFTER_SECONDS},
            )
            return
        give_back = _once(places.release)

        async def send_giving_back(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            await app(scope, receive, send_giving_back)
        finally:
            give_back()

    return middleware


async def _place_taken(places: asyncio.Semaphore) -> bool:
    """Takes a place, waiting up to `MAX_WAIT_SECONDS` for one; False when none came free."""
    if not places.locked():  # the usual case costs no timer
        return await places.acquire()
    try:
        async with asyncio.timeout(MAX_WAIT_SECONDS):
            return await places.acquire()
    except TimeoutError:
        return False


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return run
