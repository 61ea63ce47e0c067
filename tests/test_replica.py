"""READ_DATABASE_URL: queries read from a real streaming replica, commands never do, and reads
fall back to the primary while the replica is down."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from persistence.database import REPLICA_RETRY_SECONDS, make_engine
from service.app import create_app
from service.settings import Settings
from tests.components import ReplicatedPostgres
from tests.helpers import TEST_SECRET, bearer

CATCH_UP_SECONDS = 30


async def _scalar(url: str, statement: str, **params: object) -> object:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(text(statement), params)
    finally:
        await engine.dispose()


async def _pause_replay(replicated: ReplicatedPostgres) -> None:
    """Pause the replica's replay once it has replayed what the primary had written before: the
    schema the app's start-up migration has just created among it. Paused earlier, the replica
    would miss the tables, not only the test's rows."""
    written = await _scalar(replicated.primary.url(), "SELECT pg_current_wal_lsn()::text")

    async def replayed() -> bool:
        statement = "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:written AS text) AS pg_lsn)"
        return bool(await _scalar(replicated.replica.url(), statement, written=written))

    await _eventually(replayed)
    await _scalar(replicated.replica.url(), "SELECT pg_wal_replay_pause()")


async def _resume_replay(replicated: ReplicatedPostgres) -> None:
    await _scalar(replicated.replica.url(), "SELECT pg_wal_replay_resume()")


@pytest.fixture
async def client(replicated_postgres: ReplicatedPostgres, user) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        database_url=replicated_postgres.primary.url(),
        read_database_url=replicated_postgres.replica.url(),
        jwt_secret=TEST_SECRET,
    )
    async with AsyncTestClient(create_app(settings)) as client:
        client.headers.update(bearer(user))
        yield client


@pytest.fixture
async def replay_paused(replicated_postgres) -> AsyncIterator[None]:
    await _pause_replay(replicated_postgres)
    yield
    await _resume_replay(replicated_postgres)


async def _titles(client: AsyncTestClient) -> list[str]:
    response = await client.get("/api/me/tasks")
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["items"]]


async def _eventually(check, seconds: float = CATCH_UP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.2)


async def test_queries_read_from_the_replica_and_commands_from_the_primary(client, replay_paused):
    created = await client.post("/api/me/tasks", json={"title": "written"})
    assert created.status_code == 201  # the write, and the task it returns: the primary
    task_url = created.headers["location"]

    # Replay is paused: the replica has not seen the task yet, so the queries miss it.
    assert await _titles(client) == []
    assert (await client.get(task_url)).status_code == 404
    assert (await client.get("/api/me/tasks/stats")).json()["total"] == 0
    assert (await client.get("/api/me/changes")).json()["changes"] == []

    # Commands load the task from the primary, where it exists: If-Match sees each version.
    patched = await client.patch(task_url, json={"priority": "high"}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["priority"], patched.json()["version"]) == ("high", 2)
    stale = await client.patch(task_url, json={"priority": "low"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    completed = await client.patch(f"{task_url}/complete")
    assert completed.json()["completed"] is True


async def test_reads_catch_up_once_the_replica_replays(client, replicated_postgres):
    await _pause_replay(replicated_postgres)
    try:
        assert (await client.post("/api/me/tasks", json={"title": "later"})).status_code == 201
        assert await _titles(client) == []
    finally:
        await _resume_replay(replicated_postgres)

    async def listed() -> bool:
        return await _titles(client) == ["later"]

    await _eventually(listed)
    changes = (await client.get("/api/me/changes")).json()["changes"]
    assert [(change["op"], change["task"]["title"]) for change in changes] == [("upsert", "later")]


async def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    client, replicated_postgres
):
    assert (await client.post("/api/me/tasks", json={"title": "kept"})).status_code == 201
    assert (await client.get("/ready")).status_code == 200

    replicated_postgres.replica.stop()
    try:
        assert await _titles(client) == ["kept"]  # from the primary
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"]
        assert ready.json()["detail"] == "Unreachable: the read replica (READ_DATABASE_URL)"
    finally:
        replicated_postgres.replica.start()

    async def ready_again() -> bool:
        return (await client.get("/ready")).status_code == 200

    await _eventually(ready_again, REPLICA_RETRY_SECONDS + CATCH_UP_SECONDS)
