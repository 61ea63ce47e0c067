"""`taskapi run` as people run it, with nothing configured (an embedded PostgreSQL, a development
secret) and as a process manager runs it: several workers, a quiet start, one log line per
request, and one signal to the top process stops everything once in-flight requests are
answered, the embedded PostgreSQL included; the data is there again after a restart."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import PROJECT_ROOT, TASKAPI, TEST_SECRET, bearer, free_port, other_user

START_SECONDS = 180
STOP_SECONDS = 60


class RunningAPI:
    """`taskapi run` in a subprocess, its output collected line by line."""

    def __init__(self, workdir: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.postmaster = workdir / ".data" / "postgres" / "postmaster.pid"
        self.process = subprocess.Popen(
            [TASKAPI, "run", "--port", str(self.port), *args],
            cwd=workdir,
            env={"PATH": os.environ["PATH"], "LOG_FORMAT": "json"} | env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.process.kill()
        pytest.fail("taskapi run did not become ready:\n" + "\n".join(self.lines))

    def processes(self) -> list[psutil.Process]:
        """This process, everything it started, and the embedded PostgreSQL server."""
        top = psutil.Process(self.process.pid)
        postmaster = psutil.Process(int(self.postmaster.read_text().split()[0]))
        return [top, *top.children(recursive=True), postmaster, *postmaster.children()]

    def workers(self) -> list[psutil.Process]:
        children = psutil.Process(self.process.pid).children()
        return [child for child in children if "spawn_main" in " ".join(child.cmdline())]

    def wait_for_exit(self) -> int:
        return self.process.wait(timeout=STOP_SECONDS)


def mint(workdir: Path, sub: str) -> str:
    """A token from `taskapi token`, signed with the workdir's development secret."""
    minted = subprocess.run(
        [TASKAPI, "token", "--sub", sub], cwd=workdir, capture_output=True, text=True, check=True
    )
    return minted.stdout.strip()


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Under the project, not /tmp: as root, the embedded server runs as its own system user
    # and must reach its data directory.
    path = PROJECT_ROOT / ".data" / f"workers-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _log_entries(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def _start_a_request_and_wait_until_the_app_reads_its_body(
    api: RunningAPI, token: str, body: bytes
) -> socket.socket:
    """`Expect: 100-continue`: uvicorn answers `100 Continue` when the app asks for the body,
    so once it arrives the request is in flight inside a worker."""
    connection = socket.create_connection(("127.0.0.1", api.port), timeout=STOP_SECONDS)
    connection.sendall(
        b"POST /api/me/tasks HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Expect: 100-continue\r\n\r\n"
    )
    assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    return connection


def _left_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running once the others are gone (multiprocessing's resource tracker
    exits as soon as it notices its parent has)."""
    _, alive = psutil.wait_procs(processes, timeout=STOP_SECONDS)
    return alive


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_sigterm_drains_in_flight_requests_and_leaves_nothing_running(workdir):
    api = RunningAPI(workdir, "--workers", "2")
    api.wait_until_ready()
    start_up = list(api.lines)
    running = api.processes()
    workers = api.workers()
    assert len(workers) == 2
    # The supervisor builds no app of its own: a fraction of a worker's memory.
    supervisor = psutil.Process(api.process.pid).memory_info().rss
    assert supervisor < min(worker.memory_info().rss for worker in workers) / 2

    request_id = uuid.uuid4().hex
    assert httpx.get(f"{api.base}/health", headers={"X-Request-ID": request_id}).status_code == 200
    body = json.dumps({"title": "in flight"}).encode()
    in_flight = _start_a_request_and_wait_until_the_app_reads_its_body(
        api, mint(workdir, "alice"), body
    )
    api.process.send_signal(signal.SIGTERM)  # only the top process, as a process manager does
    time.sleep(0.5)  # let the shutdown begin before the body arrives
    in_flight.sendall(body)
    answer = in_flight.recv(65536).decode()
    in_flight.close()
    assert answer.startswith("HTTP/1.1 201"), answer

    assert api.wait_for_exit() == 0
    assert _left_running(running) == []
    assert not api.postmaster.exists()
    assert _port_is_free(api.port)

    # A quiet start: where it serves, which database, how to get a token; nothing else.
    text = "\n".join(start_up)
    assert len(start_up) <= 4, text
    assert f"serving on {api.base} with 2 workers" in text
    assert "embedded PostgreSQL" in text
    assert "uv run taskapi token --sub alice" in text
    assert "initdb" not in text
    assert "Warning" not in text
    # One line per request, whichever worker answered it.
    logged = [entry for entry in _log_entries(api.lines) if entry.get("request_id") == request_id]
    assert [(entry["method"], entry["path"]) for entry in logged] == [("GET", "/health")]


def test_sigint_stops_every_worker_and_the_data_survives_a_restart(workdir):
    api = RunningAPI(workdir, WEB_CONCURRENCY="2")
    api.wait_until_ready()
    running = api.processes()
    assert len(api.workers()) == 2
    headers = {"Authorization": f"Bearer {mint(workdir, 'alice')}"}
    created = httpx.post(f"{api.base}/api/me/tasks", json={"title": "survive"}, headers=headers)
    assert created.status_code == 201, created.text
    for response in (created, httpx.get(f"{api.base}/health"), httpx.get(f"{api.base}/nowhere")):
        assert "server" not in response.headers  # nothing names the software serving it

    api.process.send_signal(signal.SIGINT)  # as Ctrl-C does, to this process only

    assert api.wait_for_exit() == 0
    assert _left_running(running) == []
    assert not api.postmaster.exists()
    assert _port_is_free(api.port)
    assert not any("Traceback" in line for line in api.lines), api.lines

    again = RunningAPI(workdir)
    again.wait_until_ready()
    listed = httpx.get(f"{again.base}/api/me/tasks", headers=headers)  # the same dev secret
    assert [task["title"] for task in listed.json()["items"]] == ["survive"]
    again.process.send_signal(signal.SIGTERM)
    assert again.wait_for_exit() == 0
    assert not again.postmaster.exists()


def test_instances_on_several_ports_share_nothing_but_postgresql(engine, tmp_path):
    """Started together, as a deploy starts them: their start-up migrations take turns, and
    whichever instance a request reaches, it sees the same tasks."""
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    env["JWT_SECRET"] = TEST_SECRET
    instances = [RunningAPI(tmp_path, **env) for _ in range(2)]
    try:
        for instance in instances:
            instance.wait_until_ready()
        first, second = instances
        headers = bearer(other_user())
        created = httpx.post(f"{first.base}/api/me/tasks", json={"title": "one"}, headers=headers)
        assert created.status_code == 201, created.text
        listed = httpx.get(f"{second.base}/api/me/tasks", headers=headers)
        assert [task["title"] for task in listed.json()["items"]] == ["one"]
    finally:
        for instance in instances:
            instance.process.send_signal(signal.SIGTERM)
        assert [instance.wait_for_exit() for instance in instances] == [0, 0]
