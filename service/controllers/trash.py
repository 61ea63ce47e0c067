"""`/api/{user_id}/trash`: deleted tasks, restorable until they are deleted for good."""

from typing import Annotated

from litestar import Response, delete, get, post
from litestar.params import QueryParameter

from commands import handlers as commands
from persistence.domain import PAGE_DEFAULT, PAGE_MAX, TASK_ID_MAX
from queries import handlers as queries
from queries.views import TaskView, TrashPage
from service.controllers.owned import (
    ETAG,
    IfMatchHeader,
    OwnedController,
    Session,
    TaskId,
    UserId,
    with_etag,
)
from service.etags import versions_named
from service.openapi import documented

Limit = Annotated[int, QueryParameter(ge=1, le=PAGE_MAX)]
Offset = Annotated[int, QueryParameter(ge=0, le=TASK_ID_MAX)]


class TrashController(OwnedController):
    path = "/api/{user_id:str}/trash"
    tags = ["trash"]

    @get(
        "/",
        **documented("listTrash"),
        summary="Deleted tasks, newest deletion first",
    )
    async def list_trash(
        self,
        read_session: Session,
        user_id: UserId,
        limit: Limit = PAGE_DEFAULT,
        offset: Offset = 0,
    ) -> TrashPage:
        return await queries.list_trash(read_session, user_id, limit, offset)

    @post(
        "/{task_id:int}/restore",
        **documented("restoreTask"),
        summary="Put a deleted task back as it was (its version moves on by one)",
        status_code=200,
        response_headers=[ETAG],
    )
    async def restore_task(
        self, db_session: Session, user_id: UserId, task_id: TaskId, if_match: IfMatchHeader = None
    ) -> Response[TaskView]:
        task = await commands.restore_task(db_session, user_id, task_id, versions_named(if_match))
        return with_etag(TaskView.from_row(task))

    @delete(
        "/{task_id:int}",
        **documented("purgeTask"),
        summary="Delete a task in the trash for good",
    )
    async def purge_task(self, db_session: Session, user_id: UserId, task_id: TaskId) -> None:
        await commands.purge_task(db_session, user_id, task_id)

    @delete(
        "/",
        **documented("emptyTrash"),
        summary="Delete every task in the trash for good",
    )
    async def empty_trash(self, db_session: Session, user_id: UserId) -> None:
        await commands.empty_trash(db_session, user_id)
