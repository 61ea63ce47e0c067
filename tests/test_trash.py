"""The trash: a deleted task is gone from the task routes but restorable, until purged."""

import pytest
from sqlalchemy import func, select, text, update

from commands.handlers import create_task, delete_task, empty_trash, purge_expired, restore_task
from commands.messages import CreateTask
from persistence.domain import TaskNotFound, utcnow
from persistence.models import Task, TaskTombstone
from queries.handlers import get_task, list_trash, task_stats
from tests.helpers import (
    assert_problem,
    bearer,
    count_after_housekeeping,
    other_user,
    run_sql,
    stats_body,
)


@pytest.fixture
def trash_url(user: str) -> str:
    return f"/api/{user}/trash"


async def trash_ids(client, trash_url, headers) -> list[int]:
    response = await client.get(trash_url, headers=headers)
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["items"]]


# --- over HTTP ---------------------------------------------------------------------------------


async def test_a_deleted_task_leaves_every_task_route_but_waits_in_the_trash(
    client, tasks_url, trash_url, headers, create
):
    task = await create(title="undo me", priority="high")
    url = f"{tasks_url}/{task['id']}"
    assert (await client.delete(url, headers=headers)).status_code == 204

    assert_problem(await client.get(url, headers=headers), 404)
    assert_problem(await client.patch(url, json={"title": "x"}, headers=headers), 404)
    assert_problem(await client.delete(url, headers=headers), 404)
    assert (await client.get(tasks_url, headers=headers)).json()["total"] == 0
    assert (await client.get(f"{tasks_url}/stats", headers=headers)).json() == stats_body()
    trashed = (await client.get(trash_url, headers=headers)).json()
    assert trashed["total"] == 1
    assert trashed["items"][0] == task | {"deleted_at": trashed["items"][0]["deleted_at"]}
    assert trashed["items"][0]["deleted_at"]


async def test_restore_brings_the_task_back_as_it_was_with_the_next_version(
    client, tasks_url, trash_url, headers, create
):
    task = await create(title="undo me", tags=["a"], description="kept")
    await client.delete(f"{tasks_url}/{task['id']}", headers=headers)

    restored = await client.post(f"{trash_url}/{task['id']}/restore", headers=headers)

    assert restored.status_code == 200, restored.text
    assert restored.json() == task | {"version": task["version"] + 1}
    assert restored.headers["etag"] == f'"{task["version"] + 1}"'
    again = await client.get(f"{tasks_url}/{task['id']}", headers=headers)
    assert again.json() == restored.json()
    assert await trash_ids(client, trash_url, headers) == []


async def test_restore_honours_if_match(client, tasks_url, trash_url, headers, create):
    task = await create(title="t")
    await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    url = f"{trash_url}/{task['id']}/restore"
    assert_problem(await client.post(url, headers=headers | {"If-Match": '"9"'}), 412)
    assert await trash_ids(client, trash_url, headers) == [task["id"]]
    assert (await client.post(url, headers=headers | {"If-Match": '"1"'})).status_code == 200


async def test_delete_honours_if_match(client, tasks_url, headers, create):
    task = await create(title="t")
    url = f"{tasks_url}/{task['id']}"
    assert_problem(await client.delete(url, headers=headers | {"If-Match": '"2"'}), 412)
    assert (await client.get(url, headers=headers)).status_code == 200


async def test_only_tasks_in_the_trash_can_be_restored_or_purged(
    client, trash_url, headers, create
):
    live = await create(title="alive")
    assert_problem(await client.post(f"{trash_url}/{live['id']}/restore", headers=headers), 404)
    assert_problem(await client.delete(f"{trash_url}/{live['id']}", headers=headers), 404)


async def test_another_users_trash_is_out_of_reach(client, tasks_url, headers, create):
    task = await create(title="mine")
    await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    stranger = other_user()
    theirs = f"/api/{stranger}/trash"
    assert (await client.get(theirs, headers=bearer(stranger))).json()["items"] == []
    for method, suffix in [("POST", "/restore"), ("DELETE", "")]:
        response = await client.request(
            method, f"{theirs}/{task['id']}{suffix}", headers=bearer(stranger)
        )
        assert_problem(response, 404)
    assert_problem(await client.get(f"/api/{stranger}/trash", headers=headers), 403)


async def test_purging_one_deletes_it_for_good(client, tasks_url, trash_url, headers, create):
    kept, purged = await create(title="kept"), await create(title="purged")
    for task in (kept, purged):
        await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    assert (await client.delete(f"{trash_url}/{purged['id']}", headers=headers)).status_code == 204
    assert await trash_ids(client, trash_url, headers) == [kept["id"]]
    assert_problem(await client.post(f"{trash_url}/{purged['id']}/restore", headers=headers), 404)


async def test_emptying_the_trash_leaves_live_tasks_alone(
    client, tasks_url, trash_url, headers, create
):
    live = await create(title="live")
    for title in ("a", "b"):
        task = await create(title=title)
        await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    assert (await client.delete(trash_url, headers=headers)).status_code == 204
    assert await trash_ids(client, trash_url, headers) == []
    assert [t["id"] for t in (await client.get(tasks_url, headers=headers)).json()["items"]] == [
        live["id"]
    ]


async def test_the_trash_pages_newest_deletion_first(client, tasks_url, trash_url, headers, create):
    tasks = [await create(title=f"t{n}") for n in range(5)]
    for task in tasks:
        await client.delete(f"{tasks_url}/{task['id']}", headers=headers)
    newest_first = [task["id"] for task in reversed(tasks)]
    first = (await client.get(trash_url, params={"limit": 2}, headers=headers)).json()
    rest = (await client.get(trash_url, params={"offset": 2}, headers=headers)).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [t["id"] for t in first["items"] + rest["items"]] == newest_first


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
async def test_bad_trash_paging_is_422(params, client, trash_url, headers):
    assert_problem(await client.get(trash_url, params=params, headers=headers), 422)


# --- handlers ------------------------------------------------------------------------------------


async def test_handlers_trash_restore_and_stats(session, user):
    task = await create_task(session, user, CreateTask(title="t"))
    await delete_task(session, user, task.id)
    with pytest.raises(TaskNotFound):
        await get_task(session, user, task.id)
    assert (await task_stats(session, user)).total == 0
    assert [t.id for t in (await list_trash(session, user, 20, 0)).items] == [task.id]
    restored = await restore_task(session, user, task.id)
    assert (restored.deleted_at, restored.version) == (None, 2)
    assert (await get_task(session, user, task.id)).version == 2


async def test_purging_leaves_a_tombstone_for_the_change_feed(session, user):
    task = await create_task(session, user, CreateTask(title="t"))
    await delete_task(session, user, task.id)
    seq = await session.scalar(select(Task.change_seq).where(Task.id == task.id))
    await empty_trash(session, user)
    tombstone = await session.get(TaskTombstone, (user, task.id))
    assert (tombstone.task_id, tombstone.change_seq) == (task.id, seq)
    assert await session.get(Task, task.id, populate_existing=True) is None


async def test_retention_purges_only_what_was_deleted_before_the_cutoff(session, user):
    old, recent = [await create_task(session, user, CreateTask(title=t)) for t in "ab"]
    for task in (old, recent):
        await delete_task(session, user, task.id)
    await session.execute(
        update(Task).where(Task.id == old.id).values(deleted_at=utcnow().replace(year=2000))
    )
    await purge_expired(session, utcnow().replace(year=2020))
    assert [t.id for t in (await list_trash(session, user, 20, 0)).items] == [recent.id]


async def test_the_trash_is_purged_in_the_background(settings, engine):
    user = other_user()
    await run_sql(
        engine,
        "INSERT INTO tasks (user_id, title, completed, priority, tags, recurrence, "
        "created_at, updated_at, version, deleted_at) VALUES (:user, 'old', false, "
        "'medium', '{}', 'none', now(), now(), 1, now() - interval '31 days')",
        user=user,
    )
    remaining = select(func.count()).select_from(Task).where(Task.user_id == user)
    assert await count_after_housekeeping(settings, engine, remaining) == 0


# --- plans ---------------------------------------------------------------------------------------


# Trash spread over many users and days, so that the planner weighs the indexes as it would in
# production rather than on a handful of rows (where any index, or a scan, costs the same).
_SPREAD_TRASH = text(
    "INSERT INTO tasks (user_id, title, completed, priority, tags, recurrence, created_at, "
    "updated_at, version, deleted_at) SELECT 'user-' || n % 200, 't', false, 'medium', '{}', "
    "'none', now(), now(), 1, now() - n * interval '1 minute' FROM generate_series(1, 5000) n"
)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            "SELECT id FROM tasks WHERE user_id = 'u' AND deleted_at IS NULL "
            "ORDER BY created_at DESC, id DESC LIMIT 20",
            "ix_tasks_user_created",
        ),
        (
            "SELECT id FROM tasks WHERE user_id = 'u' AND deleted_at IS NOT NULL "
            "ORDER BY deleted_at DESC, id DESC LIMIT 20",
            "ix_tasks_user_trash",
        ),
        (  # the purge's own statement
            "DELETE FROM tasks WHERE deleted_at < now() - interval '30 days' "
            "RETURNING user_id, id, change_seq",
            "ix_tasks_trash_age",
        ),
    ],
)
async def test_the_live_and_trash_queries_have_indexes_of_their_own(engine, query, index):
    async with engine.connect() as connection, connection.begin() as transaction:
        await connection.execute(_SPREAD_TRASH)
        await connection.execute(text("ANALYZE tasks"))
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(await connection.scalars(text(f"EXPLAIN {query}")))
        await transaction.rollback()
    assert index in plan, plan
