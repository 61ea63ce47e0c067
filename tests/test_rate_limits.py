"""Per-user request budgets: in process memory, or in Redis shared by every instance."""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
import redis
from litestar.testing import AsyncTestClient

from service.app import RATE_LIMIT_STORE, create_app
from service.settings import ConfigurationError, Settings
from tests.helpers import assert_problem, bearer, other_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def client_with(settings: Settings, **changes: object) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(replace(settings, **changes))) as client:
        yield client


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(
            f"Redis is not answering at {REDIS_URL}: these tests prove that instances share one "
            "budget through it. Start it (`redis-server --daemonize yes`, as .ci/run does) or "
            "point TEST_REDIS_URL at one."
        )
    return REDIS_URL


def assert_too_many(response) -> None:
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


async def test_over_the_budget_is_429_with_retry_after(settings):
    user = other_user()
    async with client_with(settings, rate_limit=("minute", 3)) as client:
        statuses = [
            (await client.get("/api/me/tasks", headers=bearer(user))).status_code for _ in range(3)
        ]
        refused = await client.get("/api/me/tasks", headers=bearer(user))
    assert statuses == [200, 200, 200]
    assert_too_many(refused)


async def test_budgets_are_per_user_not_per_address(settings):
    spender, bystander = other_user(), other_user()
    async with client_with(settings, rate_limit=("minute", 2)) as client:
        for _ in range(2):
            await client.get("/api/me/tasks", headers=bearer(spender))
        assert_too_many(await client.get("/api/me/tasks", headers=bearer(spender)))
        assert (await client.get("/api/me/tasks", headers=bearer(bystander))).status_code == 200


async def test_routes_without_a_token_are_counted_per_address(settings):
    async with client_with(settings, rate_limit=("minute", 2)) as client:
        assert [(await client.get("/health")).status_code for _ in range(2)] == [200, 200]
        assert_too_many(await client.get("/health"))


async def test_with_redis_every_instance_draws_on_one_budget(settings, redis_url):
    user = other_user()
    shared = {"rate_limit": ("minute", 4), "redis_url": redis_url}
    async with client_with(settings, **shared) as first, client_with(settings, **shared) as second:
        statuses = [
            (await instance.get("/api/me/tasks", headers=bearer(user))).status_code
            for instance in (first, second, first, second)
        ]
        assert statuses == [200] * 4
        assert_too_many(await first.get("/api/me/tasks", headers=bearer(user)))
        assert_too_many(await second.get("/api/me/tasks", headers=bearer(user)))


async def test_without_redis_each_instance_keeps_its_own_budget(settings):
    user = other_user()
    async with (
        client_with(settings, rate_limit=("minute", 1)) as first,
        client_with(settings, rate_limit=("minute", 1)) as second,
    ):
        assert (await first.get("/api/me/tasks", headers=bearer(user))).status_code == 200
        assert (await second.get("/api/me/tasks", headers=bearer(user))).status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [("300/minute", ("minute", 300)), (" 5 / Second ", ("second", 5)), ("10/day", ("day", 10))],
)
def test_rate_limit_is_read_from_the_environment(value, expected):
    assert Settings.from_env({"RATE_LIMIT": value}).rate_limit == expected


@pytest.mark.parametrize("value", ["300", "0/minute", "-1/minute", "5/fortnight", "many/minute"])
def test_a_rate_limit_that_cannot_work_refuses_to_start(value):
    with pytest.raises(ConfigurationError, match="RATE_LIMIT"):
        Settings.from_env({"RATE_LIMIT": value})


async def test_spent_budgets_are_dropped_from_memory_in_the_background(settings):
    """The memory store forgets an expired budget only when that client comes back; the
    housekeeping loop drops the others, so memory does not grow with every client ever seen."""
    app = create_app(replace(settings, rate_limit=("second", 5), housekeeping_seconds=0.05))
    budgets = app.stores.get(RATE_LIMIT_STORE)
    async with AsyncTestClient(app) as client:
        for user in [other_user() for _ in range(3)]:
            assert (await client.get("/api/me/tasks", headers=bearer(user))).status_code == 200
        assert len(budgets._store) >= 3  # the memory in question has no public measure
        for _ in range(60):
            await asyncio.sleep(0.05)
            if not budgets._store:
                break
        assert budgets._store == {}
