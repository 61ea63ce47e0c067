"""Command handlers and write-side messages, against a real PostgreSQL in a rolled-back session."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.handlers import create_task, delete_task, patch_task, replace_task, set_completion
from commands.messages import CreateTask, PatchTask, ReplaceTask, SetCompletion
from persistence.database import AUTOCOMMIT_SAFE
from persistence.domain import InvalidField, Priority, Recurrence, TaskNotFound, utcnow
from persistence.models import Task
from queries.handlers import get_task
from queries.views import TaskView
from tests.helpers import TASK_DEFAULTS, new_task_view, other_user

PLUS_2 = timezone(timedelta(hours=2))
BAD_IDS = [0, -1, 2**63]


async def tasks_of(session, user_id: str) -> list[Task]:
    await session.flush()
    result = await session.scalars(select(Task).where(Task.user_id == user_id).order_by(Task.id))
    return list(result)


# --- create -------------------------------------------------------------------------------------


async def test_create_applies_defaults(session, user):
    task = await create_task(session, user, CreateTask(title="x"))

    assert isinstance(task.id, int)
    assert TaskView.of(task) == new_task_view(task, user_id=user, title="x")
    assert task.created_at.utcoffset() == timedelta(0)
    assert timedelta(0) <= task.updated_at - task.created_at < timedelta(seconds=1)


async def test_create_stores_every_field_given(session, user):
    fields = {
        "title": "Buy milk",
        "description": "two litres",
        "priority": Priority.HIGH,
        "tags": ["home"],
        "due_date": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "recurrence": Recurrence.WEEKLY,
    }
    task = await create_task(session, user, CreateTask(**fields))

    stored = await get_task(session, user, task.id)
    assert stored == new_task_view(task, user_id=user, **fields)


async def test_create_trims_title(session, user):
    task = await create_task(session, user, CreateTask(title="  hello world \t\n"))
    assert task.title == "hello world"


async def test_create_trims_lowercases_and_deduplicates_tags(session, user):
    message = CreateTask(title="x", tags=[" Work ", "HOME", "work", "home", "urgent"])
    task = await create_task(session, user, message)
    assert task.tags == ["work", "home", "urgent"]


async def test_create_converts_due_date_to_utc(session, user):
    message = CreateTask(title="x", due_date=datetime(2030, 5, 1, 9, 30, tzinfo=PLUS_2))
    task = await create_task(session, user, message)

    assert task.due_date == datetime(2030, 5, 1, 7, 30, tzinfo=UTC)
    assert task.due_date.utcoffset() == timedelta(0)
    stored = await get_task(session, user, task.id)
    assert stored.due_date.utcoffset() == timedelta(0)
    assert stored.due_date.hour == 7


async def test_create_completed_sets_completed_at(session, user):
    task = await create_task(session, user, CreateTask(title="x", completed=True))
    assert task.completed is True
    assert task.completed_at is not None
    assert task.completed_at == task.created_at


async def test_creating_a_recurring_task_already_completed_rolls_it_over(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    message = CreateTask(title="x", completed=True, due_date=due, recurrence=Recurrence.DAILY)
    task = await create_task(session, user, message)

    original, follow_up = await tasks_of(session, user)
    assert original.id == task.id
    assert follow_up.due_date == datetime(2030, 1, 2, tzinfo=UTC)
    assert follow_up.completed is False


# --- replace ------------------------------------------------------------------------------------


async def test_replace_resets_fields_left_out_to_defaults(session, user):
    task = await create_task(
        session,
        user,
        CreateTask(
            title="old",
            description="d",
            priority=Priority.HIGH,
            tags=["a"],
            due_date=datetime(2030, 1, 1, tzinfo=UTC),
            recurrence=Recurrence.DAILY,
        ),
    )
    before = TaskView.of(task)

    replaced = await replace_task(session, user, task.id, ReplaceTask(title="new"))

    assert TaskView.of(replaced) == msgspec.structs.replace(
        before, title="new", **TASK_DEFAULTS, version=2, updated_at=replaced.updated_at
    )


async def test_replace_bumps_version_and_moves_updated_at(session, user):
    task = await create_task(session, user, CreateTask(title="old"))
    created_at, updated_at = task.created_at, task.updated_at

    replaced = await replace_task(session, user, task.id, ReplaceTask(title="new"))

    assert replaced.version == 2
    assert replaced.updated_at > updated_at
    assert replaced.created_at == created_at
    stored = await get_task(session, user, task.id)
    assert (stored.title, stored.version) == ("new", 2)


async def test_replace_with_identical_fields_does_not_bump_version(session, user):
    task = await create_task(session, user, CreateTask(title="same", tags=["a"]))
    updated_at = task.updated_at
    replaced = await replace_task(session, user, task.id, ReplaceTask(title=" same ", tags=["A"]))
    assert replaced.version == 1
    assert replaced.updated_at == updated_at


async def test_replace_completed_sets_and_clears_completed_at(session, user):
    task = await create_task(session, user, CreateTask(title="x"))

    done = await replace_task(session, user, task.id, ReplaceTask(title="x", completed=True))
    assert done.completed is True
    assert done.completed_at is not None
    assert done.completed_at == done.updated_at

    reopened = await replace_task(session, user, task.id, ReplaceTask(title="x"))
    assert reopened.completed is False
    assert reopened.completed_at is None
    assert reopened.version == 3


# --- patch --------------------------------------------------------------------------------------


async def test_patch_changes_only_fields_sent(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session,
        user,
        CreateTask(title="x", description="d", priority=Priority.LOW, tags=["a"], due_date=due),
    )
    before = TaskView.of(task)

    patched = await patch_task(session, user, task.id, PatchTask(priority=Priority.HIGH))

    assert TaskView.of(patched) == msgspec.structs.replace(
        before, priority=Priority.HIGH, version=2, updated_at=patched.updated_at
    )


async def test_patch_normalises_title_tags_and_due_date(session, user):
    task = await create_task(session, user, CreateTask(title="x"))
    message = PatchTask(
        title="  y  ", tags=["B", " b", "C"], due_date=datetime(2030, 1, 1, 1, tzinfo=PLUS_2)
    )
    patched = await patch_task(session, user, task.id, message)
    assert patched.title == "y"
    assert patched.tags == ["b", "c"]
    assert patched.due_date == datetime(2029, 12, 31, 23, tzinfo=UTC)
    assert patched.due_date.utcoffset() == timedelta(0)


@pytest.mark.parametrize("field", ["description", "due_date"])
async def test_patch_none_clears_nullable_field(session, user, field):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(session, user, CreateTask(title="x", description="d", due_date=due))

    patched = await patch_task(session, user, task.id, PatchTask(**{field: None}))

    assert getattr(patched, field) is None
    assert patched.version == 2
    stored = await get_task(session, user, task.id)
    assert getattr(stored, field) is None
    other = "due_date" if field == "description" else "description"
    assert getattr(stored, other) is not None


async def test_empty_patch_changes_nothing(session, user):
    task = await create_task(session, user, CreateTask(title="x", tags=["a"]))
    updated_at = task.updated_at

    patched = await patch_task(session, user, task.id, PatchTask())

    assert patched.version == 1
    assert patched.updated_at == updated_at
    assert (patched.title, patched.tags) == ("x", ["a"])


async def test_patch_with_identical_values_does_not_bump_version(session, user):
    due = datetime(2030, 1, 1, 12, tzinfo=UTC)
    task = await create_task(
        session,
        user,
        CreateTask(title="x", description="d", priority=Priority.HIGH, tags=["a"], due_date=due),
    )
    updated_at = task.updated_at
    same = PatchTask(
        title=" x ",
        description="d",
        completed=False,
        priority=Priority.HIGH,
        tags=["A"],
        due_date=due.astimezone(PLUS_2),
        recurrence=Recurrence.NONE,
    )

    patched = await patch_task(session, user, task.id, same)

    assert patched.version == 1
    assert patched.updated_at == updated_at
    assert (await get_task(session, user, task.id)).version == 1


async def test_patch_bumps_version_on_each_change(session, user):
    task = await create_task(session, user, CreateTask(title="x"))
    await patch_task(session, user, task.id, PatchTask(title="y"))
    patched = await patch_task(session, user, task.id, PatchTask(title="z"))
    assert patched.version == 3


async def test_patch_completed_sets_and_clears_completed_at(session, user):
    task = await create_task(session, user, CreateTask(title="x"))

    done = await patch_task(session, user, task.id, PatchTask(completed=True))
    assert done.completed_at is not None
    assert done.completed_at == done.updated_at

    reopened = await patch_task(session, user, task.id, PatchTask(completed=False))
    assert reopened.completed is False
    assert reopened.completed_at is None


# --- set_completion ------------------------------------------------------------------------------


async def test_set_completion_without_value_toggles(session, user):
    task = await create_task(session, user, CreateTask(title="x"))

    done = await set_completion(session, user, task.id, SetCompletion())
    assert (done.completed, done.version) == (True, 2)
    assert done.completed_at is not None

    reopened = await set_completion(session, user, task.id, SetCompletion())
    assert (reopened.completed, reopened.version) == (False, 3)
    assert reopened.completed_at is None


@pytest.mark.parametrize("completed", [True, False])
async def test_set_completion_sets_explicit_value(session, user, completed):
    task = await create_task(session, user, CreateTask(title="x", completed=not completed))

    result = await set_completion(session, user, task.id, SetCompletion(completed=completed))

    assert result.completed is completed
    assert (result.completed_at is not None) is completed
    assert result.version == 2
    assert (await get_task(session, user, task.id)).completed is completed


@pytest.mark.parametrize("completed", [True, False])
async def test_set_completion_to_same_value_is_a_no_op(session, user, completed):
    task = await create_task(session, user, CreateTask(title="x", completed=completed))
    completed_at, updated_at = task.completed_at, task.updated_at

    result = await set_completion(session, user, task.id, SetCompletion(completed=completed))

    assert result.completed is completed
    assert result.completed_at == completed_at
    assert result.updated_at == updated_at
    assert result.version == 1


# --- recurrence ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recurrence", "due", "expected"),
    [
        (
            Recurrence.DAILY,
            datetime(2030, 3, 31, 9, tzinfo=UTC),
            datetime(2030, 4, 1, 9, tzinfo=UTC),
        ),
        (
            Recurrence.WEEKLY,
            datetime(2030, 12, 28, 9, tzinfo=UTC),
            datetime(2031, 1, 4, 9, tzinfo=UTC),
        ),
        (
            Recurrence.MONTHLY,
            datetime(2030, 5, 15, 9, tzinfo=UTC),
            datetime(2030, 6, 15, 9, tzinfo=UTC),
        ),
        (
            Recurrence.MONTHLY,
            datetime(2031, 1, 31, 9, tzinfo=UTC),
            datetime(2031, 2, 28, 9, tzinfo=UTC),
        ),
    ],
)
async def test_completing_recurring_task_creates_next_occurrence(
    session, user, recurrence, due, expected
):
    fields = {
        "title": "water plants",
        "description": "all of them",
        "priority": Priority.HIGH,
        "tags": ["home", "garden"],
        "recurrence": recurrence,
    }
    task = await create_task(session, user, CreateTask(**fields, due_date=due))
    await set_completion(session, user, task.id, SetCompletion())

    original, follow_up = await tasks_of(session, user)
    assert (original.id, original.completed, original.due_date) == (task.id, True, due)
    assert follow_up.id != task.id
    expected_view = new_task_view(follow_up, user_id=user, **fields, due_date=expected)
    assert TaskView.of(follow_up) == expected_view


async def test_next_occurrence_is_readable_through_queries(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.DAILY)
    )
    await set_completion(session, user, task.id, SetCompletion(completed=True))
    follow_up = (await tasks_of(session, user))[1]

    view = await get_task(session, user, follow_up.id)
    assert view.due_date == datetime(2030, 1, 2, tzinfo=UTC)
    assert view.completed is False


@pytest.mark.parametrize(
    ("recurrence", "due"),
    [
        (Recurrence.NONE, datetime(2030, 1, 1, tzinfo=UTC)),
        (Recurrence.DAILY, None),
        (Recurrence.MONTHLY, None),
    ],
)
async def test_completing_creates_no_next_occurrence_without_recurrence_or_due_date(
    session, user, recurrence, due
):
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=recurrence)
    )
    await set_completion(session, user, task.id, SetCompletion(completed=True))
    assert [t.id for t in await tasks_of(session, user)] == [task.id]


async def test_reopening_recurring_task_creates_no_next_occurrence(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.DAILY)
    )
    await set_completion(session, user, task.id, SetCompletion(completed=True))
    await set_completion(session, user, task.id, SetCompletion(completed=False))

    tasks = await tasks_of(session, user)
    assert len(tasks) == 2
    assert tasks[0].completed is False


async def test_completing_again_after_reopening_creates_no_second_occurrence(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.MONTHLY)
    )
    for completed in (True, False, True, False, True):
        await set_completion(session, user, task.id, SetCompletion(completed=completed))

    due_dates = sorted(t.due_date for t in await tasks_of(session, user))
    assert due_dates == [due, datetime(2030, 2, 1, tzinfo=UTC)]


async def test_completing_an_already_completed_task_creates_no_next_occurrence(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.WEEKLY)
    )
    await set_completion(session, user, task.id, SetCompletion(completed=True))
    await set_completion(session, user, task.id, SetCompletion(completed=True))
    assert len(await tasks_of(session, user)) == 2


async def test_completing_via_patch_creates_next_occurrence(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.WEEKLY)
    )
    await patch_task(session, user, task.id, PatchTask(completed=True))

    tasks = await tasks_of(session, user)
    assert len(tasks) == 2
    assert tasks[1].due_date == datetime(2030, 1, 8, tzinfo=UTC)
    assert tasks[1].completed is False


async def test_completing_via_replace_creates_next_occurrence(session, user):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="x", due_date=due, recurrence=Recurrence.DAILY)
    )
    message = ReplaceTask(title="x", completed=True, due_date=due, recurrence=Recurrence.DAILY)
    await replace_task(session, user, task.id, message)

    tasks = await tasks_of(session, user)
    assert len(tasks) == 2
    assert tasks[1].due_date == datetime(2030, 1, 2, tzinfo=UTC)


async def complete_latest(session, user: str) -> Task:
    """Complete the user's newest task and return the occurrence that follows it."""
    latest = (await tasks_of(session, user))[-1]
    await set_completion(session, user, latest.id, SetCompletion(completed=True))
    follow_up = (await tasks_of(session, user))[-1]
    assert follow_up.id != latest.id
    return follow_up


async def test_next_occurrence_keeps_zone_local_time_and_day_of_the_month(session, user):
    # 09:00 in Berlin on the 31st; Berlin's clocks go forward on 2030-03-31.
    due = datetime(2030, 1, 31, 8, tzinfo=UTC)
    message = CreateTask(
        title="rent", due_date=due, time_zone="Europe/Berlin", recurrence=Recurrence.MONTHLY
    )
    await create_task(session, user, message)

    february = await complete_latest(session, user)
    march = await complete_latest(session, user)

    assert february.due_date == datetime(2030, 2, 28, 8, tzinfo=UTC)
    assert march.due_date == datetime(2030, 3, 31, 7, tzinfo=UTC)
    assert {february.time_zone, march.time_zone} == {"Europe/Berlin"}
    assert {february.series_start, march.series_start} == {due}


async def test_a_rule_with_a_count_ends_across_occurrences(session, user):
    message = CreateTask(
        title="x", due_date=datetime(2030, 1, 1, tzinfo=UTC), recurrence="RRULE:FREQ=DAILY;COUNT=2"
    )
    task = await create_task(session, user, message)
    second = await complete_latest(session, user)
    await set_completion(session, user, second.id, SetCompletion(completed=True))

    assert [t.id for t in await tasks_of(session, user)] == [task.id, second.id]


async def test_an_overdue_task_is_next_due_after_now(session, user):
    due = datetime(2020, 1, 1, 9, tzinfo=UTC)
    await create_task(session, user, CreateTask(title="x", due_date=due, recurrence="daily"))

    before = utcnow()
    follow_up = await complete_latest(session, user)
    after = utcnow()

    def next_nine_oclock(moment: datetime) -> datetime:
        today = moment.replace(hour=9, minute=0, second=0, microsecond=0)
        return today if today > moment else today + timedelta(days=1)

    assert follow_up.due_date in {next_nine_oclock(before), next_nine_oclock(after)}


async def test_changing_the_due_date_starts_the_series_afresh(session, user):
    message = CreateTask(
        title="x", due_date=datetime(2030, 1, 31, tzinfo=UTC), recurrence=Recurrence.MONTHLY
    )
    task = await create_task(session, user, message)
    await patch_task(session, user, task.id, PatchTask(due_date=datetime(2030, 2, 10, tzinfo=UTC)))

    follow_up = await complete_latest(session, user)
    assert follow_up.due_date == datetime(2030, 3, 10, tzinfo=UTC)
    assert follow_up.series_start == datetime(2030, 2, 10, tzinfo=UTC)


async def test_other_changes_keep_the_series(session, user):
    start = datetime(2030, 1, 31, tzinfo=UTC)
    message = CreateTask(title="x", due_date=start, recurrence=Recurrence.MONTHLY)
    await create_task(session, user, message)
    february = await complete_latest(session, user)
    same_fields = ReplaceTask(title="renamed", due_date=february.due_date, recurrence="monthly")
    await replace_task(session, user, february.id, same_fields)

    march = await complete_latest(session, user)
    assert march.due_date == datetime(2030, 3, 31, tzinfo=UTC)
    assert march.series_start == start


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus_Mons", "IANA"),
        ("recurrence", "RRULE:FREQ=HOURLY", "FREQ=HOURLY"),
        ("recurrence", "RRULE:FREQ=MONTHLY;BYSETPOS=-1", "BYSETPOS"),
    ],
)
def test_messages_refuse_unknown_zones_and_unsupported_rules(field, value, message):
    for build in (
        lambda: CreateTask(title="x", **{field: value}),
        lambda: ReplaceTask(title="x", **{field: value}),
        lambda: PatchTask(**{field: value}),
    ):
        with pytest.raises(InvalidField) as refused:
            build()
        assert (refused.value.field, message in refused.value.message) == (field, True)


def test_messages_keep_rules_in_upper_case():
    message = PatchTask(recurrence="RRULE:freq=weekly;byday=mo")
    assert message.recurrence == "RRULE:FREQ=WEEKLY;BYDAY=MO"


# --- delete -------------------------------------------------------------------------------------


async def test_delete_removes_task(session, user):
    task = await create_task(session, user, CreateTask(title="x"))
    keep = await create_task(session, user, CreateTask(title="keep"))

    assert await delete_task(session, user, task.id) is None

    with pytest.raises(TaskNotFound):
        await get_task(session, user, task.id)
    assert (await get_task(session, user, keep.id)).title == "keep"


async def test_delete_twice_raises_not_found(session, user):
    task = await create_task(session, user, CreateTask(title="x"))
    await delete_task(session, user, task.id)
    with pytest.raises(TaskNotFound) as raised:
        await delete_task(session, user, task.id)
    assert raised.value.task_id == task.id


# --- ownership and bad ids ----------------------------------------------------------------------

OTHER_USERS_CALLS = {
    "replace": lambda s, u, i: replace_task(s, u, i, ReplaceTask(title="hijacked")),
    "patch": lambda s, u, i: patch_task(s, u, i, PatchTask(title="hijacked")),
    "patch_complete": lambda s, u, i: patch_task(s, u, i, PatchTask(completed=True)),
    "set_completion": lambda s, u, i: set_completion(s, u, i, SetCompletion()),
    "set_completion_true": lambda s, u, i: set_completion(s, u, i, SetCompletion(completed=True)),
    "delete": delete_task,
}


@pytest.mark.parametrize("call", OTHER_USERS_CALLS.values(), ids=OTHER_USERS_CALLS.keys())
async def test_other_users_task_is_not_found_and_left_unchanged(session, user, call):
    due = datetime(2030, 1, 1, tzinfo=UTC)
    task = await create_task(
        session, user, CreateTask(title="mine", due_date=due, recurrence=Recurrence.DAILY)
    )
    before = TaskView.of(task)
    intruder = other_user()

    with pytest.raises(TaskNotFound):
        await call(session, intruder, task.id)

    assert await get_task(session, user, task.id) == before
    assert len(await tasks_of(session, user)) == 1
    assert await tasks_of(session, intruder) == []


@pytest.mark.parametrize("call", OTHER_USERS_CALLS.values(), ids=OTHER_USERS_CALLS.keys())
@pytest.mark.parametrize("task_id", BAD_IDS)
async def test_bad_id_is_not_found(session, user, call, task_id):
    with pytest.raises(TaskNotFound) as raised:
        await call(session, user, task_id)
    assert raised.value.task_id == task_id
    # The transaction is still usable: no database error happened.
    assert (await create_task(session, user, CreateTask(title="after"))).id is not None


@pytest.mark.parametrize("call", OTHER_USERS_CALLS.values(), ids=OTHER_USERS_CALLS.keys())
async def test_missing_id_is_not_found(session, user, call):
    task = await create_task(session, user, CreateTask(title="x"))
    await delete_task(session, user, task.id)
    with pytest.raises(TaskNotFound):
        await call(session, user, task.id)


# --- message validation -------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", [CreateTask, ReplaceTask, PatchTask])
@pytest.mark.parametrize("title", ["", "   ", "\t\n", "a" * 201, " " + "a" * 201 + " "])
def test_bad_title_is_invalid(message_type, title):
    with pytest.raises(InvalidField) as raised:
        message_type(title=title)
    assert raised.value.field == "title"
    assert str(raised.value).startswith("title:")


@pytest.mark.parametrize("message_type", [CreateTask, ReplaceTask, PatchTask])
def test_title_of_200_characters_after_trimming_is_accepted(message_type):
    title = "a" * 200
    assert message_type(title=f"  {title}  ").title == title


@pytest.mark.parametrize("message_type", [CreateTask, ReplaceTask, PatchTask])
@pytest.mark.parametrize("tag", ["", "   ", "a" * 33, " " + "a" * 33])
def test_bad_tag_is_invalid(message_type, tag):
    with pytest.raises(InvalidField) as raised:
        message_type(title="x", tags=["ok", tag])
    assert raised.value.field == "tags"


@pytest.mark.parametrize("message_type", [CreateTask, ReplaceTask, PatchTask])
def test_tag_of_32_characters_after_trimming_is_accepted(message_type):
    tag = "a" * 32
    assert message_type(title="x", tags=[f" {tag.upper()} "]).tags == [tag]


def test_patch_without_title_or_tags_is_valid():
    assert PatchTask().changes() == {}
    assert PatchTask(description=None).changes() == {"description": None}


def decode_create(body: bytes) -> CreateTask:
    return msgspec.json.decode(body, type=CreateTask)


def test_decode_valid_body_normalises():
    message = decode_create(
        b'{"title": " t ", "tags": ["A", "a"], "due_date": "2030-01-01T02:00:00+02:00",'
        b' "priority": "high", "recurrence": "monthly", "description": null}'
    )
    assert message.title == "t"
    assert message.tags == ["a"]
    assert message.due_date == datetime(2030, 1, 1, tzinfo=UTC)
    assert message.due_date.utcoffset() == timedelta(0)
    assert message.priority is Priority.HIGH
    assert message.recurrence == Recurrence.MONTHLY


def test_decode_accepts_ten_tags_and_1000_character_description():
    tags = msgspec.json.encode([f"t{i}" for i in range(10)])
    description = msgspec.json.encode("d" * 1000)
    message = decode_create(
        b'{"title": "x", "tags": ' + tags + b', "description": ' + description + b"}"
    )
    assert len(message.tags) == 10
    assert len(message.description) == 1000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"title": "x", "colour": "red"}', id="unknown-field"),
        pytest.param(b'{"title": "x", "id": 5}', id="id"),
        pytest.param(b'{"title": "x", "user_id": "someone"}', id="user_id"),
        pytest.param(b'{"title": "x", "created_at": "2030-01-01T00:00:00Z"}', id="created_at"),
        pytest.param(b'{"title": "x", "updated_at": "2030-01-01T00:00:00Z"}', id="updated_at"),
        pytest.param(b'{"title": "x", "completed_at": "2030-01-01T00:00:00Z"}', id="completed_at"),
        pytest.param(b'{"title": "x", "version": 3}', id="version"),
        pytest.param(
            b'{"title": "x", "tags": ["a","b","c","d","e","f","g","h","i","j","k"]}', id="11-tags"
        ),
        pytest.param(
            b'{"title": "x", "description": "' + b"d" * 1001 + b'"}', id="long-description"
        ),
        pytest.param(b'{"title": "x", "due_date": "2030-01-01T00:00:00"}', id="naive-due-date"),
        pytest.param(b'{"title": "x", "priority": "urgent"}', id="bad-priority"),
        pytest.param(b'{"title": "x", "priority": "HIGH"}', id="upper-case-priority"),
        pytest.param(b'{"title": "x", "recurrence": "hourly"}', id="bad-recurrence"),
        pytest.param(b'{"title": "   "}', id="blank-title"),
        pytest.param(b'{"title": "x", "tags": ["' + b"a" * 33 + b'"]}', id="long-tag"),
        pytest.param(b"{}", id="missing-title"),
        pytest.param(b'{"title": null}', id="null-title"),
        pytest.param(b'{"title": "x", "completed": null}', id="null-completed"),
    ],
)
@pytest.mark.parametrize("message_type", [CreateTask, ReplaceTask])
def test_decode_rejects_bad_body(body, message_type):
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=message_type)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 1}',
        b'{"version": 2}',
        b'{"colour": "red"}',
        b'{"title": null}',
        b'{"completed": null}',
        b'{"priority": null}',
        b'{"due_date": "2030-01-01T00:00:00"}',
        b'{"recurrence": "hourly"}',
    ],
)
def test_decode_patch_rejects_bad_body(body):
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=PatchTask)


def test_decode_patch_null_clears_only_nullable_fields():
    message = msgspec.json.decode(b'{"description": null, "due_date": null}', type=PatchTask)
    assert message.changes() == {"description": None, "due_date": None}


@pytest.mark.parametrize(
    ("body", "expected"), [(b"{}", msgspec.UNSET), (b'{"completed": false}', False)]
)
def test_decode_set_completion(body, expected):
    assert msgspec.json.decode(body, type=SetCompletion).completed is expected


def test_decode_set_completion_rejects_unknown_field():
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"completed": true, "title": "x"}', type=SetCompletion)


# --- transactions: a one-statement write on a session with none open ---------------------------


async def _version_seen_elsewhere(engine, task_id: int) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(Task.version).where(Task.id == task_id))


def _api_session(engine, *, direct: bool = True) -> AsyncSession:
    """A session as the API's are: fresh, its connections direct or through a pooler."""
    return AsyncSession(engine, info={AUTOCOMMIT_SAFE: direct})


async def test_a_one_statement_write_on_a_fresh_session_is_committed_at_once(engine):
    """The completion and the create hold no transaction (nor the owner's change counter) open
    after their statement."""
    user = other_user()
    async with _api_session(engine) as session:
        task = await create_task(session, user, CreateTask(title="t"))
        assert not session.in_transaction()  # as it was found
        assert await _version_seen_elsewhere(engine, task.id) == 1
        completed = await set_completion(session, user, task.id, SetCompletion())
        assert await _version_seen_elsewhere(engine, task.id) == completed.version == 2
        async with _api_session(engine) as other:  # the counter is free: no wait
            await asyncio.wait_for(create_task(other, user, CreateTask(title="u")), timeout=5)


async def test_a_completion_that_rolls_over_is_one_transaction_even_on_a_fresh_session(engine):
    user = other_user()
    due = utcnow() + timedelta(days=1)
    message = CreateTask(title="daily", due_date=due, recurrence=Recurrence.DAILY)
    async with _api_session(engine) as setup:
        task = await create_task(setup, user, message)
    async with _api_session(engine) as session:
        completed = await set_completion(session, user, task.id, SetCompletion(completed=True))
        assert completed.rolled_over
        assert await _version_seen_elsewhere(engine, task.id) == 1  # not committed yet
        await session.rollback()
    assert await _version_seen_elsewhere(engine, task.id) == 1
    async with engine.connect() as connection:
        count = select(func.count()).select_from(Task).where(Task.user_id == user)
        assert await connection.scalar(count) == 1  # no next occurrence was left behind


async def test_through_a_pooler_a_one_statement_write_stays_in_the_transaction(engine):
    """A pooler may run a statement prepared outside a transaction on another connection."""
    user = other_user()
    async with _api_session(engine, direct=False) as session:
        task = await create_task(session, user, CreateTask(title="t"))
        await set_completion(session, user, task.id, SetCompletion())
        assert session.in_transaction()
        await session.rollback()
    assert await _version_seen_elsewhere(engine, task.id) is None
