"""What several test modules need: user ids, tokens, problem-body checks, route tables, ports.

Fixtures live in `conftest.py`; plain functions and constants live here, so that a test module
imports them by name and never imports `conftest`.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path

import httpx
import jwt
import uvicorn
from litestar import Litestar
from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.domain import Priority, Recurrence
from queries.views import TaskView
from service.app import create_app
from service.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TASKAPI = str(Path(sys.executable).parent / "taskapi")  # the installed command line

# --- users and tokens -------------------------------------------------------------------------

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def other_user() -> str:
    """A fresh user id, shared with no other test (Better Auth ids are 32-character strings)."""
    return uuid.uuid4().hex


def make_token(
    sub: str | None, *, secret: str = TEST_SECRET, ttl: int = 300, **claims: object
) -> str:
    """An HS256 token for `sub` (none when `sub` is None), valid for `ttl` seconds from now."""
    now = int(time.time())
    payload: dict[str, object] = {"iat": now, "exp": now + ttl, **claims}
    if sub is not None:
        payload["sub"] = sub
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(sub: str) -> dict[str, str]:
    """Request headers that sign in as `sub`."""
    return {"Authorization": f"Bearer {make_token(sub)}"}


# --- tasks -----------------------------------------------------------------------------------

# What a task holds for every field a create or a replace leaves out.
TASK_DEFAULTS = {
    "description": None,
    "completed": False,
    "completed_at": None,
    "priority": Priority.MEDIUM,
    "tags": [],
    "due_date": None,
    "time_zone": "UTC",
    "recurrence": Recurrence.NONE,
}


def new_task_view(task: object, **fields: object) -> TaskView:
    """What reading a task made just now should give: the id and timestamps the server chose
    for `task`, version 1, the defaults, then `fields` (which must name the owner and title)."""
    chosen = {name: getattr(task, name) for name in ("id", "created_at", "updated_at")}
    return TaskView(**chosen, version=1, **(TASK_DEFAULTS | fields))


# --- problem bodies ---------------------------------------------------------------------------

PROBLEM_JSON = "application/problem+json"
# Text that must never reach a client: a stack trace, a driver's or the ORM's name, SQL.
LEAK_MARKERS = ("traceback", "asyncpg", "sqlalchemy", 'file "', "select ", "insert into")


def assert_no_leak(text: str) -> None:
    lowered = text.lower()
    assert not [marker for marker in LEAK_MARKERS if marker in lowered], text


def assert_problem(response, status: int) -> dict:
    """An RFC 9457 body for `status` that leaks nothing from the inside; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["type"]
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert_no_leak(response.text)
    return body


def error_fields(response) -> list[str]:
    """The fields a 422 problem names, in order, after checking the problem's shape."""
    body = assert_problem(response, 422)
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "message"}
        assert error["message"]
    return [error["field"] for error in body["errors"]]


def stats_body(
    *,
    total: int = 0,
    completed: int = 0,
    pending: int = 0,
    overdue: int = 0,
    due_today: int = 0,
    low: int = 0,
    medium: int = 0,
    high: int = 0,
) -> dict:
    """The JSON body of `GET /api/{user}/tasks/stats` with these counts (any left out are 0)."""
    return {
        "total": total,
        "completed": completed,
        "pending": pending,
        "overdue": overdue,
        "due_today": due_today,
        "by_priority": {"low": low, "medium": medium, "high": high},
    }


# --- routes -----------------------------------------------------------------------------------

# Every route that names one task: (method, path after the task id, body), by test id.
SINGLE_TASK_ROUTES = {
    "get": ("GET", "", None),
    "put": ("PUT", "", {"title": "changed"}),
    "patch": ("PATCH", "", {"title": "changed"}),
    "complete-toggle": ("PATCH", "/complete", None),
    "complete-set": ("PATCH", "/complete", {"completed": True}),
    "delete": ("DELETE", "", None),
}

# --- servers on loopback ----------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: Litestar) -> Iterator[str]:
    """Serve `app` on a real loopback socket from a background thread, for clients that cannot
    use the in-process test client (a browser, another process); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class APIProcess:
    url: str  # base URL
    process: subprocess.Popen
    log: Path  # everything the process wrote

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process manager sends it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def api_process(database_url: str, **env: str) -> Iterator[APIProcess]:
    """`taskapi run` in a process of its own, with `env` on top of the test settings."""
    port = free_port()
    environment = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "AUTO_MIGRATE": "false",
        "RATE_LIMIT": "100000/minute",
        "LOG_FORMAT": "json",
        **env,
    }
    command = [TASKAPI, "run", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="taskapi-") as directory:
        log = Path(directory) / "output.log"
        with log.open("wb") as output:  # a file, never a pipe that could fill and block it
            process = subprocess.Popen(
                command, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        served = APIProcess(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_until_up(served)
            yield served
        finally:
            try:
                served.stop()
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_until_up(served: APIProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"the API exited: {served.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the API did not start within 60 s")


# --- the database ------------------------------------------------------------------------------


async def run_sql(engine: AsyncEngine, sql: str, **params: object) -> None:
    """One statement in a transaction of its own, committed."""
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


async def count_after_housekeeping(settings: Settings, engine: AsyncEngine, count: Select) -> int:
    """Serve an app whose background housekeeping runs every 50 ms, make no request, and
    return `count` once it reaches 0 or 10 seconds have passed."""
    with live_server(create_app(replace(settings, housekeeping_seconds=0.05))):
        for _ in range(200):
            async with engine.connect() as connection:
                if await connection.scalar(count) == 0:
                    return 0
            await asyncio.sleep(0.05)
    async with engine.connect() as connection:
        return await connection.scalar(count)


# --- notifications -----------------------------------------------------------------------------

QUIET = 0.5  # seconds without a notification that show none is coming


class Heard:
    """The payloads notified on `CHANGES_CHANNEL`, as a listening instance receives them."""

    def __init__(self) -> None:
        self._payloads: asyncio.Queue[str] = asyncio.Queue()

    def receive(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._payloads.put_nowait(payload)

    async def next(self, within: float = 5.0) -> str:
        return await asyncio.wait_for(self._payloads.get(), within)

    async def all_within(self, seconds: float = QUIET) -> list[str]:
        await asyncio.sleep(seconds)
        return [self._payloads.get_nowait() for _ in range(self._payloads.qsize())]
