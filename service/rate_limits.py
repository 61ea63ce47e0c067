"""Per-client request budgets (`RATE_LIMIT`): the first request of a client opens a window of
the configured length, in which the budget's count of requests fit; the next one is a 429 that
says when the window closes. Counted in process memory, or in Redis, where every instance
draws on one budget per client and a request costs one atomic round trip.

Litestar's rate limiter is not used: it kept every request's timestamp in the window, decoded
and encoded again on each request, and held one lock per worker across its read and write of
the store, so with Redis a worker's requests went through it one at a time and two instances
could still both spend the last request of a budget.
"""

import time
from collections.abc import Callable
from math import ceil
from typing import NamedTuple, Protocol

from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import Settings

SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
BUDGETS_STATE_KEY = "rate_limit_budgets"
_REDIS_PREFIX = "taskapi:budget:"


class Window(NamedTuple):
    spent: int  # requests counted in the window, this one included
    closes_in: int  # whole seconds, at least 1


class Budgets(Protocol):
    async def spend(self, client: str) -> Window: ...

    def forget_closed(self) -> None: ...

    async def close(self) -> None: ...


class MemoryBudgets:
    """One worker's windows. No lock: nothing awaits between reading and writing a window."""

    def __init__(self, window_seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client: (closes at, spent)

    async def spend(self, client: str) -> Window:
        now = self._clock()
        closes_at, spent = self._windows.get(client, (0.0, 0))
        if closes_at <= now:
            closes_at, spent = now + self._seconds, 0
        self._windows[client] = (closes_at, spent + 1)
        return Window(spent + 1, max(ceil(closes_at - now), 1))

    def forget_closed(self) -> None:
        """Drop the windows that have closed: every client ever seen would otherwise keep one."""
        now = self._clock()
        self._windows = {c: w for c, w in self._windows.items() if w[0] > now}

    def __len__(self) -> int:
        return len(self._windows)

    async def close(self) -> None:
        return None


# Count the request and open the window on the first one, in one step: no other instance's
# request comes in between.
_SPEND = """
local spent = redis.call('INCR', KEYS[1])
if spent == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {spent, redis.call('TTL', KEYS[1])}
"""


class RedisBudgets:
    """Windows in Redis, shared by every instance; Redis expires them itself."""

    def __init__(self, url: str, window_seconds: int) -> None:
        from redis.asyncio import Redis  # see `errors.problem_details`: only when configured

        self._seconds = window_seconds
        self._redis = Redis.from_url(url)
        self._spend = self._redis.register_script(_SPEND)

    async def spend(self, client: str) -> Window:
        spent, ttl = await self._spend(keys=[_REDIS_PREFIX + client], args=[self._seconds])
        return Window(int(spent), max(int(ttl), 1))

    def forget_closed(self) -> None:
        return None

    async def close(self) -> None:
        await self._redis.aclose()


def budgets_for(settings: Settings) -> Budgets:
    unit, _ = settings.rate_limit
    if settings.redis_url is None:
        return MemoryBudgets(SECONDS[unit])
    return RedisBudgets(settings.redis_url, SECONDS[unit])


def _client(scope: Scope) -> str:
    """Budgets are per user on authenticated routes, per client address elsewhere."""
    if user := scope.get("user"):
        return f"user:{user}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def rate_limit(settings: Settings, budgets: Budgets) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware that spends a request of the client's budget, refuses it when the budget is
    spent, and says on every response what is left (the IETF draft's `RateLimit-*` headers)."""
    unit, limit = settings.rate_limit
    policy = (b"ratelimit-policy", f"{limit}; w={SECONDS[unit]}".encode())
    limit_header = (b"ratelimit-limit", str(limit).encode())

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            window = await budgets.spend(_client(scope))
            left = [
                policy,
                limit_header,
                (b"ratelimit-remaining", str(max(limit - window.spent, 0)).encode()),
                (b"ratelimit-reset", str(window.closes_in).encode()),
            ]
            if window.spent > limit:
                headers = {name.decode(): value.decode() for name, value in left}
                raise TooManyRequestsException(
                    headers=headers | {"Retry-After": str(window.closes_in)}
                )

            async def send_with_budget(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *left]
                await send(message)

            await app(scope, receive, send_with_budget)

        return limited

    return middleware
