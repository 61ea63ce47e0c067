"""What every route under `/api/{user_id}/` shares: the owner check, the path parameters,
the write session, and the task's ETag."""

from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import HeaderParameter, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.domain import TaskNotFound
from persistence.plugin import SQLAlchemyAsyncConfig
from queries.views import TaskView
from service.etags import etag
from service.json_body import strict_json_body

ME = "me"


def _check_owner(connection: ASGIConnection) -> None:
    """`{user_id}` must be the token's subject or `me`, and a task id plain digits: `int()`
    also reads `+7`, ` 7`, `0_7` and other scripts' digits, which would make several URLs name
    one task. `me` then becomes the subject, so that a handler's `user_id` is always the acting
    user's id."""
    path_params = connection.path_params
    if path_params["user_id"] not in (ME, connection.user):
        raise PermissionDeniedException("This path belongs to another user")
    task_id = path_params.get("task_id")
    if task_id is not None and connection.scope["path"].split("/")[4] != str(task_id):
        raise TaskNotFound(task_id)
    # A new dict: Litestar caches the parsed parameters of a path and shares them.
    connection.scope["path_params"] = {**path_params, "user_id": connection.user}


async def before_owned_request(request: Request) -> None:
    """Before every handler of one user's data: the owner check, then the body. A hook, not a
    guard: Litestar copies the route handler for every guard it runs, on every request."""
    if request.scope["method"] == "OPTIONS":  # answered with `Allow`, no token needed
        return
    _check_owner(request)
    await strict_json_body(request)


# In a handler, the acting user's id: `before_owned_request` has replaced `me`.
UserId = Annotated[str, PathParameter(description="The token's user id (its `sub`), or `me`")]


def with_etag(task: TaskView) -> Response[TaskView]:
    return Response(task, headers={"ETag": etag(task.version)})


ETAG = ResponseHeader(
    name="ETag", value='"1"', description="The task's version, quoted", documentation_only=True
)
TaskId = Annotated[int, PathParameter(description="The task's id")]
IfMatchHeader = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description='Write only if the task is still at this version (its ETag, e.g. `"3"`); '
        "412 otherwise",
    ),
]
Session = NamedDependency[AsyncSession]


def committed_sessions(config: SQLAlchemyAsyncConfig) -> Provide:
    """`db_session`, a command handler's session from the plugin's write `config`, committed
    once the handler has returned and before the response is sent: a commit that fails is an
    error response, never a 2xx for a write that was rolled back. A handler that raised commits
    nothing. Taken from `config` itself rather than through the plugin's own dependency: one
    dependency to resolve per request, not two."""

    async def committed(request: Request) -> AsyncIterator[AsyncSession]:
        session = config.provide_session(request.app.state, request.scope)
        yield session
        if session.in_transaction():  # a one-statement write has committed already
            await session.commit()

    return Provide(committed)


class OwnedController(Controller):
    """Routes of one user's data: only that user's token may use them. Their `db_session` is
    the app's (`committed_sessions`)."""

    before_request = before_owned_request
    security = [{"BearerToken": []}]
