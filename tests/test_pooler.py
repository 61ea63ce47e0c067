"""Through PgBouncer in transaction mode (what Neon's `-pooler` hosts are): every request works,
and so do migrations and the announcement of changes."""

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from persistence.database import make_engine
from service.app import create_app
from service.settings import Settings
from tests.components import HEAD, PgBouncer, schema_revision
from tests.helpers import TASKAPI, TEST_SECRET, bearer, live_server

IN_FLIGHT = 40
READS_PER_USER = 5
COUNT = text("SELECT count(*) FROM tasks")


@pytest.fixture
async def pooled_client(pgbouncer: PgBouncer, engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real socket, so that its requests run side by side, as in production (the
    in-process test client takes them one at a time)."""
    settings = Settings(
        database_url=pgbouncer.url(engine.url.database),
        database_pooler="transaction",
        jwt_secret=TEST_SECRET,
        auto_migrate=False,
        rate_limit=("minute", 100_000),
    )
    with live_server(create_app(settings)) as url:
        limits = httpx.Limits(max_connections=IN_FLIGHT * 2)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            yield client


async def _task_lifecycle(client: httpx.AsyncClient) -> list[int]:
    """Create, read, list, update, complete and delete one task; the statuses on the way."""
    headers = bearer(uuid.uuid4().hex)
    created = await client.post("/api/me/tasks", json={"title": "pooled"}, headers=headers)
    url = created.headers["location"]
    responses = [
        created,
        await client.get(url, headers=headers),
        await client.get("/api/me/tasks", params={"q": "pooled"}, headers=headers),
        await client.patch(url, json={"priority": "high"}, headers=headers | {"If-Match": '"1"'}),
        await client.patch(f"{url}/complete", headers=headers),
        await client.get("/api/me/tasks/stats", headers=headers),
        await client.delete(url, headers=headers),
    ]
    return [response.status_code for response in responses]


async def test_every_request_works_through_a_transaction_pooler(pooled_client):
    flows = await asyncio.gather(*(_task_lifecycle(pooled_client) for _ in range(IN_FLIGHT)))
    assert flows == [[201, 200, 200, 200, 200, 200, 204]] * IN_FLIGHT


async def test_without_the_pooler_setting_statements_collide(pgbouncer, engine):
    """The control: asyncpg prepares a statement once per client connection and runs it again
    by name, so unless told, a client whose next transaction lands on another server
    connection names a statement that is not there. PgBouncer hands out the server connection
    it got back last; another client holding it sends the first client to another."""
    first, second = (make_engine(pgbouncer.url(engine.url.database)) for _ in range(2))
    try:
        async with first.connect() as mine, second.connect() as theirs:
            await mine.execute(COUNT)  # prepared on a server connection
            await mine.commit()  # which goes back to PgBouncer
            await theirs.execute(COUNT)  # and is handed to the other client, in a transaction
            with pytest.raises(DBAPIError, match="prepared statement"):
                await mine.execute(COUNT)  # so this one lands on another
    finally:
        await first.dispose()
        await second.dispose()


def test_migrations_run_through_a_transaction_pooler(pgbouncer, empty_database):
    database = make_url(empty_database).database
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": pgbouncer.url(database),
        "DATABASE_POOLER": "transaction",
    }
    result = subprocess.run(
        [TASKAPI, "database", "upgrade"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert asyncio.run(schema_revision(empty_database)) == HEAD


async def _reads(client: httpx.AsyncClient) -> list[int]:
    headers = bearer(uuid.uuid4().hex)
    created = await client.post("/api/me/tasks", json={"title": "read"}, headers=headers)
    url = created.headers["location"]
    reads = [client.get(url, headers=headers) for _ in range(READS_PER_USER)]
    reads += [client.get("/api/me/tasks", headers=headers) for _ in range(READS_PER_USER)]
    return [response.status_code for response in await asyncio.gather(*reads)]


async def test_concurrent_reads_work_through_a_transaction_pooler(pooled_client):
    """Reads outside a transaction would prepare a statement on one server connection and run
    it on whichever the pooler hands out next."""
    users = await asyncio.gather(*(_reads(pooled_client) for _ in range(IN_FLIGHT)))
    assert users == [[200] * READS_PER_USER * 2] * IN_FLIGHT


async def test_writes_through_a_transaction_pooler_are_announced(pooled_client, heard):
    """The announcement goes out on a pooled connection, in a transaction of its own."""
    user = uuid.uuid4().hex
    created = await pooled_client.post("/api/me/tasks", json={"title": "t"}, headers=bearer(user))
    assert created.status_code == 201
    assert await heard.next() == user
    edited = await pooled_client.patch(
        created.headers["location"], json={"title": "u"}, headers=bearer(user)
    )
    assert edited.status_code == 200
    assert await heard.next() == user
