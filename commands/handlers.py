"""Write-side handlers: `(session, user_id, ...)` in, the written `Task` out.

Every statement filters on the acting user, so another user's task cannot even be loaded.
Handlers flush but never commit: the caller (the HTTP edge, or a test) owns the transaction.
"""

from collections.abc import Callable, Mapping

import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commands.messages import CreateTask, PatchTask, ReplaceTask, SetCompletion
from commands.recurrence import next_due_date
from persistence.errors import TaskNotFound
from persistence.models import Task, utcnow
from persistence.rules import existing_task_id


def _owned_by(user_id: str, task_id: int) -> ColumnElement[bool]:
    return and_(Task.id == existing_task_id(task_id), Task.user_id == user_id)


async def _load_for_update(session: AsyncSession, user_id: str, task_id: int) -> Task:
    task = await session.scalar(select(Task).where(_owned_by(user_id, task_id)).with_for_update())
    if task is None:
        raise TaskNotFound(task_id)
    return task


def _next_occurrence(task: Task) -> Task | None:
    if task.due_date is None:
        return None
    try:
        due_date = next_due_date(task.due_date, task.recurrence)
    except (OverflowError, ValueError):  # past the end of the calendar: no next occurrence
        return None
    if due_date is None:
        return None
    return Task(
        user_id=task.user_id,
        title=task.title,
        description=task.description,
        priority=task.priority,
        tags=list(task.tags),
        due_date=due_date,
        recurrence=task.recurrence,
    )


def _apply(session: AsyncSession, task: Task, changes: Mapping[str, object]) -> None:
    """Write the changed fields, keep `completed_at` and `version` right, and roll a
    recurring task on when it gets completed."""
    changed = {name: value for name, value in changes.items() if getattr(task, name) != value}
    if not changed:
        return
    now = utcnow()
    for name, value in changed.items():
        setattr(task, name, value)
    if "completed" in changed:
        task.completed_at = now if task.completed else None
        if task.completed and not task.rolled_over:
            follow_up = _next_occurrence(task)
            if follow_up is not None:
                session.add(follow_up)
                task.rolled_over = True
    task.updated_at = now
    task.version += 1


async def create_task(session: AsyncSession, user_id: str, message: CreateTask) -> Task:
    task = Task(user_id=user_id, **msgspec.structs.asdict(message))
    task.updated_at = task.created_at
    if task.completed:
        task.completed_at = task.created_at
    session.add(task)
    await session.flush()
    return task


async def _update(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    changes_for: Callable[[Task], Mapping[str, object]],
) -> Task:
    task = await _load_for_update(session, user_id, task_id)
    _apply(session, task, changes_for(task))
    await session.flush()
    return task


async def replace_task(
    session: AsyncSession, user_id: str, task_id: int, message: ReplaceTask
) -> Task:
    return await _update(session, user_id, task_id, lambda _: msgspec.structs.asdict(message))


async def patch_task(session: AsyncSession, user_id: str, task_id: int, message: PatchTask) -> Task:
    return await _update(session, user_id, task_id, lambda _: message.changes())


async def set_completion(
    session: AsyncSession, user_id: str, task_id: int, message: SetCompletion
) -> Task:
    def completion(task: Task) -> Mapping[str, object]:
        toggled = not task.completed
        return {"completed": toggled if message.completed is UNSET else message.completed}

    return await _update(session, user_id, task_id, completion)


async def delete_task(session: AsyncSession, user_id: str, task_id: int) -> None:
    deleted = await session.scalar(
        delete(Task).where(_owned_by(user_id, task_id)).returning(Task.id)
    )
    if deleted is None:
        raise TaskNotFound(task_id)
