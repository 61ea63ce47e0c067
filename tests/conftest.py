"""Shared fixtures: one real PostgreSQL per test session, an app, and tokens.

Fixtures only: the functions and constants tests import by name are in `tests/helpers.py`.

`TEST_DATABASE_URL` picks the database (e.g. the machine's `postgresql://postgres@127.0.0.1/test`);
without it an embedded PostgreSQL is started under `.data/test-postgres`. The schema is rebuilt
from the Alembic revisions once per session. Tests isolate themselves by unique user ids
(HTTP tests) or by a rolled-back transaction (handler tests), so they run in any order.
"""

import os
from collections.abc import AsyncIterator, Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from persistence.announcements import GATHER_SECONDS
from persistence.database import listening_engine, make_engine
from persistence.migrate import upgrade_to_head
from persistence.models import CHANGES_CHANNEL
from persistence.urls import parse_database_url
from service.app import create_app
from service.embedded import start_postgres
from service.settings import Settings
from tests.helpers import PROJECT_ROOT, TEST_SECRET, Heard, bearer, other_user

pytest_plugins = ["tests.components"]  # PgBouncer, TLS and replicated PostgreSQL servers


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    return url or start_postgres(PROJECT_ROOT / ".data" / "test-postgres")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await upgrade_to_head(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
def user() -> str:
    """The test's own user: a fresh id no other test shares."""
    return other_user()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # A budget no test reaches by accident; the rate-limit tests set their own.
    return Settings(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        log_format="json",
        rate_limit=("minute", 1_000_000),
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, engine: AsyncEngine) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app) as client:
        yield client


@pytest.fixture
def headers(user: str) -> dict[str, str]:
    return bearer(user)


@pytest.fixture
def tasks_url(user: str) -> str:
    return f"/api/{user}/tasks"


@pytest.fixture
def create(client: AsyncTestClient, tasks_url: str, headers: dict[str, str]) -> Callable:
    """POST a task for the test's user and return the created task."""

    async def create(**fields: object) -> dict:
        response = await client.post(tasks_url, json={"title": "a task", **fields}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
async def heard(database_url: str, engine: AsyncEngine) -> AsyncIterator[Heard]:
    """What is notified on `CHANGES_CHANNEL` while the test runs, heard on a direct connection
    as an instance's listener hears it."""
    listening = listening_engine(parse_database_url(database_url))
    heard = Heard()
    async with listening.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.add_listener(CHANGES_CHANNEL, heard.receive)
        # What an earlier test's app still had to announce (it gathers for `GATHER_SECONDS`
        # after a write) is not this test's.
        await heard.all_within(GATHER_SECONDS * 4)
        yield heard
    await listening.dispose()
