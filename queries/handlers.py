"""Read-side handlers: `(session, user_id, ...)` in, read models out, one round trip each."""

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.errors import TaskNotFound
from persistence.models import MAX_TASK_ID, Priority, Task, utcnow
from queries.messages import ListTasks, Order, SortKey, Status
from queries.views import ByPriority, TaskPage, TaskStats, TaskView

_COLUMNS = [getattr(Task, name) for name in TaskView.__struct_fields__]


async def get_task(session: AsyncSession, user_id: str, task_id: int) -> TaskView:
    if not 1 <= task_id <= MAX_TASK_ID:
        raise TaskNotFound(task_id)
    statement = select(*_COLUMNS).where(Task.id == task_id, Task.user_id == user_id)
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        raise TaskNotFound(task_id)
    return TaskView.of(row)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(user_id: str, query: ListTasks) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [Task.user_id == user_id]
    if query.status is not Status.ALL:
        filters.append(Task.completed.is_(query.status is Status.COMPLETED))
    if query.priorities:
        filters.append(Task.priority.in_(query.priorities))
    if query.tags:
        filters.append(Task.tags.contains(list(query.tags)))
    if query.text:
        pattern = f"%{_escape_like(query.text)}%"
        filters.append(or_(Task.title.ilike(pattern), Task.description.ilike(pattern)))
    if query.due_before is not None:
        filters.append(Task.due_date < query.due_before)
    if query.due_after is not None:
        filters.append(Task.due_date > query.due_after)
    return filters


_SORT_COLUMNS = {
    SortKey.CREATED: Task.created_at,
    SortKey.UPDATED: Task.updated_at,
    SortKey.TITLE: func.lower(Task.title),
    SortKey.DUE_DATE: Task.due_date,
    SortKey.PRIORITY: Task.priority,  # a native enum: sorts low < medium < high
}


def _ordered(statement: Select, query: ListTasks) -> Select:
    descending = query.direction is Order.DESC
    column = _SORT_COLUMNS[query.sort]
    key = column.desc() if descending else column.asc()
    if query.sort is SortKey.DUE_DATE:
        key = key.nulls_last()
    tie_breaker = Task.id.desc() if descending else Task.id.asc()
    return statement.order_by(key, tie_breaker)


async def list_tasks(session: AsyncSession, user_id: str, query: ListTasks) -> TaskPage:
    filters = _filters(user_id, query)
    statement = (
        select(*_COLUMNS, func.count().over().label("total"))
        .where(*filters)
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = (await session.execute(_ordered(statement, query))).all()
    if rows:
        total = rows[0].total
    else:  # a page past the end still reports how many tasks match
        total = await session.scalar(select(func.count()).select_from(Task).where(*filters))
    items = [TaskView.of(row) for row in rows]
    return TaskPage(items=items, total=total or 0, limit=query.limit, offset=query.offset)


async def task_stats(session: AsyncSession, user_id: str, now: datetime | None = None) -> TaskStats:
    now = (now or utcnow()).astimezone(UTC)  # `due_today` is the current UTC day
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    pending = Task.completed.is_(False)

    def count(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(and_(*conditions)) if conditions else func.count()

    statement = select(
        count().label("total"),
        count(Task.completed.is_(True)).label("completed"),
        count(pending, Task.due_date < now).label("overdue"),
        count(
            pending,
            Task.due_date >= start_of_day,
            Task.due_date < start_of_day + timedelta(days=1),
        ).label("due_today"),
        *(count(Task.priority == level).label(level.value) for level in Priority),
    ).where(Task.user_id == user_id)
    row = (await session.execute(statement)).one()
    return TaskStats(
        total=row.total,
        completed=row.completed,
        pending=row.total - row.completed,
        overdue=row.overdue,
        due_today=row.due_today,
        by_priority=ByPriority(low=row.low, medium=row.medium, high=row.high),
    )
