"""`/api/{user_id}/changes` and `/api/{user_id}/events`: what changed since a cursor, for clients
that keep tasks locally, and the same changes live."""

import time
from datetime import timedelta
from typing import Annotated

from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from persistence.domain import CHANGES_PAGE_DEFAULT, CHANGES_PAGE_MAX
from queries.changes import Cursor, changes_since, check_fresh, decode_cursor
from queries.views import ChangePage
from service.auth import CREDENTIALS_IN_QUERY, InvalidToken
from service.controllers.owned import OwnedController, Session, UserId
from service.live import STREAMS_PER_USER, LiveUpdates
from service.openapi import documented

Since = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        description="The `cursor` of an earlier answer; leave it out for a full sync",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=CHANGES_PAGE_MAX)]
LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        max_length=200,
        description="The `id` of the last event received (sent by `EventSource` when it "
        "reconnects by itself); wins over `since`",
    ),
]

EVENTS_DESCRIPTION = f"""A server-sent-events stream of the change feed: each event is
`event: change`, `id: <cursor positioned at that change>`, `data: <one change, exactly as in
the feed>`.

It starts after `Last-Event-ID` (or `since`): first every change missed, then live ones, with
no gap and no duplicate. Without either it starts with a full sync (every current task, as
from `/changes` without `since`), then goes on live, so one `EventSource` is enough to hold
the user's tasks.

The token comes as `Authorization: Bearer`, or, for browsers' `EventSource`, as
`?access_token=` (this route only; never logged). The stream ends when the token expires:
reconnect with a fresh token and the last event id as `since`. A comment line is sent after
15 quiet seconds. At most {STREAMS_PER_USER} open streams per user on each
instance of the API; one more is a 429.
"""


def _resume_from(last_event_id: str | None, since: str | None) -> Cursor | None:
    if last_event_id is not None:
        return decode_cursor(last_event_id, "Last-Event-ID")
    return None if since is None else decode_cursor(since)


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
        user_id: UserId,
        state: State,
        since: Since = None,
        limit: Limit = CHANGES_PAGE_DEFAULT,
    ) -> ChangePage:
        cursor = None if since is None else decode_cursor(since)
        retention: timedelta = state.trash_retention
        return await changes_since(read_session, user_id, cursor, limit, retention)

    @get(
        "/events",
        **documented("streamChanges"),
        summary="The change feed, live, as server-sent events",
        description=EVENTS_DESCRIPTION,
        media_type="text/event-stream",
        opt={CREDENTIALS_IN_QUERY: True},
        security=[{"AccessTokenQuery": []}],
        response_description="`event: change` events, and a comment line when quiet",
    )
    async def stream_changes(
        self,
        request: Request,
        user_id: UserId,
        state: State,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        live: LiveUpdates = state.live_updates
        if request.auth <= time.time():  # accepted within the clock skew, but would end at once
            raise InvalidToken("token expired")
        cursor = _resume_from(last_event_id, since)
        if cursor is not None:
            check_fresh(cursor, live.retention, time.time())
        events, place = live.open(user_id, cursor, expires_at=request.auth)
        return ServerSentEvent(events, background=BackgroundTask(place.release))
