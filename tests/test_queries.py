"""Query handlers: one task, the filtered/sorted/paged list, and the stats, per user."""

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from sqlalchemy import update

from commands.handlers import TaskRow, create_task, patch_task, set_completion
from commands.messages import CreateTask, PatchTask, SetCompletion
from persistence.domain import Priority, Recurrence, TaskNotFound
from persistence.models import Task
from queries.handlers import get_task, list_tasks, task_stats
from queries.messages import ListTasks, Order, SortKey, Status
from queries.views import TaskStats, TaskView
from tests.helpers import new_task_view, other_user, stats_body

T = datetime(2030, 6, 15, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def make(session, user_id: str, title: str = "task", **fields) -> TaskRow:
    return await create_task(session, user_id, CreateTask(title=title, **fields))


async def titles(session, user_id: str, **query) -> list[str]:
    page = await list_tasks(session, user_id, ListTasks(limit=100, **query))
    return [item.title for item in page.items]


async def ids(session, user_id: str, **query) -> list[int]:
    page = await list_tasks(session, user_id, ListTasks(limit=100, **query))
    return [item.id for item in page.items]


def counts(**counts: int) -> TaskStats:
    """Stats with these counts, the priority ones by name (`low=2`); any left out are 0."""
    return msgspec.convert(stats_body(**counts), TaskStats)


# --- get_task -----------------------------------------------------------------------------------


async def test_get_task_returns_own_task(session, user):
    fields = {
        "title": "read me",
        "description": "d",
        "priority": Priority.HIGH,
        "tags": ["a", "b"],
        "due_date": T,
        "recurrence": Recurrence.MONTHLY,
    }
    task = await make(session, user, **fields)

    view = await get_task(session, user, task.id)

    assert isinstance(view, TaskView)
    assert view == new_task_view(task, user_id=user, **fields)


async def test_get_task_of_another_user_is_not_found(session, user):
    task = await make(session, user)
    with pytest.raises(TaskNotFound) as raised:
        await get_task(session, other_user(), task.id)
    assert raised.value.task_id == task.id


@pytest.mark.parametrize("task_id", [0, -1, 2**63, 2**63 - 1])
async def test_get_task_with_bad_or_unknown_id_is_not_found(session, user, task_id):
    with pytest.raises(TaskNotFound):
        await get_task(session, user, task_id)
    assert (await make(session, user)).id is not None  # the transaction survived


# --- list_tasks: filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.ALL, ["done", "open"]),
        (Status.PENDING, ["open"]),
        (Status.COMPLETED, ["done"]),
    ],
)
async def test_list_filters_by_status(session, user, status, expected):
    await make(session, user, "open")
    await make(session, user, "done", completed=True)
    assert await titles(session, user, status=status, sort=SortKey.TITLE) == expected


async def test_list_status_defaults_to_all(session, user):
    await make(session, user, "open")
    await make(session, user, "done", completed=True)
    assert ListTasks().status is Status.ALL
    assert sorted(await titles(session, user)) == ["done", "open"]


@pytest.mark.parametrize(
    ("priorities", "expected"),
    [
        ((), ["h", "l", "m"]),
        ((Priority.HIGH,), ["h"]),
        ((Priority.LOW, Priority.HIGH), ["h", "l"]),
        ((Priority.LOW, Priority.MEDIUM, Priority.HIGH), ["h", "l", "m"]),
    ],
)
async def test_list_filters_by_any_of_several_priorities(session, user, priorities, expected):
    await make(session, user, "l", priority=Priority.LOW)
    await make(session, user, "m", priority=Priority.MEDIUM)
    await make(session, user, "h", priority=Priority.HIGH)
    assert await titles(session, user, priorities=priorities, sort=SortKey.TITLE) == expected


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ((), ["both", "home", "none", "work"]),
        (("work",), ["both", "work"]),
        (("urgent",), ["both", "home"]),
        (("work", "urgent"), ["both"]),
        (("urgent", "work"), ["both"]),
        (("work", "home"), []),
        (("nope",), []),
    ],
)
async def test_list_filters_by_all_given_tags(session, user, tags, expected):
    await make(session, user, "both", tags=["work", "urgent"])
    await make(session, user, "work", tags=["work"])
    await make(session, user, "home", tags=["urgent", "home"])
    await make(session, user, "none")
    assert await titles(session, user, tags=tags, sort=SortKey.TITLE) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("milk", ["Buy MILK", "errand"]),
        ("MiLk", ["Buy MILK", "errand"]),
        ("buy m", ["Buy MILK"]),
        ("50%", ["50% off"]),
        ("%", ["50% off"]),
        ("e_c", ["snake_case"]),
        ("_", ["snake_case"]),
        ("\\", ["back\\slash"]),
        ("/", ["either/or"]),
        ("r/o", ["either/or"]),
        ("nothing like it", []),
    ],
)
async def test_list_text_search_is_case_insensitive_and_literal(session, user, text, expected):
    await make(session, user, "Buy MILK")
    await make(session, user, "errand", description="and get Milk too")
    await make(session, user, "50% off")
    await make(session, user, "500 off")
    await make(session, user, "snake_case")
    await make(session, user, "snakeXcase", description="no underscore here")
    await make(session, user, "either/or")
    await make(session, user, "back\\slash")
    await make(session, user, "backslash")
    assert await titles(session, user, text=text, sort=SortKey.TITLE) == expected


async def test_list_text_search_matches_description_only(session, user):
    await make(session, user, "plain", description="Secret Word inside")
    await make(session, user, "other", description="nothing")
    assert await titles(session, user, text="secret word") == ["plain"]


async def test_list_due_before_and_after_are_strict(session, user):
    await make(session, user, "earlier", due_date=T - HOUR)
    await make(session, user, "exactly", due_date=T)
    await make(session, user, "later", due_date=T + HOUR)
    await make(session, user, "undated")

    assert await titles(session, user, due_before=T) == ["earlier"]
    assert await titles(session, user, due_after=T) == ["later"]
    window = {"due_after": T - 2 * HOUR, "due_before": T + 2 * HOUR, "sort": SortKey.DUE_DATE}
    assert await titles(session, user, **window) == ["earlier", "exactly", "later"]
    assert await titles(session, user, due_after=T - HOUR, due_before=T + HOUR) == ["exactly"]


async def test_list_due_bounds_compare_instants_across_offsets(session, user):
    await make(session, user, "earlier", due_date=T - HOUR)
    await make(session, user, "exactly", due_date=T)
    plus_5 = T.astimezone(timezone(timedelta(hours=5)))
    assert await titles(session, user, due_before=plus_5) == ["earlier"]


async def test_list_filters_combine(session, user):
    await make(session, user, "match", priority=Priority.HIGH, tags=["w"], due_date=T)
    await make(session, user, "completed", priority=Priority.HIGH, tags=["w"], completed=True)
    await make(session, user, "low", priority=Priority.LOW, tags=["w"], due_date=T)
    await make(session, user, "untagged", priority=Priority.HIGH, due_date=T)
    await make(session, user, "late match", priority=Priority.HIGH, tags=["w"], due_date=T + DAY)
    query = {
        "status": Status.PENDING,
        "priorities": (Priority.HIGH,),
        "tags": ("w",),
        "text": "match",
        "due_before": T + HOUR,
    }
    assert await titles(session, user, **query) == ["match"]


# --- list_tasks: sorting ------------------------------------------------------------------------


async def _created_out_of_id_order(session, user_id: str) -> tuple[TaskRow, TaskRow, TaskRow]:
    a, b, c = [await make(session, user_id, name) for name in "abc"]
    for task, created_at in ((a, T + 2 * HOUR), (b, T), (c, T + HOUR)):
        await session.execute(update(Task).where(Task.id == task.id).values(created_at=created_at))
    return a, b, c


@pytest.mark.parametrize(
    ("order", "expected"), [(None, "acb"), (Order.DESC, "acb"), (Order.ASC, "bca")]
)
async def test_list_sorts_by_created(session, user, order, expected):
    await _created_out_of_id_order(session, user)
    result = await titles(session, user, sort=SortKey.CREATED, order=order)
    assert "".join(result) == expected


async def test_list_default_sort_is_created_newest_first(session, user):
    await _created_out_of_id_order(session, user)
    assert "".join(await titles(session, user)) == "acb"


@pytest.mark.parametrize(
    ("order", "expected"), [(None, "acb"), (Order.DESC, "acb"), (Order.ASC, "bca")]
)
async def test_list_sorts_by_updated(session, user, order, expected):
    a, _, _ = [await make(session, user, name) for name in "abc"]
    await patch_task(session, user, a.id, PatchTask(description="touched"))
    result = await titles(session, user, sort=SortKey.UPDATED, order=order)
    assert "".join(result) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["apple", "Banana", "cherry", "Date"]),
        (Order.ASC, ["apple", "Banana", "cherry", "Date"]),
        (Order.DESC, ["Date", "cherry", "Banana", "apple"]),
    ],
)
async def test_list_sorts_by_title_case_insensitively(session, user, order, expected):
    for title in ["cherry", "Date", "apple", "Banana"]:
        await make(session, user, title)
    assert await titles(session, user, sort=SortKey.TITLE, order=order) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["high", "medium", "low"]),
        (Order.ASC, ["low", "medium", "high"]),
        (Order.DESC, ["high", "medium", "low"]),
    ],
)
async def test_list_sorts_by_priority_meaning(session, user, order, expected):
    for level in [Priority.MEDIUM, Priority.HIGH, Priority.LOW]:
        await make(session, user, level.value, priority=level)
    assert await titles(session, user, sort=SortKey.PRIORITY, order=order) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["d1", "d2", "d3", "none-1", "none-2"]),
        (Order.ASC, ["d1", "d2", "d3", "none-1", "none-2"]),
        (Order.DESC, ["d3", "d2", "d1", "none-2", "none-1"]),
    ],
)
async def test_list_sorts_by_due_date_with_undated_last(session, user, order, expected):
    await make(session, user, "none-1")
    await make(session, user, "d2", due_date=T)
    await make(session, user, "d3", due_date=T + DAY)
    await make(session, user, "none-2")
    await make(session, user, "d1", due_date=T - DAY)
    assert await titles(session, user, sort=SortKey.DUE_DATE, order=order) == expected


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize("order", [Order.ASC, Order.DESC])
async def test_list_breaks_ties_by_id_and_pages_without_repeats_or_gaps(session, user, sort, order):
    tasks = [await make(session, user, "same", due_date=T) for _ in range(10)]
    same_time = {"created_at": T, "updated_at": T}
    await session.execute(update(Task).where(Task.id.in_([t.id for t in tasks])).values(same_time))
    by_id = sorted(task.id for task in tasks)
    expected = by_id if order is Order.ASC else by_id[::-1]

    assert await ids(session, user, sort=sort, order=order) == expected
    paged: list[int] = []
    for offset in range(0, 12, 3):
        page = await list_tasks(
            session, user, ListTasks(sort=sort, order=order, limit=3, offset=offset)
        )
        assert page.total == 10
        paged += [item.id for item in page.items]
    assert paged == expected


@pytest.mark.parametrize("order", [Order.ASC, Order.DESC])
async def test_list_pages_through_groups_of_equal_priority(session, user, order):
    levels = [Priority.HIGH, Priority.LOW, Priority.MEDIUM] * 4
    tasks = [await make(session, user, level.value, priority=level) for level in levels]
    rank = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2}
    expected = [
        task.id
        for task in sorted(
            tasks, key=lambda task: (rank[task.priority], task.id), reverse=order is Order.DESC
        )
    ]

    paged: list[int] = []
    for offset in range(0, 12, 3):
        query = ListTasks(sort=SortKey.PRIORITY, order=order, limit=3, offset=offset)
        paged += [item.id for item in (await list_tasks(session, user, query)).items]

    assert paged == expected
    assert len(set(paged)) == 12


# --- list_tasks: paging -------------------------------------------------------------------------


async def test_list_total_counts_every_match_not_just_the_page(session, user):
    for n in range(5):
        await make(session, user, f"t{n}", priority=Priority.HIGH)
    await make(session, user, "low", priority=Priority.LOW)

    page = await list_tasks(session, user, ListTasks(priorities=(Priority.HIGH,), limit=2))

    assert len(page.items) == 2
    assert page.total == 5
    assert (page.limit, page.offset) == (2, 0)


async def test_list_echoes_limit_and_offset_and_returns_the_right_slice(session, user):
    made = [await make(session, user, f"t{n}") for n in range(5)]
    page = await list_tasks(
        session, user, ListTasks(sort=SortKey.CREATED, order=Order.ASC, limit=2, offset=1)
    )
    assert [item.id for item in page.items] == [made[1].id, made[2].id]
    assert (page.total, page.limit, page.offset) == (5, 2, 1)


async def test_list_last_partial_page(session, user):
    for n in range(5):
        await make(session, user, f"t{n}")
    page = await list_tasks(session, user, ListTasks(limit=3, offset=3))
    assert len(page.items) == 2
    assert page.total == 5


@pytest.mark.parametrize("offset", [5, 6, 1000])
async def test_list_page_past_the_end_is_empty_with_the_right_total(session, user, offset):
    for n in range(5):
        await make(session, user, f"t{n}")
    page = await list_tasks(session, user, ListTasks(limit=10, offset=offset))
    assert page.items == []
    assert (page.total, page.limit, page.offset) == (5, 10, offset)


async def test_list_with_no_matches_has_total_zero(session, user):
    await make(session, user, "x")
    page = await list_tasks(session, user, ListTasks(text="zzz"))
    assert page.items == []
    assert page.total == 0


async def test_list_defaults_to_twenty_per_page(session, user):
    for n in range(25):
        await make(session, user, f"t{n}")
    page = await list_tasks(session, user, ListTasks())
    assert len(page.items) == 20
    assert (page.total, page.limit, page.offset) == (25, 20, 0)


async def test_list_items_are_full_task_views(session, user):
    task = await make(session, user, "x", tags=["a"], due_date=T, priority=Priority.LOW)
    page = await list_tasks(session, user, ListTasks())
    assert page.items == [await get_task(session, user, task.id)]


# --- other users --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        ListTasks(),
        ListTasks(status=Status.PENDING),
        ListTasks(status=Status.COMPLETED),
        ListTasks(priorities=(Priority.HIGH,)),
        ListTasks(tags=("shared",)),
        ListTasks(text="shared"),
        ListTasks(due_before=T + DAY),
        ListTasks(due_after=T - DAY),
        ListTasks(sort=SortKey.DUE_DATE),
        ListTasks(sort=SortKey.PRIORITY, order=Order.DESC),
        ListTasks(sort=SortKey.TITLE),
        ListTasks(limit=1, offset=50),
    ],
)
async def test_other_users_tasks_never_appear_in_lists(session, user, query):
    stranger = other_user()
    for completed in (False, True):
        await make(
            session,
            stranger,
            "shared theirs",
            priority=Priority.HIGH,
            tags=["shared"],
            due_date=T,
            completed=completed,
        )
    mine = await make(
        session, user, "shared mine", priority=Priority.HIGH, tags=["shared"], due_date=T
    )

    page = await list_tasks(session, user, query)

    assert all(item.user_id == user for item in page.items)
    assert {item.id for item in page.items} <= {mine.id}
    assert page.total <= 1


async def test_user_with_no_tasks_sees_an_empty_list(session, user):
    await make(session, other_user(), "theirs")
    page = await list_tasks(session, user, ListTasks())
    assert page.items == []
    assert page.total == 0


# --- task_stats ---------------------------------------------------------------------------------


async def test_stats_count_every_bucket(session, user):
    now = T  # 2030-06-15 12:00 UTC
    start_of_day = datetime(2030, 6, 15, tzinfo=UTC)
    await make(session, user, "overdue yesterday", due_date=now - DAY, priority=Priority.HIGH)
    await make(session, user, "overdue at midnight", due_date=start_of_day)
    await make(session, user, "overdue this morning", due_date=now - HOUR, priority=Priority.LOW)
    await make(session, user, "due tonight", due_date=start_of_day + DAY - timedelta(seconds=1))
    await make(session, user, "due tomorrow midnight", due_date=start_of_day + DAY)
    await make(session, user, "undated", priority=Priority.HIGH)
    await make(session, user, "done late", due_date=now - DAY, completed=True)
    await make(session, user, "done today", due_date=now - HOUR, completed=True)
    await make(session, user, "done undated", completed=True, priority=Priority.LOW)

    stats = await task_stats(session, user, now=now)

    assert stats == counts(
        total=9, completed=3, pending=6, overdue=3, due_today=3, low=2, medium=5, high=2
    )


async def test_stats_due_exactly_now_is_not_overdue(session, user):
    await make(session, user, "now", due_date=T)
    stats = await task_stats(session, user, now=T)
    assert (stats.overdue, stats.due_today) == (0, 1)


async def test_stats_due_today_uses_the_utc_day_when_now_has_an_offset(session, user):
    # 23:00 at +05:00 is 18:00 UTC on the same date; 20:00 UTC is later that UTC day.
    now = datetime(2030, 6, 15, 23, tzinfo=timezone(timedelta(hours=5)))
    await make(session, user, "later today (UTC)", due_date=datetime(2030, 6, 15, 20, tzinfo=UTC))
    stats = await task_stats(session, user, now=now)
    assert (stats.overdue, stats.due_today) == (0, 1)


async def test_stats_follow_completion_changes(session, user):
    task = await make(session, user, "x", due_date=T - DAY)
    assert (await task_stats(session, user, now=T)).overdue == 1

    await set_completion(session, user, task.id, SetCompletion())
    stats = await task_stats(session, user, now=T)
    assert (stats.completed, stats.pending, stats.overdue) == (1, 0, 0)


async def test_stats_default_now_is_the_current_time(session, user):
    await make(session, user, "long ago", due_date=datetime(2000, 1, 1, tzinfo=UTC))
    await make(session, user, "far future", due_date=datetime(2999, 1, 1, tzinfo=UTC))
    await make(session, user, "soon", due_date=datetime.now(UTC) + HOUR)
    stats = await task_stats(session, user)
    assert stats.overdue == 1
    assert stats.pending == 3


async def test_stats_for_a_user_without_tasks_are_zero(session, user):
    await make(session, other_user(), "theirs", due_date=T - DAY)
    stats = await task_stats(session, user, now=T)
    assert stats == counts()


async def test_stats_never_count_other_users_tasks(session, user):
    stranger = other_user()
    await make(session, stranger, "theirs", due_date=T - HOUR, priority=Priority.HIGH)
    await make(session, stranger, "theirs done", completed=True, priority=Priority.LOW)
    await make(session, user, "mine", due_date=T - HOUR, priority=Priority.HIGH)

    stats = await task_stats(session, user, now=T)

    assert stats == counts(total=1, pending=1, overdue=1, due_today=1, high=1)
