"""The Alembic revisions are the schema: they match the models and apply safely in parallel."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import SQLModel

from persistence.database import make_engine
from persistence.migrate import MIGRATION_LOCK_ID, alembic_config
from service.app import create_app
from service.settings import Settings
from tests.helpers import TASKAPI

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_revisions_and_models_agree(engine):
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), SQLModel.metadata
            )
        )
    assert diff == []


async def test_list_queries_have_matching_indexes(engine):
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'")
        )
        indexes = dict(rows.all())
    assert "(user_id, created_at DESC, id DESC)" in indexes["ix_tasks_user_created"]
    assert "(user_id, due_date)" in indexes["ix_tasks_user_due"]
    assert "USING gin (tags)" in indexes["ix_tasks_tags"]


UPGRADE = (
    "import asyncio, sys; from persistence.database import make_engine; "
    "from persistence.migrate import upgrade_to_head; "
    "asyncio.run(upgrade_to_head(make_engine(sys.argv[1])))"
)
WAITING_FOR_MIGRATION_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :id AND NOT granted"
)


async def test_an_upgrade_waits_for_the_migration_lock(empty_database):
    """Instances starting together take turns: an upgrade does nothing while another holds
    the lock, then finds the schema at head and carries on."""
    holder = make_engine(empty_database)
    async with holder.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        await connection.commit()
        racer = await asyncio.create_subprocess_exec(sys.executable, "-c", UPGRADE, empty_database)
        for _ in range(300):  # the racer queues up behind the lock within seconds
            waiting = await connection.scalar(WAITING_FOR_MIGRATION_LOCK, {"id": MIGRATION_LOCK_ID})
            await connection.commit()
            if waiting or racer.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert waiting == 1
        assert racer.returncode is None
        await connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        await connection.commit()
        assert await racer.wait() == 0
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    await holder.dispose()
    assert version == HEAD


@pytest.fixture
async def own_schema(database_url) -> AsyncIterator:
    """A connection whose tables live in a schema of their own, dropped afterwards."""
    schema = f"own_{uuid.uuid4().hex[:8]}"
    admin = make_engine(database_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'SET search_path TO "{schema}"'))
            yield connection
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def test_downgrade_to_base_and_back(own_schema):
    for target in ("head", "base", "head"):
        await own_schema.run_sync(lambda sync, target=target: _migrate(sync, target))
    await own_schema.commit()
    assert await own_schema.scalar(text("SELECT count(*) FROM tasks")) == 0


def _migrate(connection, target: str) -> None:
    migrate = command.upgrade if target == "head" else command.downgrade
    migrate(alembic_config(connection), target)


async def migrate(connection, step: str, revision: str) -> None:
    await connection.run_sync(lambda sync: getattr(command, step)(alembic_config(sync), revision))


INSERT_TASK = text(
    "INSERT INTO tasks (user_id, title, completed, priority, due_date, recurrence, created_at,"
    " updated_at, version) VALUES ('u', :title, false, 'medium', :due, :recurrence, now(),"
    " now(), 1)"
)
TASKS = text("SELECT title, time_zone, recurrence, series_start FROM tasks ORDER BY title")


async def test_time_zones_and_rules_keep_existing_tasks_as_they_were(own_schema):
    due = datetime(2026, 1, 31, 9, tzinfo=UTC)
    await migrate(own_schema, "upgrade", "0001")
    await own_schema.execute(INSERT_TASK, {"title": "rent", "due": due, "recurrence": "monthly"})
    await own_schema.execute(INSERT_TASK, {"title": "once", "due": None, "recurrence": "none"})
    await migrate(own_schema, "upgrade", "0003")

    rows = (await own_schema.execute(TASKS)).all()
    assert [tuple(row) for row in rows] == [
        ("once", "UTC", "none", None),
        ("rent", "UTC", "monthly", due),
    ]


async def test_downgrading_rules_leaves_the_presets_the_enum_knew(own_schema):
    await migrate(own_schema, "upgrade", "0003")
    for title, recurrence in [("a", "weekly"), ("b", "yearly"), ("c", "RRULE:FREQ=DAILY")]:
        await own_schema.execute(
            INSERT_TASK, {"title": title, "due": None, "recurrence": recurrence}
        )
    await migrate(own_schema, "downgrade", "0001")

    rows = await own_schema.execute(text("SELECT title, recurrence::text FROM tasks ORDER BY 1"))
    assert [tuple(row) for row in rows] == [("a", "weekly"), ("b", "none"), ("c", "none")]


def test_the_cli_applies_migrations_to_an_empty_database(empty_database):
    result = subprocess.run(
        [TASKAPI, "database", "upgrade", "--no-prompt"],
        env=os.environ | {"DATABASE_URL": empty_database, "JWT_SECRET": "cli-test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"-> {HEAD}" in result.stdout + result.stderr


async def test_auto_migrate_false_leaves_the_schema_to_a_deploy_step(empty_database):
    settings = Settings(database_url=empty_database, jwt_secret="s", auto_migrate=False)
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.get("/ready")).status_code == 200
    untouched = make_engine(empty_database)
    async with untouched.connect() as connection:
        tables = await connection.scalar(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        )
    await untouched.dispose()
    assert tables == 0


async def test_start_up_applies_pending_migrations(empty_database):
    settings = Settings(database_url=empty_database, jwt_secret="s")
    async with AsyncTestClient(create_app(settings)):
        pass
    migrated = make_engine(empty_database)
    async with migrated.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    await migrated.dispose()
    assert version == HEAD
