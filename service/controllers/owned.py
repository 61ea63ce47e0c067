"""What every route under `/api/{user_id}/` shares: the owner check, the acting user, the
session types, and the task's ETag."""

from typing import Annotated

from litestar import Controller, Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.params import HeaderParameter, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.domain import TaskNotFound, Versions
from queries.views import TaskView
from service.etags import etag, versions_named
from service.json_body import strict_json_body

ME = "me"


async def path_is_owned(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: `{user_id}` must be the token's subject or `me`, and a task id plain digits:
    `int()` also reads `+7`, ` 7`, `0_7` and other scripts' digits, which would make several
    URLs name one task. (One guard, not two: Litestar copies the handler for each.)"""
    if connection.scope["method"] == "OPTIONS":  # answered with `Allow`, no token needed
        return
    if connection.path_params["user_id"] not in (ME, connection.user):
        raise PermissionDeniedException("This path belongs to another user")
    task_id = connection.path_params.get("task_id")
    if task_id is not None and connection.scope["path"].split("/")[4] != str(task_id):
        raise TaskNotFound(task_id)


UserId = Annotated[str, PathParameter(description="The token's user id (its `sub`), or `me`")]


async def acting_user(request: Request, user_id: UserId) -> str:
    """The token's user. Declaring `user_id` (already checked by the guard) keeps the path
    parameter in every handler's signature: Litestar's OpenAPI generation adds it in place
    otherwise, after which validation errors also report a missing `user_id`."""
    return request.user


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
Owner = NamedDependency[str]


async def versions_to_write(if_match_header: IfMatchHeader = None) -> Versions:
    """The versions a write may apply to, from `If-Match`."""
    return versions_named(if_match_header)


IfMatch = NamedDependency[Versions]


class OwnedController(Controller):
    """Routes of one user's data: only that user's token may use them."""

    guards = [path_is_owned]
    before_request = strict_json_body
    dependencies = {"owner": Provide(acting_user), "if_match": Provide(versions_to_write)}
    security = [{"BearerToken": []}]
