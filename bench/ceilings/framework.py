"""Ceiling (a): one task route behind the service's JWT check, answered from memory."""

from datetime import UTC, datetime

from litestar import get

from bench.ceilings import authenticated_app, path_user_is_token_user
from persistence.domain import TIME_ZONE_DEFAULT, Priority, Recurrence
from queries.views import TaskView

_CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@get("/api/{user_id:str}/tasks/{task_id:int}", guards=[path_user_is_token_user])
async def get_task(user_id: str, task_id: int) -> TaskView:
    return TaskView(
        id=task_id,
        user_id=user_id,
        title="A task from memory",
        description=None,
        completed=False,
        completed_at=None,
        priority=Priority.MEDIUM,
        tags=["bench"],
        due_date=None,
        time_zone=TIME_ZONE_DEFAULT,
        recurrence=Recurrence.NONE,
        created_at=_CREATED,
        updated_at=_CREATED,
        version=1,
    )


app = authenticated_app([get_task])
