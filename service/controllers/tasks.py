"""`/api/{user_id}/tasks`: writes go to command handlers, reads to query handlers."""

import hashlib
from typing import Annotated

import msgspec
from litestar import Request, Response, delete, get, patch, post, put
from litestar.datastructures import ResponseHeader
from litestar.openapi.spec import Example
from litestar.params import (
    Body,
    FromQuery,
    HeaderParameter,
    JSONBody,
    QueryParameter,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commands import handlers as commands
from commands import idempotency
from commands.messages import CreateTask, PatchTask, ReplaceTask, SetCompletion
from persistence.domain import (
    PAGE_DEFAULT,
    PAGE_MAX,
    SEARCH_MAX,
    TAGS_MAX,
    TASK_ID_MAX,
    Priority,
    clean_idempotency_key,
    parse_instant,
)
from queries import handlers as queries
from queries.messages import ListTasks, Order, SortKey, Status
from queries.views import TaskPage, TaskStats, TaskView
from service.controllers.owned import (
    ETAG,
    IfMatchHeader,
    OwnedController,
    Session,
    TaskId,
    UserId,
    with_etag,
)
from service.etags import etag, still_current, versions_named
from service.openapi import documented


def created(request: Request, task: TaskView) -> Response[TaskView]:
    location = f"{request.url.path.rstrip('/')}/{task.id}"
    return Response(
        task, status_code=201, headers={"Location": location, "ETag": etag(task.version)}
    )


LOCATION = ResponseHeader(
    name="Location", value="/api/me/tasks/1", description="The new task", documentation_only=True
)
# Taken as text and parsed strictly: Litestar's lax conversion reads a bare number as a date.
Instant = Annotated[
    str | None,
    QueryParameter(description="RFC 3339, with an offset", schema_extra={"format": "date-time"}),
]


async def _create_once(
    session: AsyncSession, user_id: str, message: CreateTask, key: str
) -> TaskView:
    """The task this key first created, or a new one, remembered under the key."""
    request_hash = hashlib.sha256(msgspec.json.encode(message)).digest()
    replay = await idempotency.claim_key(session, user_id, key, request_hash)
    if replay is not None:
        return msgspec.json.decode(replay, type=TaskView)
    task = TaskView.from_row(await commands.create_task(session, user_id, message))
    await idempotency.store_response(session, user_id, key, msgspec.json.encode(task))
    return task


IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match", description="304 with no body if the task is still at this ETag"
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="1-255 visible characters. A retry with the same key and body within 24 "
        "hours gets the first response and creates nothing.",
    ),
]


class TaskController(OwnedController):
    path = "/api/{user_id:str}/tasks"
    tags = ["tasks"]

    @get(
        "/",
        **documented("listTasks"),
        summary="List, filter, sort and page the user's tasks",
    )
    async def list_tasks(
        self,
        read_session: Session,
        user_id: UserId,
        status: FromQuery[Status] = Status.ALL,
        priority: FromQuery[list[Priority] | None] = None,
        tag: Annotated[
            list[str] | None,
            QueryParameter(max_items=TAGS_MAX, description="Tasks carrying all of these tags"),
        ] = None,
        q: Annotated[
            str | None,
            QueryParameter(max_length=SEARCH_MAX, description="Searched in title and description"),
        ] = None,
        due_before: Instant = None,
        due_after: Instant = None,
        sort: FromQuery[SortKey] = SortKey.CREATED,
        order: Annotated[
            Order | None,
            QueryParameter(description="Default: desc for created, updated and priority, else asc"),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
        offset: Annotated[int, QueryParameter(ge=0, le=TASK_ID_MAX)] = 0,
    ) -> TaskPage:
        query = ListTasks(
            status=status,
            priorities=tuple(priority or ()),
            tags=tuple(tag or ()),
            text=q or None,
            due_before=parse_instant("due_before", due_before),
            due_after=parse_instant("due_after", due_after),
            sort=sort,
            order=order,
            limit=limit,
            offset=offset,
        )
        return await queries.list_tasks(read_session, user_id, query)

    @post(
        "/",
        **documented("createTask"),
        summary="Create a task",
        response_headers=[LOCATION, ETAG],
    )
    async def create_task(
        self,
        request: Request,
        db_session: Session,
        user_id: UserId,
        data: Annotated[CreateTask, Body(examples=[Example(value={"title": "Buy milk"})])],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[TaskView]:
        if idempotency_key is None:
            task = TaskView.from_row(await commands.create_task(db_session, user_id, data))
        else:
            key = clean_idempotency_key(idempotency_key)
            task = await _create_once(db_session, user_id, data, key)
        return created(request, task)

    @get(
        "/stats",
        **documented("taskStats"),
        summary="Counts for a dashboard",
    )
    async def task_stats(self, read_session: Session, user_id: UserId) -> TaskStats:
        return await queries.task_stats(read_session, user_id)

    @get(
        "/{task_id:int}",
        **documented("getTask"),
        summary="Get one task",
        response_headers=[ETAG],
    )
    async def get_task(
        self,
        read_session: Session,
        user_id: UserId,
        task_id: TaskId,
        if_none_match: IfNoneMatch = None,
    ) -> Response[TaskView]:
        task = await queries.get_task(read_session, user_id, task_id)
        if still_current(if_none_match, task.version):
            return Response(None, status_code=304, headers={"ETag": etag(task.version)})
        return with_etag(task)

    @put(
        "/{task_id:int}",
        **documented("replaceTask"),
        summary="Replace the editable fields; a field left out takes its default",
        response_headers=[ETAG],
    )
    async def replace_task(
        self,
        db_session: Session,
        user_id: UserId,
        task_id: TaskId,
        data: JSONBody[ReplaceTask],
        if_match: IfMatchHeader = None,
    ) -> Response[TaskView]:
        task = await commands.replace_task(
            db_session, user_id, task_id, data, versions_named(if_match)
        )
        return with_etag(TaskView.from_row(task))

    @patch(
        "/{task_id:int}",
        **documented("patchTask"),
        summary="Change the fields sent (JSON merge patch); null clears a nullable field",
        response_headers=[ETAG],
    )
    async def patch_task(
        self,
        db_session: Session,
        user_id: UserId,
        task_id: TaskId,
        data: JSONBody[PatchTask],
        if_match: IfMatchHeader = None,
    ) -> Response[TaskView]:
        task = await commands.patch_task(
            db_session, user_id, task_id, data, versions_named(if_match)
        )
        return with_etag(TaskView.from_row(task))

    @patch(
        "/{task_id:int}/complete",
        **documented("completeTask"),
        summary='Toggle completion, or set it with {"completed": true|false}',
        description="Completing a recurring task that has a due date creates its next occurrence.",
        response_headers=[ETAG],
    )
    async def complete_task(
        self,
        db_session: Session,
        user_id: UserId,
        task_id: TaskId,
        if_match: IfMatchHeader = None,
        data: JSONBody[SetCompletion | None] = None,
    ) -> Response[TaskView]:
        message = data or SetCompletion()
        task = await commands.set_completion(
            db_session, user_id, task_id, message, versions_named(if_match)
        )
        return with_etag(TaskView.from_row(task))

    @delete(
        "/{task_id:int}",
        **documented("deleteTask"),
        summary="Move a task to the trash",
    )
    async def delete_task(
        self, db_session: Session, user_id: UserId, task_id: TaskId, if_match: IfMatchHeader = None
    ) -> None:
        await commands.delete_task(db_session, user_id, task_id, versions_named(if_match))
