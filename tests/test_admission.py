"""Admission: at most `MAX_REQUESTS_IN_PROGRESS` requests in progress per worker, the rest
served in arrival order, through a real server on a real socket.

A request is held in progress by a row lock: a test's own transaction locks a task, and the
API's edit of that task waits for it inside the database, holding its place.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace

import httpx
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import service.admission
from service.app import create_app
from service.settings import ConfigurationError, Settings
from tests.helpers import PROBLEM_JSON, bearer, live_server

# Long enough to show that a request is kept waiting, not to time anything.
STILL_WAITING = 0.5


@contextmanager
def serving(settings: Settings, places: int) -> Iterator[str]:
    with live_server(create_app(replace(settings, max_requests_in_progress=places))) as url:
        yield url


@pytest.fixture
async def http(user: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=bearer(user), timeout=30) as http:
        yield http


async def _create(http: httpx.AsyncClient, url: str, user: str, title: str) -> dict:
    response = await http.post(f"{url}/api/{user}/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()


@asynccontextmanager
async def held(engine: AsyncEngine, http: httpx.AsyncClient, task_url: str) -> AsyncIterator[None]:
    """An edit of the task at `task_url` in progress, waiting for a row lock until the block
    ends."""
    async with engine.connect() as holder:
        await holder.begin()
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        task_id = int(task_url.rsplit("/", 1)[1])
        lock = text("SELECT id FROM tasks WHERE id = :id FOR UPDATE")
        await holder.execute(lock, {"id": task_id})
        editing = asyncio.create_task(http.patch(task_url, json={"description": "edited"}))
        await _until_blocked_by(engine, holder_pid)
        try:
            yield
        finally:
            await holder.rollback()
            assert (await editing).status_code == 200


async def _until_blocked_by(engine: AsyncEngine, holder_pid: int) -> None:
    blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    for _ in range(200):
        async with engine.connect() as connection:
            if await connection.scalar(blocked, {"pid": holder_pid}):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the edit never waited for the lock")


async def test_with_one_place_requests_wait_their_turn_and_go_in_arrival_order(
    settings, engine, http, user
):
    with serving(settings, places=1) as url:
        first = await _create(http, url, user, "first")
        tasks_url = f"{url}/api/{user}/tasks"
        finished: list[str] = []

        async def get(name: str) -> int:
            response = await http.get(f"{tasks_url}/{first['id']}")
            finished.append(name)
            return response.status_code

        async with held(engine, http, f"{tasks_url}/{first['id']}"):
            second = asyncio.create_task(get("second"))
            await asyncio.sleep(0.1)  # the second is in line before the third arrives
            third = asyncio.create_task(get("third"))
            await asyncio.sleep(STILL_WAITING)
            assert not second.done()
            assert not third.done()
        assert (await second, await third) == (200, 200)
        assert finished == ["second", "third"]


async def test_a_second_place_lets_a_request_past_one_that_is_held(settings, engine, http, user):
    with serving(settings, places=2) as url:
        task = await _create(http, url, user, "t")
        task_url = f"{url}/api/{user}/tasks/{task['id']}"
        async with held(engine, http, task_url):
            response = await asyncio.wait_for(http.get(task_url), timeout=STILL_WAITING * 4)
            assert response.status_code == 200


async def test_a_request_that_waits_too_long_is_told_to_retry(
    settings, engine, http, user, monkeypatch, caplog
):
    monkeypatch.setattr(service.admission, "MAX_WAIT_SECONDS", STILL_WAITING)
    with serving(settings, places=1) as url, caplog.at_level(logging.INFO, "taskapi.access"):
        task = await _create(http, url, user, "t")
        task_url = f"{url}/api/{user}/tasks/{task['id']}"
        async with held(engine, http, task_url):
            busy = await http.get(task_url)
            alive = await http.get(f"{url}/health")
        again = await http.get(task_url)
    logged = [
        r for r in caplog.records if getattr(r, "request_id", None) == busy.headers["x-request-id"]
    ]
    assert [r.status for r in logged] == [503]
    # The wait is in the logged duration (a loop's timer may fire a millisecond early).
    assert logged[0].duration_ms >= STILL_WAITING * 1000 * 0.9
    assert busy.status_code == 503
    assert busy.headers["content-type"] == PROBLEM_JSON
    assert busy.headers["retry-after"] == service.admission.BUSY_RETRY_AFTER_SECONDS
    assert busy.headers["x-request-id"]
    assert busy.headers["x-content-type-options"] == "nosniff"
    assert busy.json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The service is too busy to take this request; retry shortly",
    }
    assert alive.status_code == 200  # a liveness probe needs no place
    assert again.status_code == 200


async def test_an_open_event_stream_holds_no_place(settings, http, user):
    with serving(settings, places=1) as url:
        task = await _create(http, url, user, "t")
        async with http.stream("GET", f"{url}/api/{user}/events") as stream:
            assert stream.status_code == 200
            response = await asyncio.wait_for(
                http.get(f"{url}/api/{user}/tasks/{task['id']}"), timeout=STILL_WAITING * 4
            )
            assert response.status_code == 200


async def test_a_client_still_sending_its_body_holds_no_place(settings, http, user):
    with serving(settings, places=1) as url:
        task = await _create(http, url, user, "t")
        body = msgspec.json.encode({"title": "sent slowly"})
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"POST /api/{user}/tasks HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {bearer(user)['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body[:5])
        await writer.drain()
        try:
            response = await asyncio.wait_for(
                http.get(f"{url}/api/{user}/tasks/{task['id']}"), timeout=STILL_WAITING * 4
            )
            assert response.status_code == 200
            writer.write(body[5:])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
            assert status_line.split()[1] == b"201"
        finally:
            writer.close()


async def test_a_body_over_the_limit_is_still_refused(settings, http, user):
    """Sent in chunks with no length given, so that it is read before it is known to be too
    long."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(10):
            yield b"x" * 8192
        yield b'"}'

    with serving(settings, places=1) as url:
        response = await http.post(
            f"{url}/api/{user}/tasks",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413


def test_a_place_count_that_cannot_work_refuses_to_start():
    with pytest.raises(ConfigurationError, match="MAX_REQUESTS_IN_PROGRESS"):
        Settings.from_env({"MAX_REQUESTS_IN_PROGRESS": "0"})
    assert Settings.from_env({"MAX_REQUESTS_IN_PROGRESS": "32"}).max_requests_in_progress == 32
