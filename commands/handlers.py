"""Write-side handlers: `(session, user_id, ...)` in, the written task's row out.

Each reads top to bottom: load the task (owned, locked), decide the changes, write them in one
`UPDATE ... RETURNING`, and roll a recurring task over when the write completed it. Every write
that changes a task takes the owner's next change number, which orders the change feed (see
`ChangeCounter`), and is announced to listeners once it commits (`changed`). Every statement
filters on the acting user, so another user's task cannot even be loaded. Statements are SQL
expressions run on the session, not ORM instances: a write needs no identity map or unit of
work, which cost more than the statements themselves. Handlers never commit what they wrote:
the caller (the HTTP edge, or a test) owns the transaction. A write that is a single statement
runs on its own when the caller has not begun one (`_alone`).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import msgspec
from msgspec import UNSET
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Executable,
    Insert,
    Row,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    not_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from commands.messages import CreateTask, PatchTask, ReplaceTask, SetCompletion
from commands.recurrence import next_occurrence
from persistence.announcements import changed
from persistence.database import AUTOCOMMIT_SAFE
from persistence.domain import (
    VERSION_MAX,
    PreconditionFailed,
    Recurrence,
    TaskNotFound,
    Versions,
    existing_task_id,
    utcnow,
)
from persistence.models import Task, TaskTombstone, next_change
from queries.views import TaskView

TaskRow = Row[Any]

_TASKS = Task.__table__
_C = _TASKS.c
# Every column, those of the read model first and in its order, so that a written row becomes
# a `TaskView` by position.
_RETURNED = [
    *(_C[name] for name in TaskView.__struct_fields__),
    *(column for column in _C if column.name not in TaskView.__struct_fields__),
]


async def create_task(session: AsyncSession, user_id: str, message: CreateTask) -> TaskRow:
    """One statement, on its own, unless the task is created completed and may roll over."""
    now = utcnow()
    fields = msgspec.structs.asdict(message)
    fields |= {"series_start": message.due_date, "completed_at": now if message.completed else None}
    if not message.completed:
        params = _insert_params(user_id, fields, now)
        return cast(TaskRow, await _alone(session, _INSERT, params))
    return await _roll_over(session, await _insert(session, user_id, fields, now))


async def replace_task(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: ReplaceTask,
    if_match: Versions = None,
) -> TaskRow:
    task = await _load_for_update(session, user_id, task_id, if_match)
    return await _edit(session, task, msgspec.structs.asdict(message))


async def patch_task(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: PatchTask,
    if_match: Versions = None,
) -> TaskRow:
    task = await _load_for_update(session, user_id, task_id, if_match)
    return await _edit(session, task, message.changes())


async def set_completion(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    message: SetCompletion,
    if_match: Versions = None,
) -> TaskRow:
    """Toggle completion, or set it. Usually one statement; the general path (load, decide,
    write) when that one wrote nothing: a completion that adds a recurring task's next
    occurrence, a value that is already set, a task that is absent or fails `If-Match`."""
    toggle = message.completed is UNSET
    params = {
        "task_id": existing_task_id(task_id),
        "owner": user_id,
        "target": message.completed,
        "versions": [v for v in if_match or () if v <= VERSION_MAX],
        "now": utcnow(),
    }
    written = await _alone(session, _COMPLETIONS[toggle, if_match is not None], params)
    if written is not None:
        return written
    task = await _load_for_update(session, user_id, task_id, if_match)
    completed = not task.completed if toggle else message.completed
    return await _edit(session, task, {"completed": completed})


async def delete_task(
    session: AsyncSession, user_id: str, task_id: int, if_match: Versions = None
) -> None:
    """Move a task to the trash, from where it can be restored as it was."""
    task = await _load_for_update(session, user_id, task_id, if_match)
    await _update(session, task, {"deleted_at": utcnow(), **_change(task.user_id)})


# --- the trash ---------------------------------------------------------------------------------


async def restore_task(
    session: AsyncSession, user_id: str, task_id: int, if_match: Versions = None
) -> TaskRow:
    """Bring a task back from the trash unchanged but for its version."""
    task = await _load_for_update(session, user_id, task_id, if_match, in_trash=True)
    values = {"deleted_at": None, "version": task.version + 1, **_change(task.user_id)}
    return await _update(session, task, values)


async def purge_task(session: AsyncSession, user_id: str, task_id: int) -> None:
    """Delete a task in the trash for good."""
    purged = await session.scalar(_purge(_owned(existing_task_id(task_id), user_id, in_trash=True)))
    if purged is None:
        raise TaskNotFound(task_id)


async def empty_trash(session: AsyncSession, user_id: str) -> None:
    await session.execute(_purge(and_(_C.user_id == user_id, _C.deleted_at.is_not(None))))


async def purge_expired(session: AsyncSession, cutoff: datetime) -> None:
    """Delete for good what has been in the trash since before `cutoff`, and forget the
    tombstones of tasks purged before it. Runs in the background, for every user."""
    await session.execute(_purge(_C.deleted_at < cutoff))
    await session.execute(delete(TaskTombstone).where(TaskTombstone.purged_at < cutoff))


def _purge(condition: ColumnElement[bool]) -> Insert:
    """Delete the tasks that meet `condition`, leaving a tombstone for the change feed."""
    gone = delete(_TASKS).where(condition).returning(_C.user_id, _C.id, _C.change_seq).cte()
    return (
        insert(TaskTombstone)
        .from_select(["user_id", "task_id", "change_seq", "purged_at"], select(gone, func.now()))
        .returning(TaskTombstone.task_id)
    )


# --- the steps ---------------------------------------------------------------------------------


async def _alone(
    session: AsyncSession, statement: Executable, params: Mapping[str, object]
) -> TaskRow | None:
    """The row the statement wrote to a task of `params`' owner, run on its own (autocommit)
    when the session has no transaction yet: a write that is one statement needs none, and then
    holds its locks (the owner's change counter among them) only while it runs, not until the
    response is built and the session committed. The session is left as it was found, with no
    transaction. A session already in one, or whose connections go through a transaction
    pooler (see `AUTOCOMMIT_SAFE`), runs the statement in a transaction. The statement runs on
    the session's connection: the session's own `execute` adds the ORM's path, which a SQL
    expression does not need, to every write. The steps run as one call into the session's
    synchronous core, which the async session enters and leaves once instead of at each step."""
    alone = not session.in_transaction() and session.info.get(AUTOCOMMIT_SAFE)

    def run(core: Session) -> TaskRow | None:
        connection = core.connection(execution_options=_AUTOCOMMIT if alone else None)
        row = connection.execute(statement, params).one_or_none()
        if row is not None:
            changed(core, row.user_id)
        if alone:
            core.commit()  # commits nothing more: hands back the connection, announces
        return row

    return await session.run_sync(run)


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _owned(task_id: object, user_id: object, *, in_trash: bool) -> ColumnElement[bool]:
    where = _C.deleted_at.is_not(None) if in_trash else _C.deleted_at.is_(None)
    return and_(_C.id == task_id, _C.user_id == user_id, where)


# Built once: `_load_for_update` runs on every edit.
_LOCKED = {
    in_trash: select(*_RETURNED)
    .where(_owned(bindparam("task_id"), bindparam("owner"), in_trash=in_trash))
    .with_for_update()
    for in_trash in (False, True)
}

# A task that adds its next occurrence when completed (unless its rule has ended).
_ROLLS_OVER = and_(_C.recurrence != Recurrence.NONE, _C.due_date.is_not(None), not_(_C.rolled_over))


def _completion(*, toggle: bool, conditional: bool) -> Update:
    """Set `completed` (`toggle`: flip it) and what follows, only if that changes it and adds
    no next occurrence; `conditional`: only at one of `If-Match`'s versions. The task is locked
    before its owner's change counter, as on the general path."""
    owned = _owned(bindparam("task_id"), bindparam("owner"), in_trash=False)
    locked = select(_C.id).where(owned).with_for_update().cte("locked")
    target = not_(_C.completed) if toggle else bindparam("target", type_=Boolean)
    conditions = [_C.id == locked.c.id, not_(and_(target, _ROLLS_OVER))]
    if not toggle:
        conditions.append(_C.completed.is_distinct_from(target))
    if conditional:
        conditions.append(_C.version.in_(bindparam("versions", expanding=True)))
    now = bindparam("now", type_=DateTime(timezone=True))
    return (
        sql_update(_TASKS)
        .where(*conditions)
        .values(
            completed=target,
            completed_at=case((target, now), else_=None),
            updated_at=now,
            version=_C.version + 1,
            change_seq=next_change(bindparam("owner")),
        )
        .returning(*_RETURNED)
    )


# Built once, as SQLAlchemy would otherwise build and fingerprint a statement per request.
_COMPLETIONS = {
    (toggle, conditional): _completion(toggle=toggle, conditional=conditional)
    for toggle in (True, False)
    for conditional in (True, False)
}
_INSERT = insert(_TASKS).values(change_seq=next_change(bindparam("owner"))).returning(*_RETURNED)


async def _load_for_update(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    if_match: Versions = None,
    *,
    in_trash: bool = False,
) -> TaskRow:
    """The task, locked until the transaction ends, so checking `If-Match` and writing are one
    step: of several writers naming the same version, exactly one gets through."""
    params = {"task_id": existing_task_id(task_id), "owner": user_id}
    task = (await session.execute(_LOCKED[in_trash], params)).one_or_none()
    if task is None:
        raise TaskNotFound(task_id)
    if if_match is not None and task.version not in if_match:
        raise PreconditionFailed(task_id)
    return task


async def _insert(
    session: AsyncSession, user_id: str, fields: Mapping[str, object], now: datetime
) -> TaskRow:
    changed(session, user_id)
    return (await session.execute(_INSERT, _insert_params(user_id, fields, now))).one()


def _insert_params(user_id: str, fields: Mapping[str, object], now: datetime) -> dict[str, object]:
    return {
        **fields,
        "user_id": user_id,
        "owner": user_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


async def _update(session: AsyncSession, task: TaskRow, values: Mapping[str, object]) -> TaskRow:
    changed(session, task.user_id)
    statement = sql_update(_TASKS).where(_C.id == task.id).values(**values)
    return (await session.execute(statement.returning(*_RETURNED))).one()


async def _edit(session: AsyncSession, task: TaskRow, values: Mapping[str, object]) -> TaskRow:
    """Write the values that differ, and roll the task over if that completed it."""
    changes = _changes(task, values)
    if not changes:
        return task
    written = await _update(session, task, changes)
    return await _roll_over(session, written) if "completed" in changes else written


# A change to any of these starts a recurring task's series afresh from its due date.
_SERIES_FIELDS = frozenset({"due_date", "time_zone", "recurrence"})


def _changes(task: TaskRow, values: Mapping[str, object]) -> dict[str, object]:
    """The values that differ, and what follows from them. A real change moves `version` and
    `updated_at` and is recorded for the change feed; a change of `completed` stamps or clears
    `completed_at`; a change of the due date, zone or rule restarts the series."""
    changed = {name: value for name, value in values.items() if getattr(task, name) != value}
    if not changed:
        return {}
    now = utcnow()
    if "completed" in changed:
        changed["completed_at"] = now if changed["completed"] else None
    if _SERIES_FIELDS & changed.keys():
        changed["series_start"] = changed.get("due_date", task.due_date)
    return changed | {"updated_at": now, "version": task.version + 1, **_change(task.user_id)}


def _change(user_id: str) -> dict[str, ColumnElement[int]]:
    """The owner's next change number, taken in the statement that writes the task: so after
    the task's row lock, always."""
    return {"change_seq": next_change(user_id)}


async def _roll_over(session: AsyncSession, task: TaskRow) -> TaskRow:
    """Add the next occurrence of a completed recurring task, once per task: completing it
    again after reopening adds nothing."""
    if not task.completed or task.rolled_over:
        return task
    follow_up = _next_occurrence(task)
    if follow_up is None:
        return task
    rolled = await _update(session, task, {"rolled_over": True})
    await _insert(session, task.user_id, follow_up, utcnow())
    return rolled


def _next_occurrence(task: TaskRow) -> dict[str, object] | None:
    """The fields of the task's next occurrence: the same, not completed, due at the rule's
    next date after both its due date and now, in the same series."""
    if task.due_date is None:
        return None
    series_start = task.series_start or task.due_date
    due_date = next_occurrence(
        task.recurrence, task.time_zone, series_start, task.due_date, utcnow()
    )
    if due_date is None:
        return None
    return {
        "title": task.title,
        "description": task.description,
        "completed": False,
        "priority": task.priority,
        "tags": list(task.tags),
        "due_date": due_date,
        "time_zone": task.time_zone,
        "recurrence": task.recurrence,
        "series_start": series_start,
    }
