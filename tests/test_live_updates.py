"""`/events`: the change feed, live, through real servers and real sockets."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx
import pytest
from msgspec import to_builtins
from sqlalchemy import text

from commands.handlers import create_task, delete_task
from commands.messages import CreateTask
from persistence.database import LISTENER_NAME
from queries.changes import Cursor, decode_cursor, positioned_changes
from service.app import create_app
from service.live import STREAMS_PER_USER
from tests.helpers import api_process, assert_problem, bearer, live_server, make_token, other_user

WITHIN = 3.0  # seconds a change may take to reach a stream: the contract says one, give slack


@dataclass(frozen=True)
class Event:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def change(self) -> dict:
        assert self.event == "change", self
        return json.loads(self.data)


class Events:
    """An open `/events` response, read one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, within: float = WITHIN) -> Event | None:
        """The next event or comment; None when the server ended the stream."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(within):
            async for line in self._lines:
                if line:
                    name, _, value = line.partition(":")
                    fields[name or "comment"] = value.removeprefix(" ")
                elif fields:
                    return Event(**fields)
        return None

    async def changes(self, count: int, within: float = WITHIN) -> list[Event]:
        """The next `count` change events, skipping comment lines."""
        found: list[Event] = []
        while len(found) < count:
            event = await self.next(within)
            assert event is not None, f"the stream ended after {found}"
            if event.event == "change":
                found.append(event)
        return found


@asynccontextmanager
async def events(
    http: httpx.AsyncClient, base_url: str, user: str, **request: object
) -> AsyncIterator[Events]:
    request.setdefault("headers", bearer(user))
    async with http.stream("GET", f"{base_url}/api/{user}/events", **request) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Events(response)


def position(cursor: str) -> tuple[int, int]:
    """Where a cursor stands in the user's changes: (change number, task id)."""
    decoded = decode_cursor(cursor)
    return decoded.seq, decoded.task_id


def ops(events: list[Event]) -> list[tuple[str, int]]:
    return [(event.change["op"], event.change["id"]) for event in events]


@pytest.fixture(scope="module")
def served(settings, engine):
    """The app on a real socket, with a short heartbeat; yields its base URL."""
    with live_server(create_app(replace(settings, heartbeat_seconds=0.5))) as url:
        yield url


@pytest.fixture(scope="module")
def processes(database_url, engine):
    """Two `taskapi run` processes on the test database."""
    with api_process(database_url) as first, api_process(database_url) as second:
        yield first, second


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def create(http: httpx.AsyncClient, base_url: str, user: str, title: str) -> dict:
    response = await http.post(
        f"{base_url}/api/{user}/tasks", json={"title": title}, headers=bearer(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- each change's position --------------------------------------------------------------------

RETENTION = timedelta(days=30)


async def test_resuming_from_any_changes_cursor_gives_exactly_what_came_after_it(session, user):
    tasks = [await create_task(session, user, CreateTask(title=f"t{n}")) for n in range(4)]
    await delete_task(session, user, tasks[1].id)
    now = time.time()  # one clock for every read: a cursor at the end is issued `now`
    since = Cursor(0, 0, int(now))
    page = await positioned_changes(session, user, since, 10, RETENTION, now=now)
    expected = [("upsert", tasks[n].id) for n in (0, 2, 3)] + [("delete", tasks[1].id)]
    assert [(to_builtins(change)["op"], change.id) for change, _ in page.changes] == expected
    for index, (_, cursor) in enumerate(page.changes):
        after = await positioned_changes(session, user, cursor, 10, RETENTION, now=now)
        assert after.changes == page.changes[index + 1 :]
    assert page.cursor == page.changes[-1].cursor


async def test_a_position_short_of_the_end_is_as_old_as_the_cursor_the_read_began_at(session, user):
    for n in range(3):
        await create_task(session, user, CreateTask(title=f"t{n}"))
    now = time.time()
    since = Cursor(0, 0, int(now) - 3600)
    partial = await positioned_changes(session, user, since, 2, RETENTION, now=now)
    assert partial.has_more
    assert [cursor.issued for _, cursor in partial.changes] == [since.issued] * 2
    rest = await positioned_changes(session, user, partial.cursor, 2, RETENTION, now=now)
    assert not rest.has_more
    assert [cursor.issued for _, cursor in rest.changes] == [int(now)]


# --- the stream ------------------------------------------------------------------------------


async def test_a_stream_starts_with_a_full_sync_then_goes_on_live(served, http, user):
    first = await create(http, served, user, "one")
    async with events(http, served, user) as stream:
        assert ops(await stream.changes(1)) == [("upsert", first["id"])]
        second = await create(http, served, user, "two")
        [event] = await stream.changes(1)
    assert event.change == {"op": "upsert", "id": second["id"], "task": second}


async def test_each_event_is_the_feed_entry_and_its_id_the_cursor_at_it(served, http, user):
    await create(http, served, user, "before")
    async with events(http, served, user) as stream:
        [before] = await stream.changes(1)
        task = await create(http, served, user, "after")
        await http.delete(f"{served}/api/{user}/tasks/{task['id']}", headers=bearer(user))
        after = await stream.changes(1)  # the create and the delete may come as one
        if after[0].change["op"] == "upsert":
            after = await stream.changes(1)
    feed = await http.get(
        f"{served}/api/{user}/changes", params={"since": before.id}, headers=bearer(user)
    )
    assert after[0].data == json.dumps(feed.json()["changes"][0], separators=(",", ":"))
    assert after[0].change == {"op": "delete", "id": task["id"]}
    assert position(after[0].id) == position(feed.json()["cursor"])


@pytest.mark.parametrize("resume", ["Last-Event-ID", "since"])
async def test_reconnecting_gets_every_missed_change_once_then_live_ones(
    resume, served, http, user
):
    one, two, three = [await create(http, served, user, title) for title in "abc"]
    async with events(http, served, user) as stream:
        seen = await stream.changes(2)  # gone before the third one was read
    assert ops(seen) == [("upsert", one["id"]), ("upsert", two["id"])]
    headers = bearer(user)
    await http.patch(f"{served}/api/{user}/tasks/{one['id']}", json={"title": "A"}, headers=headers)
    await http.delete(f"{served}/api/{user}/tasks/{two['id']}", headers=headers)
    four = await create(http, served, user, "d")

    last_id = seen[-1].id
    request = (
        {"headers": headers | {"Last-Event-ID": last_id}}
        if resume == "Last-Event-ID"
        else {"params": {"since": last_id}}
    )
    async with events(http, served, user, **request) as stream:
        missed = await stream.changes(4)
        five = await create(http, served, user, "e")
        live = await stream.changes(1)
        assert await stream.next(within=1.5) == Event(comment="keep-alive")  # nothing else
    assert ops(missed) == [
        ("upsert", three["id"]),
        ("upsert", one["id"]),
        ("delete", two["id"]),
        ("upsert", four["id"]),
    ]
    assert missed[1].change["task"]["title"] == "A"
    assert ops(live) == [("upsert", five["id"])]


async def test_a_quiet_stream_sends_a_comment_line(served, http, user):
    async with events(http, served, user) as stream:
        assert await stream.next() == Event(comment="keep-alive")


async def test_a_stream_ends_when_its_token_expires(served, http, user):
    token = make_token(user, ttl=3)
    async with events(http, served, user, headers={"Authorization": f"Bearer {token}"}) as stream:
        assert await stream.next() is not None  # open: a comment line after 0.5 s
        deadline = time.monotonic() + 15
        while (event := await stream.next(within=15)) is not None:
            assert time.monotonic() < deadline, event


async def test_a_token_past_its_expiry_opens_no_stream_though_the_skew_would_allow_it(
    served, http, user
):
    expired = {"Authorization": f"Bearer {make_token(user, ttl=-5)}"}
    assert (await http.get(f"{served}/api/{user}/tasks", headers=expired)).status_code == 200
    refused = await http.get(f"{served}/api/{user}/events", headers=expired)
    assert assert_problem(refused, 401)["detail"] == "token expired"
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_stream_refuses_what_the_feed_refuses(served, http, user):
    url = f"{served}/api/{user}/events"
    assert_problem(await http.get(url, params={"since": "nonsense"}, headers=bearer(user)), 422)
    assert_problem(await http.get(url, headers=bearer(user) | {"Last-Event-ID": "x"}), 422)
    assert_problem(await http.get(url, headers=bearer(other_user())), 403)
    assert_problem(await http.get(url), 401)


async def test_the_eleventh_stream_of_a_user_is_429_and_others_are_not_counted(served, http, user):
    async with AsyncExitStack() as streams:
        for _ in range(STREAMS_PER_USER):
            await streams.enter_async_context(events(http, served, user))
        refused = await http.get(f"{served}/api/{user}/events", headers=bearer(user))
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) > 0
        stranger = other_user()
        async with events(http, served, stranger) as theirs:
            assert await theirs.next() is not None

    # The closed ones give their places back as the server sees them disconnect: at once, but
    # not necessarily before a request sent straight after.
    for _ in range(50):
        async with http.stream("GET", f"{served}/api/{user}/events", headers=bearer(user)) as again:
            if again.status_code == 200:
                assert await Events(again).next() is not None
                break
        await asyncio.sleep(0.02)
    assert again.status_code == 200


async def test_head_answers_at_once_and_holds_no_stream_open(served, http, user):
    for _ in range(STREAMS_PER_USER + 1):  # a stream left running would make the last one 429
        response = await http.head(f"{served}/api/{user}/events", headers=bearer(user), timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.content == b""


async def test_a_token_in_the_query_string_is_taken_on_the_events_route_only(served, http, user):
    token = {"access_token": make_token(user)}
    async with events(http, served, user, headers={}, params=token) as stream:
        assert await stream.next() is not None
    tasks = await http.get(f"{served}/api/{user}/tasks", params=token)
    assert_problem(tasks, 401)


# --- several processes, one database -----------------------------------------------------------


async def test_a_change_through_one_process_reaches_a_stream_on_another(processes, http):
    user = other_user()
    writer, reader = processes
    async with events(http, reader.url, user) as stream:
        await asyncio.sleep(0.2)  # the stream is waiting: what comes now is live
        task = await create(http, writer.url, user, "from elsewhere")
        started = time.monotonic()
        [event] = await stream.changes(1, within=WITHIN)
        latency = time.monotonic() - started
    assert event.change == {"op": "upsert", "id": task["id"], "task": task}
    print(f"cross-process latency: {latency * 1000:.0f} ms")


async def test_writes_racing_through_two_processes_reach_a_stream_once_each_in_order(
    processes, http
):
    user = other_user()
    async with events(http, processes[0].url, user) as stream:
        writes = [create(http, api.url, user, "racing") for api in processes * 15]
        created = await asyncio.gather(*writes)
        received = await stream.changes(len(created), within=10)
    positions = [position(event.id) for event in received]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert sorted(event.change["id"] for event in received) == sorted(t["id"] for t in created)


async def test_the_listener_reconnects_after_its_connection_is_killed(processes, engine, http):
    user = other_user()
    api = processes[0]
    async with events(http, api.url, user) as stream:
        async with engine.begin() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTENER_NAME},
            )
        assert killed >= 2  # at least the two processes' listeners
        await asyncio.sleep(1.5)  # the first retry comes after half a second
        task = await create(http, processes[1].url, user, "after the drop")
        [event] = await stream.changes(1, within=10)
    assert event.change["id"] == task["id"]


async def test_sigterm_ends_open_streams_and_the_process_exits(database_url, http):
    user = other_user()
    with api_process(database_url) as api:
        async with events(http, api.url, user) as stream:
            await asyncio.sleep(0.2)
            started = time.monotonic()
            status = await asyncio.to_thread(api.stop, 10)
            assert await stream.next(within=5) is None  # ended cleanly, not cut
        assert time.monotonic() - started < 10
        assert status == 0


async def test_the_access_token_never_reaches_a_log(database_url, http):
    user = other_user()
    token = make_token(user)
    forged = make_token(user, secret="another-secret-that-is-long-enough-0123456789")
    with api_process(database_url, LOG_LEVEL="debug") as api:
        url = f"{api.url}/api/{user}/events"
        async with events(http, api.url, user, headers={}, params={"access_token": token}):
            pass
        for params in (
            {"access_token": forged},
            {"access_token": token, "since": "broken"},
            {"access_token": token + "x"},
        ):
            assert (await http.get(url, params=params)).status_code in {401, 422}
        other = f"{api.url}/api/{other_user()}/events"
        assert (await http.get(other, params={"access_token": token})).status_code == 403
        api.stop()
        log = api.log.read_text()
    logged = [line for line in log.splitlines() if '"taskapi.access"' in line and "/events" in line]
    assert len(logged) == 5, log  # every request was logged, once
    for secret in (token, forged, token.split(".")[2], forged.split(".")[2]):
        assert secret not in log
