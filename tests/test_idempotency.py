"""Idempotency-Key: a retried create gets the first answer and creates nothing."""

import asyncio
import hashlib
import uuid
from datetime import timedelta

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.idempotency import claim_key, purge_expired_keys
from commands.messages import CreateTask
from persistence.domain import IDEMPOTENCY_KEY_TTL, IdempotencyKeyReused, utcnow
from persistence.models import IdempotencyKey, Task
from tests.helpers import (
    api_process,
    assert_problem,
    bearer,
    count_after_housekeeping,
    error_fields,
    other_user,
    run_sql,
)


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


async def task_count(client, tasks_url, headers) -> int:
    return (await client.get(tasks_url, headers=headers)).json()["total"]


# --- over HTTP ---------------------------------------------------------------------------------


async def test_a_replay_returns_the_same_201_and_creates_nothing(client, tasks_url, headers):
    body = {"title": "Pay rent", "tags": ["home"]}
    first = await client.post(tasks_url, json=body, headers=keyed(headers, "k-1"))
    await client.patch(f"{tasks_url}/{first.json()['id']}", json={"title": "x"}, headers=headers)
    again = await client.post(tasks_url, json=body, headers=keyed(headers, "k-1"))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content  # the first answer, not the task as it is now
    for header in ("location", "etag"):
        assert again.headers[header] == first.headers[header]
    assert await task_count(client, tasks_url, headers) == 1


async def test_the_same_key_with_another_body_is_422_naming_the_header(client, tasks_url, headers):
    await client.post(tasks_url, json={"title": "a"}, headers=keyed(headers, "k-2"))
    response = await client.post(tasks_url, json={"title": "b"}, headers=keyed(headers, "k-2"))
    assert error_fields(response) == ["Idempotency-Key"]
    assert await task_count(client, tasks_url, headers) == 1


async def test_bodies_that_mean_the_same_are_the_same_request(client, tasks_url, headers):
    first = await client.post(
        tasks_url, json={"title": "a", "tags": ["X"]}, headers=keyed(headers, "k-3")
    )
    again = await client.post(
        tasks_url, json={"tags": ["x"], "title": " a "}, headers=keyed(headers, "k-3")
    )
    assert again.content == first.content


async def test_keys_are_scoped_per_user(client, tasks_url, headers):
    stranger = other_user()
    mine = await client.post(tasks_url, json={"title": "a"}, headers=keyed(headers, "shared"))
    theirs = await client.post(
        f"/api/{stranger}/tasks", json={"title": "a"}, headers=keyed(bearer(stranger), "shared")
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["user_id"] == stranger


@pytest.mark.parametrize("key", [b"x" * 256, b"has space", b"tab\there", "é".encode()])
async def test_a_malformed_key_is_422(key, client, tasks_url, headers):
    response = await client.post(
        tasks_url, json={"title": "a"}, headers=headers | {"Idempotency-Key": key}
    )
    assert error_fields(response) == ["Idempotency-Key"]
    assert await task_count(client, tasks_url, headers) == 0


async def test_a_key_older_than_a_day_starts_over(client, engine, tasks_url, headers, user):
    first = await client.post(tasks_url, json={"title": "a"}, headers=keyed(headers, "old"))
    await run_sql(
        engine,
        "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' "
        "WHERE user_id = :user",
        user=user,
    )
    again = await client.post(tasks_url, json={"title": "a"}, headers=keyed(headers, "old"))
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


async def test_a_retry_while_the_first_is_still_in_flight_is_a_409(client, engine, user, headers):
    """The first request's transaction holds the key, uncommitted: a retry waits for it a
    bounded time, then is told to retry, and creates nothing."""
    body = {"title": "slow"}
    request_hash = hashlib.sha256(msgspec.json.encode(CreateTask(**body))).digest()
    async with AsyncSession(engine) as first, first.begin():
        assert await claim_key(first, user, "busy", request_hash) is None
        response = await client.post(
            f"/api/{user}/tasks", json=body, headers=keyed(headers, "busy")
        )
    assert_problem(response, 409)
    assert response.headers["retry-after"]


# --- handlers ----------------------------------------------------------------------------------


async def test_claim_returns_nothing_to_the_first_and_refuses_another_body(session, user):
    digest = hashlib.sha256(b"one").digest()
    assert await claim_key(session, user, "k", digest) is None
    with pytest.raises(IdempotencyKeyReused):
        await claim_key(session, user, "k", hashlib.sha256(b"two").digest())


async def test_purge_forgets_only_expired_keys(session, user):
    now = utcnow()
    session.add_all(
        [
            IdempotencyKey(user_id=user, key="fresh", request_hash=b"h", created_at=now),
            IdempotencyKey(
                user_id=user,
                key="stale",
                request_hash=b"h",
                created_at=now - IDEMPOTENCY_KEY_TTL - timedelta(seconds=1),
            ),
        ]
    )
    await session.flush()
    await purge_expired_keys(session, now)
    kept = await session.scalars(select(IdempotencyKey.key).where(IdempotencyKey.user_id == user))
    assert list(kept) == ["fresh"]


async def test_expired_keys_are_purged_in_the_background(settings, engine):
    user = other_user()
    await run_sql(
        engine,
        "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) "
        "VALUES (:user, 'stale', 'h', now() - interval '2 days')",
        user=user,
    )
    remaining = (
        select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.user_id == user)
    )
    assert await count_after_housekeeping(settings, engine, remaining) == 0


# --- two server processes on one database ------------------------------------------------------


async def test_identical_creates_racing_through_two_processes_make_one_task(database_url, engine):
    user = other_user()
    body = {"title": f"once {uuid.uuid4().hex}"}
    headers = bearer(user) | {"Idempotency-Key": "race"}
    with api_process(database_url) as first, api_process(database_url) as second:
        async with httpx.AsyncClient(timeout=30) as http:
            responses = await asyncio.gather(
                *(
                    http.post(f"{base}/api/me/tasks", json=body, headers=headers)
                    for base in [first.url, second.url] * 6
                )
            )
    created = [response for response in responses if response.status_code == 201]
    assert {response.status_code for response in responses} <= {201, 409}
    assert created
    assert len({response.content for response in created}) == 1
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(Task).where(Task.user_id == user)
        )
    assert count == 1
