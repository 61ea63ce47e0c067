"""Write-side handlers: `(session, user_id, ...)` in, the written `Task` out.

Each reads top to bottom: load the task (owned, locked), decide the changes, write them, and
roll a recurring task over when the write completed it. Every write that changes a task takes
the owner's next change number, which orders the change feed (see `ChangeCounter`). Every
statement filters on the acting user, so another user's task cannot even be loaded. Handlers
flush but never commit: the caller (the HTTP edge, or a test) owns the transaction.
"""

from collections.abc import Mapping
from datetime import datetime

import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, Insert, and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.messages import CreateTask, PatchTask, ReplaceTask, SetCompletion
from commands.recurrence import next_occurrence
from persistence.domain import (
    PreconditionFailed,
    TaskNotFound,
    Versions,
    existing_task_id,
    utcnow,
)
from persistence.models import Task, TaskTombstone, next_change


async def create_task(session: AsyncSession, user_id: str, message: CreateTask) -> Task:
    task = Task(user_id=user_id, **msgspec.structs.asdict(message), series_start=message.due_date)
    task.updated_at = task.created_at
    if task.completed:
        task.completed_at = task.created_at
    session.add(task)
    _record_change(task)
    _roll_over(session, task)
    await session.flush()
    return task


async def replace_task(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: ReplaceTask,
    if_match: Versions = None,
) -> Task:
    return await _edit(session, user_id, task_id, msgspec.structs.asdict(message), if_match)


async def patch_task(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: PatchTask,
    if_match: Versions = None,
) -> Task:
    return await _edit(session, user_id, task_id, message.changes(), if_match)


async def set_completion(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: SetCompletion,
    if_match: Versions = None,
) -> Task:
    task = await _load_for_update(session, user_id, task_id, if_match)
    completed = not task.completed if message.completed is UNSET else message.completed
    changed = _write(task, {"completed": completed})
    if "completed" in changed:
        _roll_over(session, task)
    await session.flush()
    return task


async def delete_task(
    session: AsyncSession, user_id: str, task_id: int, if_match: Versions = None
) -> None:
    """Move a task to the trash, from where it can be restored as it was."""
    task = await _load_for_update(session, user_id, task_id, if_match)
    task.deleted_at = utcnow()
    _record_change(task)
    await session.flush()


async def _edit(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    values: Mapping[str, object],
    if_match: Versions,
) -> Task:
    task = await _load_for_update(session, user_id, task_id, if_match)
    changed = _write(task, values)
    if "completed" in changed:
        _roll_over(session, task)
    await session.flush()
    return task


# --- the trash ---------------------------------------------------------------------------------


async def restore_task(
    session: AsyncSession, user_id: str, task_id: int, if_match: Versions = None
) -> Task:
    """Bring a task back from the trash unchanged but for its version."""
    task = await _load_for_update(session, user_id, task_id, if_match, in_trash=True)
    task.deleted_at = None
    task.version += 1
    _record_change(task)
    await session.flush()
    return task


async def purge_task(session: AsyncSession, user_id: str, task_id: int) -> None:
    """Delete a task in the trash for good."""
    purged = await session.scalar(_purge(_owned_by(user_id, task_id, in_trash=True)))
    if purged is None:
        raise TaskNotFound(task_id)


async def empty_trash(session: AsyncSession, user_id: str) -> None:
    await session.execute(_purge(and_(Task.user_id == user_id, Task.deleted_at.is_not(None))))


async def purge_expired(session: AsyncSession, cutoff: datetime) -> None:
    """Delete for good what has been in the trash since before `cutoff`, and forget the
    tombstones of tasks purged before it. Runs in the background, for every user."""
    await session.execute(_purge(Task.deleted_at < cutoff))
    await session.execute(delete(TaskTombstone).where(TaskTombstone.purged_at < cutoff))


def _purge(condition: ColumnElement[bool]) -> Insert:
    """Delete the tasks that meet `condition`, leaving a tombstone for the change feed."""
    gone = delete(Task).where(condition).returning(Task.user_id, Task.id, Task.change_seq).cte()
    return (
        insert(TaskTombstone)
        .from_select(["user_id", "task_id", "change_seq", "purged_at"], select(gone, func.now()))
        .returning(TaskTombstone.task_id)
    )


# --- the steps ---------------------------------------------------------------------------------


def _owned_by(user_id: str, task_id: int, *, in_trash: bool = False) -> ColumnElement[bool]:
    where = Task.deleted_at.is_not(None) if in_trash else Task.deleted_at.is_(None)
    return and_(Task.id == existing_task_id(task_id), Task.user_id == user_id, where)


async def _load_for_update(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    if_match: Versions = None,
    *,
    in_trash: bool = False,
) -> Task:
    """The task, locked until the transaction ends, so checking `If-Match` and writing are one
    step: of several writers naming the same version, exactly one gets through."""
    owned = _owned_by(user_id, task_id, in_trash=in_trash)
    task = await session.scalar(select(Task).where(owned).with_for_update())
    if task is None:
        raise TaskNotFound(task_id)
    if if_match is not None and task.version not in if_match:
        raise PreconditionFailed(task_id)
    return task


# A change to any of these starts a recurring task's series afresh from its due date.
_SERIES_FIELDS = frozenset({"due_date", "time_zone", "recurrence"})


def _write(task: Task, values: Mapping[str, object]) -> set[str]:
    """Write the values that differ and return their names. A real change moves `version` and
    `updated_at` and is recorded for the change feed; a change of `completed` stamps or clears
    `completed_at`; a change of the due date, zone or rule restarts the series."""
    changed = {name: value for name, value in values.items() if getattr(task, name) != value}
    if not changed:
        return set()
    now = utcnow()
    for name, value in changed.items():
        setattr(task, name, value)
    if "completed" in changed:
        task.completed_at = now if task.completed else None
    if _SERIES_FIELDS & changed.keys():
        task.series_start = task.due_date
    task.updated_at = now
    task.version += 1
    _record_change(task)
    return set(changed)


def _record_change(task: Task) -> None:
    """Give the task its owner's next change number and announce the change to listeners
    (delivered when the transaction commits), both in the statement that writes the task: so
    taken after the task's row lock, always."""
    task.change_seq = next_change(task.user_id)


def _roll_over(session: AsyncSession, task: Task) -> None:
    """Add the next occurrence of a completed recurring task, once per task: completing it
    again after reopening adds nothing."""
    if not task.completed or task.rolled_over:
        return
    follow_up = _next_occurrence(task)
    if follow_up is not None:
        _record_change(follow_up)
        session.add(follow_up)
        task.rolled_over = True


def _next_occurrence(task: Task) -> Task | None:
    """The task's next occurrence: the same fields, not completed, due at the rule's next date
    after both its due date and now, in the same series."""
    if task.due_date is None:
        return None
    series_start = task.series_start or task.due_date
    due_date = next_occurrence(
        task.recurrence, task.time_zone, series_start, task.due_date, utcnow()
    )
    if due_date is None:
        return None
    return Task(
        user_id=task.user_id,
        title=task.title,
        description=task.description,
        priority=task.priority,
        tags=list(task.tags),
        due_date=due_date,
        time_zone=task.time_zone,
        recurrence=task.recurrence,
        series_start=series_start,
    )
