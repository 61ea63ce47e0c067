"""Read-side handlers: `(session, user_id, ...)` in, read models out, one round trip each."""

from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.domain import Priority, TaskNotFound, existing_task_id, utcnow
from persistence.models import Task
from queries.messages import ListTasks, Order, SortKey, Status
from queries.views import ByPriority, TaskPage, TaskStats, TaskView, TrashedTaskView, TrashPage

View = TypeVar("View", bound=TaskView)

# Core columns, not ORM attributes: the read side needs no identity map or ORM compilation.
# Selected in the order of the view's fields, so that rows become views by position.
_TASKS = Task.__table__
_T = _TASKS.c
_COLUMNS = [_T[name] for name in TaskView.__struct_fields__]
_LIVE = _T.deleted_at.is_(None)  # a task in the trash is absent from every task route
_GET_TASK = select(*_COLUMNS).where(
    _T.id == bindparam("task_id"), _T.user_id == bindparam("user_id"), _LIVE
)


async def get_task(session: AsyncSession, user_id: str, task_id: int) -> TaskView:
    params = {"task_id": existing_task_id(task_id), "user_id": user_id}
    row = (await session.execute(_GET_TASK, params)).one_or_none()
    if row is None:
        raise TaskNotFound(task_id)
    return TaskView.from_row(row)


# A list's statement depends on which filters it has and how it sorts, not on their values:
# built once per such shape, with the values bound at execution, as SQLAlchemy would otherwise
# build and fingerprint the statement afresh on every request.
_Shape = tuple[Status, bool, bool, bool, bool, bool, SortKey, Order]


def _shape(query: ListTasks) -> _Shape:
    return (
        query.status,
        bool(query.priorities),
        bool(query.tags),
        bool(query.text),
        query.due_before is not None,
        query.due_after is not None,
        query.sort,
        query.direction,
    )


def _params(user_id: str, query: ListTasks) -> dict[str, object]:
    return {
        "user_id": user_id,
        "priorities": list(query.priorities),
        "tags": list(query.tags),
        "text": _like_escaped(query.text or ""),
        "due_before": query.due_before,
        "due_after": query.due_after,
        "limit": query.limit,
        "offset": query.offset,
    }


_ESCAPE = "/"


def _like_escaped(text: str) -> str:
    """`text` matched literally by LIKE (SQLAlchemy's `autoescape` takes literals only)."""
    for special in (_ESCAPE, "%", "_"):
        text = text.replace(special, _ESCAPE + special)
    return text


@cache
def _list_statements(shape: _Shape) -> "_PageStatements":
    status, priorities, tags, text, due_before, due_after, sort, direction = shape
    filters: list[ColumnElement[bool]] = [_T.user_id == bindparam("user_id"), _LIVE]
    if status is not Status.ALL:
        filters.append(_T.completed.is_(status is Status.COMPLETED))
    if priorities:
        filters.append(_T.priority.in_(bindparam("priorities", expanding=True)))
    if tags:
        filters.append(_T.tags.contains(bindparam("tags", type_=_T.tags.type)))
    if text:
        pattern = bindparam("text", type_=_T.title.type)
        filters.append(
            or_(
                _T.title.icontains(pattern, escape=_ESCAPE),
                _T.description.icontains(pattern, escape=_ESCAPE),
            )
        )
    if due_before:
        filters.append(_T.due_date < bindparam("due_before", type_=_T.due_date.type))
    if due_after:
        filters.append(_T.due_date > bindparam("due_after", type_=_T.due_date.type))
    return _page_statements(TaskView, filters, _sort_keys(sort, direction))


_SORT_COLUMNS = {
    SortKey.CREATED: _T.created_at,
    SortKey.UPDATED: _T.updated_at,
    SortKey.TITLE: func.lower(_T.title),
    SortKey.DUE_DATE: _T.due_date,
    SortKey.PRIORITY: _T.priority,  # a native enum: sorts low < medium < high
}


def _sort_keys(sort: SortKey, direction: Order) -> tuple[ColumnElement, ColumnElement]:
    descending = direction is Order.DESC
    column = _SORT_COLUMNS[sort]
    key = column.desc() if descending else column.asc()
    if sort is SortKey.DUE_DATE:
        key = key.nulls_last()
    tie_breaker = _T.id.desc() if descending else _T.id.asc()
    return key, tie_breaker


class _PageStatements(NamedTuple):
    rows: Select  # one page, each row with the count of all matches
    count: Select  # the count alone, for a page past the end


def _page_statements(
    view: type[TaskView], filters: list[ColumnElement[bool]], order_by: tuple[ColumnElement, ...]
) -> _PageStatements:
    """The count is a subquery of its own, not `count(*) OVER ()`: a window reads every match
    from the table before the first row is out, where the subquery counts them off an index
    (visiting the table only for rows written since the last vacuum) and the page reads only
    its own rows. `correlate(None)` keeps the subquery's `tasks` its own."""
    count = select(func.count()).select_from(_TASKS).where(*filters)
    columns = [_T[name] for name in view.__struct_fields__]
    rows = (
        select(*columns, count.correlate(None).scalar_subquery().label("total"))
        .where(*filters)
        .order_by(*order_by)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return _PageStatements(rows, count)


async def _page(
    session: AsyncSession, view: type[View], statements: _PageStatements, params: dict[str, object]
) -> tuple[list[View], int]:
    """One page of rows as `view`, and how many rows match in all, in one round trip."""
    rows = (await session.execute(statements.rows, params)).all()
    if rows:
        total = rows[0].total
    else:  # a page past the end still reports how many tasks match
        total = await session.scalar(statements.count, params)
    return [view.from_row(row) for row in rows], total or 0


async def list_tasks(session: AsyncSession, user_id: str, query: ListTasks) -> TaskPage:
    statements = _list_statements(_shape(query))
    items, total = await _page(session, TaskView, statements, _params(user_id, query))
    return TaskPage(items=items, total=total, limit=query.limit, offset=query.offset)


def _count(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(and_(*conditions)) if conditions else func.count()


_PENDING = _T.completed.is_(False)
_STATS = select(
    _count().label("total"),
    _count(_T.completed.is_(True)).label("completed"),
    _count(_PENDING, _T.due_date < bindparam("now")).label("overdue"),
    _count(
        _PENDING, _T.due_date >= bindparam("day_start"), _T.due_date < bindparam("day_end")
    ).label("due_today"),
    *(_count(_T.priority == level).label(level.value) for level in Priority),
).where(_T.user_id == bindparam("user_id"), _LIVE)


async def task_stats(session: AsyncSession, user_id: str, now: datetime | None = None) -> TaskStats:
    now = (now or utcnow()).astimezone(UTC)  # `due_today` is the current UTC day
    day_start = datetime.combine(now.date(), time.min, tzinfo=UTC)
    params = {
        "user_id": user_id,
        "now": now,
        "day_start": day_start,
        "day_end": day_start + timedelta(days=1),
    }
    row = (await session.execute(_STATS, params)).one()
    return TaskStats(
        total=row.total,
        completed=row.completed,
        pending=row.total - row.completed,
        overdue=row.overdue,
        due_today=row.due_today,
        by_priority=ByPriority(low=row.low, medium=row.medium, high=row.high),
    )


_TRASH = _page_statements(
    TrashedTaskView,
    [_T.user_id == bindparam("user_id"), _T.deleted_at.is_not(None)],
    (_T.deleted_at.desc(), _T.id.desc()),
)


async def list_trash(session: AsyncSession, user_id: str, limit: int, offset: int) -> TrashPage:
    """The user's deleted tasks, newest deletion first."""
    params = {"user_id": user_id, "limit": limit, "offset": offset}
    items, total = await _page(session, TrashedTaskView, _TRASH, params)
    return TrashPage(items=items, total=total, limit=limit, offset=offset)
