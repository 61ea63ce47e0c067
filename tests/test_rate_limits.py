"""Per-user request budgets: in process memory, or in Redis shared by every instance."""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
import redis
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.rate_limits import BUDGETS_STATE_KEY
from service.settings import ConfigurationError, Settings
from tests.helpers import assert_problem, bearer, free_port, live_server, other_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUDGET = 20


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


async def test_every_response_says_what_is_left_of_the_budget(settings):
    user = other_user()
    async with client_with(settings, rate_limit=("minute", 2)) as client:
        responses = [await client.get("/api/me/tasks", headers=bearer(user)) for _ in range(3)]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["1", "0", "0"]
    for response in responses:
        assert response.headers["ratelimit-limit"] == "2"
        assert response.headers["ratelimit-policy"] == "2; w=60"
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert_too_many(responses[-1])
    assert 1 <= int(responses[-1].headers["retry-after"]) <= 60


async def test_a_spent_budget_is_whole_again_when_its_window_closes(settings):
    user = other_user()
    async with client_with(settings, rate_limit=("second", 1)) as client:
        assert (await client.get("/api/me/tasks", headers=bearer(user))).status_code == 200
        refused = await client.get("/api/me/tasks", headers=bearer(user))
        assert_too_many(refused)
        await asyncio.sleep(int(refused.headers["retry-after"]) + 0.1)
        assert (await client.get("/api/me/tasks", headers=bearer(user))).status_code == 200


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


async def test_with_redis_instances_racing_spend_the_budget_exactly(settings, redis_url):
    """Counting is one atomic step in Redis: requests arriving at two instances at once cannot
    both take the last request of a budget. On real sockets, for requests side by side."""
    user = other_user()
    shared = replace(settings, rate_limit=("minute", BUDGET), redis_url=redis_url)
    with live_server(create_app(shared)) as first, live_server(create_app(shared)) as second:
        limits = httpx.Limits(max_connections=BUDGET * 2)
        async with httpx.AsyncClient(limits=limits, timeout=30, headers=bearer(user)) as http:
            requests = [
                http.get(f"{instance}/api/me/tasks")
                for _ in range(BUDGET)
                for instance in (first, second)
            ]
            statuses = [response.status_code for response in await asyncio.gather(*requests)]
    assert sorted(statuses) == [200] * BUDGET + [429] * BUDGET


async def test_while_redis_is_unreachable_requests_are_503_with_retry_after(settings):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with client_with(settings, redis_url=nowhere) as client:
        response = await client.get("/api/me/tasks", headers=bearer(other_user()))
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1


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
    """Every client ever seen leaves a window behind; the housekeeping loop drops the closed
    ones, so memory does not grow with them."""
    app = create_app(replace(settings, rate_limit=("second", 5), housekeeping_seconds=0.05))
    budgets = app.state[BUDGETS_STATE_KEY]
    async with AsyncTestClient(app) as client:
        for user in [other_user() for _ in range(3)]:
            assert (await client.get("/api/me/tasks", headers=bearer(user))).status_code == 200
        assert len(budgets) >= 3
        for _ in range(60):
            await asyncio.sleep(0.05)
            if not len(budgets):
                break
        assert len(budgets) == 0
