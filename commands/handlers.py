"""Write-side handlers: `(session, user_id, ...)` in, the written `Task` out.

Each reads top to bottom: load the task (owned, locked), decide the changes, write them, and
roll a recurring task over when the write completed it. Every statement filters on the acting
user, so another user's task cannot even be loaded. Handlers flush but never commit: the
caller (the HTTP edge, or a test) owns the transaction.
"""

from collections.abc import Mapping

import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, and_, delete, select
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
from persistence.models import Task


async def create_task(session: AsyncSession, user_id: str, message: CreateTask) -> Task:
    task = Task(user_id=user_id, **msgspec.structs.asdict(message), series_start=message.due_date)
    task.updated_at = task.created_at
    if task.completed:
        task.completed_at = task.created_at
    session.add(task)
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
    task = await _load_for_update(session, user_id, task_id, if_match)
    changed = _write(task, msgspec.structs.asdict(message))
    if "completed" in changed:
        _roll_over(session, task)
    await session.flush()
    return task


async def patch_task(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: PatchTask,
    if_match: Versions = None,
) -> Task:
    task = await _load_for_update(session, user_id, task_id, if_match)
    changed = _write(task, message.changes())
    if "completed" in changed:
        _roll_over(session, task)
    await session.flush()
    return task


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
    condition = _owned_by(user_id, task_id)
    if if_match is not None:
        condition = and_(condition, Task.version.in_(if_match))
    deleted = await session.scalar(delete(Task).where(condition).returning(Task.id))
    if deleted is None:  # say why: no such task, or it has moved on
        await _load_for_update(session, user_id, task_id)
        raise PreconditionFailed(task_id)


# --- the steps ---------------------------------------------------------------------------------


def _owned_by(user_id: str, task_id: int) -> ColumnElement[bool]:
    return and_(Task.id == existing_task_id(task_id), Task.user_id == user_id)


async def _load_for_update(
    session: AsyncSession, user_id: str, task_id: int, if_match: Versions = None
) -> Task:
    """The task, locked until the transaction ends, so checking `If-Match` and writing are one
    step: of several writers naming the same version, exactly one gets through."""
    task = await session.scalar(select(Task).where(_owned_by(user_id, task_id)).with_for_update())
    if task is None:
        raise TaskNotFound(task_id)
    if if_match is not None and task.version not in if_match:
        raise PreconditionFailed(task_id)
    return task


# A change to any of these starts a recurring task's series afresh from its due date.
_SERIES_FIELDS = frozenset({"due_date", "time_zone", "recurrence"})


def _write(task: Task, values: Mapping[str, object]) -> set[str]:
    """Write the values that differ and return their names. A real change moves `version` and
    `updated_at`; a change of `completed` stamps or clears `completed_at`; a change of the due
    date, zone or rule restarts the series."""
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
    return set(changed)


def _roll_over(session: AsyncSession, task: Task) -> None:
    """Add the next occurrence of a completed recurring task, once per task: completing it
    again after reopening adds nothing."""
    if not task.completed or task.rolled_over:
        return
    follow_up = _next_occurrence(task)
    if follow_up is not None:
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
