"""The change feed: every task of a user that changed after a cursor, once each, latest state.

Writes number each user's changes from one counter whose row they hold locked until they
commit, so one user's changes become visible in the order of their numbers: a reader that has
seen change n has seen every change before it, and the feed never skips one. A cursor is the
position (change number, task id) of the last change it covers, and when it was issued.
"""

import base64
import binascii
import time
from datetime import timedelta
from typing import NamedTuple

import msgspec
from sqlalchemy import Boolean, Select, and_, literal, null, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.domain import CursorExpired, InvalidField
from persistence.models import Task, TaskTombstone
from queries.views import Change, ChangePage, TaskDeleted, TaskUpserted, TaskView


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    seq: int
    task_id: int
    issued: int  # Unix seconds: how old the client's knowledge of deletions is


START = Cursor(0, 0, 0)


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(text: str, field: str = "since") -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidField(field, "is not a cursor this API issued") from None
    if min(cursor.seq, cursor.task_id, cursor.issued) < 0:
        raise InvalidField(field, "is not a cursor this API issued")
    return cursor


_T = Task.__table__.c
_GONE = TaskTombstone.__table__.c
_TASK_COLUMNS = [_T[name] for name in TaskView.__struct_fields__]


def _tasks_after(user_id: str, after: Cursor, *, live_only: bool) -> Select:
    where = [_T.user_id == user_id, tuple_(_T.change_seq, _T.id) > (after.seq, after.task_id)]
    if live_only:
        where.append(_T.deleted_at.is_(None))
    deleted = _T.deleted_at.is_not(None).label("deleted")
    return select(_T.change_seq.label("seq"), deleted, *_TASK_COLUMNS).where(*where)


def _tombstones_after(user_id: str, after: Cursor) -> Select:
    """Tasks deleted for good: only their id, in the columns of `_tasks_after`."""
    columns = [
        _GONE.task_id.label("id") if column.name == "id" else null().label(column.name)
        for column in _TASK_COLUMNS
    ]
    return select(
        _GONE.change_seq.label("seq"), literal(True, Boolean).label("deleted"), *columns
    ).where(
        and_(
            _GONE.user_id == user_id,
            tuple_(_GONE.change_seq, _GONE.task_id) > (after.seq, after.task_id),
        )
    )


def _change(row: object) -> Change:
    if row.deleted:
        return TaskDeleted(id=row.id)
    return TaskUpserted(id=row.id, task=TaskView.of(row))


class PositionedChange(NamedTuple):
    change: Change
    cursor: Cursor  # positioned at this change: resuming from it gives what came after it


class PositionedPage(NamedTuple):
    changes: list[PositionedChange]
    cursor: Cursor
    has_more: bool


def check_fresh(since: Cursor, retention: timedelta, now: float) -> None:
    """A cursor older than `retention` may have missed deletions that are forgotten by now."""
    if since.issued < now - retention.total_seconds():
        raise CursorExpired


async def positioned_changes(
    session: AsyncSession,
    user_id: str,
    since: Cursor | None,
    limit: int,
    retention: timedelta,
    now: float | None = None,
) -> PositionedPage:
    """The page `changes_since` answers, each change with the cursor positioned at it."""
    now = int(now if now is not None else time.time())
    if since is not None:
        check_fresh(since, retention, now)
    after = since or START
    tasks = _tasks_after(user_id, after, live_only=since is None)
    changes = tasks if since is None else union_all(tasks, _tombstones_after(user_id, after))
    ordered = select(changes.subquery()).order_by("seq", "id").limit(limit + 1)
    rows = (await session.execute(ordered)).all()
    page, has_more = rows[:limit], len(rows) > limit

    def issued(index: int) -> int:
        """A position covers everything until now at the end of a complete answer, and anywhere
        in a full sync (which holds nothing whose deletion it could miss); short of that, only
        what `since` covered when it was issued."""
        if since is None or (index == len(page) - 1 and not has_more):
            return now
        return since.issued

    positioned = [
        PositionedChange(_change(row), Cursor(row.seq, row.id, issued(index)))
        for index, row in enumerate(page)
    ]
    end = positioned[-1].cursor if positioned else Cursor(after.seq, after.task_id, now)
    return PositionedPage(positioned, end, has_more)


async def changes_since(
    session: AsyncSession,
    user_id: str,
    since: Cursor | None,
    limit: int,
    retention: timedelta,
    now: float | None = None,
) -> ChangePage:
    """Without `since`, a full sync: every current task. With it, every task changed after it,
    deletions included; a `since` older than `retention` may have missed deletions (410)."""
    page = await positioned_changes(session, user_id, since, limit, retention, now)
    return ChangePage(
        changes=[positioned.change for positioned in page.changes],
        cursor=encode_cursor(page.cursor),
        has_more=page.has_more,
    )
