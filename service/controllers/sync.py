"""`/api/{user_id}/changes`: what changed since a cursor, for clients that keep tasks locally."""

from datetime import timedelta
from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter

from persistence.domain import CHANGES_PAGE_DEFAULT, CHANGES_PAGE_MAX
from queries.changes import changes_since, decode_cursor
from queries.views import ChangePage
from service.controllers.owned import OwnedController, Owner, Session
from service.openapi import documented

Since = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        description="The `cursor` of an earlier answer; leave it out for a full sync",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=CHANGES_PAGE_MAX)]


class SyncController(OwnedController):
    path = "/api/{user_id:str}"
    tags = ["sync"]

    @get(
        "/changes",
        **documented("listChanges"),
        summary="Every task changed after `since`, once each, in its latest state",
        description="Deleted tasks come as `delete` entries. Go on from `cursor` while "
        "`has_more`; a `since` older than the trash retention window is a 410: sync again "
        "without it.",
    )
    async def list_changes(
        self,
        read_session: Session,
        owner: Owner,
        state: State,
        since: Since = None,
        limit: Limit = CHANGES_PAGE_DEFAULT,
    ) -> ChangePage:
        cursor = None if since is None else decode_cursor(since)
        retention: timedelta = state.trash_retention
        return await changes_since(read_session, owner, cursor, limit, retention)
