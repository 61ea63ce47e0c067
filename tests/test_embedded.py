"""The README's run command on a machine with nothing configured: embedded PostgreSQL, a
development secret, `taskapi token`, and data that survives a restart."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import PROJECT_ROOT, TASKAPI, free_port

STARTUP_SECONDS = 90


def clean_env() -> dict[str, str]:
    unset = {"DATABASE_URL", "JWT_SECRET", "BETTER_AUTH_SECRET", "BETTER_AUTH_URL", "JWT_JWKS_URL"}
    return {key: value for key, value in os.environ.items() if key not in unset}


@contextmanager
def running_api(workdir: Path, port: int, stop: signal.Signals) -> Iterator[str]:
    server = subprocess.Popen(
        [TASKAPI, "run", "--port", str(port)],
        cwd=workdir,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(
                f"the API did not become ready:\n{server.stdout.read() if server.stdout else ''}"
            )
        yield base
    finally:
        server.send_signal(stop)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        running_api.output = output  # type: ignore[attr-defined]


def mint(workdir: Path, sub: str) -> str:
    result = subprocess.run(
        [TASKAPI, "token", "--sub", sub],
        cwd=workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Under the project, not /tmp: the embedded server runs as its own system user when the
    # tests run as root, and must be able to reach its data directory.
    path = PROJECT_ROOT / ".data" / f"e2e-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    yield path
    subprocess.run(["pkill", "-f", str(path)], check=False)  # a server a failed test left
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_runs_on_embedded_postgres_and_keeps_data_across_restarts(workdir):
    port = free_port()
    postmaster = workdir / ".data" / "postgres" / "postmaster.pid"
    with running_api(workdir, port, signal.SIGTERM) as base:  # as a process manager stops it
        token = mint(workdir, "alice")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/me/tasks", json={"title": "survive"}, headers=headers)
        assert created.status_code == 201, created.text
    assert "taskapi token --sub" in running_api.output  # says how to mint a token
    assert not postmaster.exists(), running_api.output  # PostgreSQL stopped with the API

    with running_api(workdir, port, signal.SIGINT) as base:  # as Ctrl+C stops it
        listed = httpx.get(f"{base}/api/me/tasks", headers=headers)  # same dev secret
        assert listed.status_code == 200
        assert [task["title"] for task in listed.json()["items"]] == ["survive"]
    assert not postmaster.exists()
