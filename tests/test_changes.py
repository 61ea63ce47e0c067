"""The change feed: every change after a cursor, once, in order; never a skipped one."""

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commands.handlers import create_task, patch_task, set_completion
from commands.messages import CreateTask, PatchTask, SetCompletion
from persistence.domain import CursorExpired
from queries.changes import Cursor, changes_since, decode_cursor, encode_cursor
from tests.helpers import assert_problem, bearer, error_fields, other_user

RETENTION = timedelta(days=30)


@pytest.fixture
def changes_url(user: str) -> str:
    return f"/api/{user}/changes"


async def feed(client, url, headers, **params) -> dict:
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ops(page: dict) -> list[tuple[str, int]]:
    return [(change["op"], change["id"]) for change in page["changes"]]


# --- over HTTP ---------------------------------------------------------------------------------


async def test_a_full_sync_is_every_current_task_and_a_cursor(
    client, tasks_url, changes_url, headers, create
):
    first, second, trashed = [await create(title=t) for t in ("a", "b", "c")]
    await client.delete(f"{tasks_url}/{trashed['id']}", headers=headers)
    page = await feed(client, changes_url, headers)
    assert page["changes"] == [
        {"op": "upsert", "id": first["id"], "task": first},
        {"op": "upsert", "id": second["id"], "task": second},
    ]
    assert page["has_more"] is False
    assert page["cursor"]


async def test_after_a_cursor_each_changed_task_comes_once_in_its_latest_state(
    client, tasks_url, changes_url, headers, create
):
    untouched, edited, deleted = [await create(title=t) for t in ("a", "b", "c")]
    cursor = (await feed(client, changes_url, headers))["cursor"]
    for title in ("b1", "b2"):
        await client.patch(f"{tasks_url}/{edited['id']}", json={"title": title}, headers=headers)
    await client.delete(f"{tasks_url}/{deleted['id']}", headers=headers)
    created = await create(title="d")

    page = await feed(client, changes_url, headers, since=cursor)

    latest = (await client.get(f"{tasks_url}/{edited['id']}", headers=headers)).json()
    assert page["changes"] == [
        {"op": "upsert", "id": edited["id"], "task": latest},
        {"op": "delete", "id": deleted["id"]},
        {"op": "upsert", "id": created["id"], "task": created},
    ]
    assert untouched["id"] not in [change["id"] for change in page["changes"]]
    again = await feed(client, changes_url, headers, since=page["cursor"])
    assert again["changes"] == []


async def test_restores_are_upserts_and_purges_stay_deletes(
    client, tasks_url, changes_url, headers, create
):
    restored, purged = await create(title="r"), await create(title="p")
    cursor = (await feed(client, changes_url, headers))["cursor"]
    for task in (restored, purged):
        await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    await client.post(f"/api/me/trash/{restored['id']}/restore", headers=headers)
    await client.delete(f"/api/me/trash/{purged['id']}", headers=headers)
    page = await feed(client, changes_url, headers, since=cursor)
    assert ops(page) == [("delete", purged["id"]), ("upsert", restored["id"])]


async def test_pages_follow_the_cursor_until_has_more_is_false(
    client, changes_url, headers, create
):
    tasks = [await create(title=f"t{n}") for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"since": cursor} if cursor else {})
        page = await feed(client, changes_url, headers, **params)
        seen += [change["id"] for change in page["changes"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["has_more"]:
            break
    assert seen == [task["id"] for task in tasks]
    assert pages == 3


async def test_the_feed_never_shows_another_users_tasks(client, changes_url, headers, create):
    mine = await create(title="mine")
    stranger = other_user()
    cursor = (await feed(client, changes_url, headers))["cursor"]
    theirs = await feed(client, f"/api/{stranger}/changes", bearer(stranger), since=cursor)
    assert mine["id"] not in [change["id"] for change in theirs["changes"]]
    assert_problem(await client.get(f"/api/{stranger}/changes", headers=headers), 403)


@pytest.mark.parametrize("since", ["nonsense", "", "%%%", encode_cursor(Cursor(-1, 0, 0))[:-2]])
async def test_a_malformed_cursor_is_422_naming_since(since, client, changes_url, headers):
    response = await client.get(changes_url, params={"since": since}, headers=headers)
    assert error_fields(response) == ["since"]


async def test_a_cursor_older_than_the_retention_window_is_410(client, changes_url, headers):
    old = encode_cursor(Cursor(1, 1, int(time.time() - RETENTION.total_seconds() - 60)))
    response = await client.get(changes_url, params={"since": old}, headers=headers)
    body = assert_problem(response, 410)
    assert "without `since`" in body["detail"]


@pytest.mark.parametrize("limit", [0, 501, "x"])
async def test_a_bad_limit_is_422(limit, client, changes_url, headers):
    assert_problem(await client.get(changes_url, params={"limit": limit}, headers=headers), 422)


# --- handlers ------------------------------------------------------------------------------------


def test_cursors_round_trip_and_reveal_nothing_but_a_position():
    cursor = Cursor(12, 34, 1_700_000_000)
    assert decode_cursor(encode_cursor(cursor)) == cursor


async def test_the_feed_reports_an_expired_cursor(session, user):
    with pytest.raises(CursorExpired):
        await changes_since(
            session, user, Cursor(0, 0, 0), 10, RETENTION, now=2 * RETENTION.total_seconds()
        )


async def _waiting_for_a_lock(engine, pid: int) -> bool:
    async with engine.connect() as connection:
        wait = await connection.scalar(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
    return wait == "Lock"


async def test_a_later_write_cannot_commit_before_an_earlier_one_so_none_is_skipped(engine):
    """Two writers of one user: the second cannot take its change number, let alone commit,
    until the first commits. A reader between the commits sees the first change, and its
    cursor then still leads to the second."""
    user = other_user()
    async with AsyncSession(engine, expire_on_commit=False) as setup:
        task = await create_task(setup, user, CreateTask(title="t"))
        await setup.commit()
        start = await changes_since(setup, user, None, 100, RETENTION)

    first = AsyncSession(engine, expire_on_commit=False)
    second = AsyncSession(engine, expire_on_commit=False)
    reader = AsyncSession(engine)
    try:
        await patch_task(first, user, task.id, PatchTask(description="first"))
        second_pid = await second.scalar(text("SELECT pg_backend_pid()"))
        later = asyncio.create_task(create_task(second, user, CreateTask(title="second")))
        for _ in range(100):  # the second writer queues behind the first one's counter lock
            if await _waiting_for_a_lock(engine, second_pid):
                break
            await asyncio.sleep(0.05)
        assert await _waiting_for_a_lock(engine, second_pid)
        assert not later.done()

        before = await changes_since(reader, user, decode_cursor(start.cursor), 100, RETENTION)
        assert before.changes == []

        await first.commit()
        created = await asyncio.wait_for(later, timeout=10)
        between = await changes_since(reader, user, decode_cursor(start.cursor), 100, RETENTION)
        assert [change.id for change in between.changes] == [task.id]

        await second.commit()
        after = await changes_since(reader, user, decode_cursor(between.cursor), 100, RETENTION)
        assert [change.id for change in after.changes] == [created.id]
    finally:
        for session in (first, second, reader):
            await session.close()


async def test_a_completion_waits_for_the_task_before_taking_a_change_number(engine):
    """The one-statement completion locks the task before its owner's change counter, as every
    other write does. Were it the other way round, a completion waiting for a task another
    writer holds would block every other write of that user (and deadlock with the holder)."""
    user = other_user()
    async with AsyncSession(engine, expire_on_commit=False) as setup:
        task = await create_task(setup, user, CreateTask(title="t"))
        await setup.commit()

    holder = AsyncSession(engine, expire_on_commit=False)
    completer = AsyncSession(engine, expire_on_commit=False)
    other_writer = AsyncSession(engine, expire_on_commit=False)
    try:
        lock = text("SELECT id FROM tasks WHERE id = :id FOR UPDATE")
        await holder.execute(lock, {"id": task.id})
        completer_pid = await completer.scalar(text("SELECT pg_backend_pid()"))
        completing = asyncio.create_task(set_completion(completer, user, task.id, SetCompletion()))
        for _ in range(100):
            if await _waiting_for_a_lock(engine, completer_pid):
                break
            await asyncio.sleep(0.05)
        assert await _waiting_for_a_lock(engine, completer_pid)

        created = create_task(other_writer, user, CreateTask(title="meanwhile"))
        await asyncio.wait_for(created, timeout=5)  # the counter is free
        await other_writer.commit()

        edited = await patch_task(holder, user, task.id, PatchTask(description="first"))
        await holder.commit()
        completed = await asyncio.wait_for(completing, timeout=10)
        await completer.commit()
        assert (edited.version, completed.version, completed.completed) == (2, 3, True)
        assert completed.change_seq > edited.change_seq
    finally:
        for session in (holder, completer, other_writer):
            await session.close()
