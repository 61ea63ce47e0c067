"""A write is acknowledged only once it has committed: a commit that fails is an error response,
never a 2xx for a change that was rolled back."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.helpers import assert_problem, run_sql

REFUSED = "refused at commit"


# What a deferred constraint trigger, run only at COMMIT, does to tasks titled `REFUSED`, and
# the status that answers it: a refusal, or the connection ending as a network or a suspending
# compute would end it. Either way every statement before the commit succeeded.
AT_COMMIT = {
    "refused": ("RAISE EXCEPTION 'refused at commit'", 500),
    "connection lost": ("PERFORM pg_terminate_backend(pg_backend_pid())", 503),
}


@pytest.fixture(params=AT_COMMIT.values(), ids=AT_COMMIT.keys())
async def failing_commit(request, engine) -> AsyncIterator[int]:
    """Installs the trigger; yields the status a write it fails must get."""
    action, status = request.param
    async with _at_commit(engine, action):
        yield status


@pytest.fixture
async def refused_at_commit(engine) -> AsyncIterator[None]:
    async with _at_commit(engine, AT_COMMIT["refused"][0]):
        yield


@asynccontextmanager
async def _at_commit(engine, action: str) -> AsyncIterator[None]:
    await run_sql(
        engine,
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {action}; RETURN NULL; END $$",
    )
    await run_sql(
        engine,
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON tasks "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"WHEN (NEW.title = '{REFUSED}') EXECUTE FUNCTION refuse_at_commit()",
    )
    try:
        yield
    finally:
        await run_sql(engine, "DROP TRIGGER refuse_at_commit ON tasks")
        await run_sql(engine, "DROP FUNCTION refuse_at_commit()")


async def test_an_edit_whose_commit_fails_is_an_error_and_changes_nothing(
    client, create, tasks_url, headers, failing_commit
):
    task = await create(title="before")

    response = await client.patch(
        f"{tasks_url}/{task['id']}", json={"title": REFUSED}, headers=headers
    )

    assert_problem(response, failing_commit)
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


async def test_an_idempotent_create_whose_commit_fails_keeps_neither_task_nor_key(
    client, tasks_url, headers, refused_at_commit
):
    keyed = headers | {"Idempotency-Key": "commit-fails"}

    response = await client.post(tasks_url, json={"title": REFUSED}, headers=keyed)

    assert_problem(response, 500)
    assert (await client.get(tasks_url, headers=headers)).json()["total"] == 0
    retried = await client.post(tasks_url, json={"title": "fine"}, headers=keyed)
    assert retried.status_code == 201  # the key was never taken: a new body is welcome
