"""ASGI apps under uvicorn in their own processes, and what their workers cost in memory."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.system import free_port

STARTUP_SECONDS = 60
STOP_SECONDS = 15


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]

    def worker_pids(self) -> list[int]:
        """uvicorn runs one worker in-process, several as spawned children."""
        children = _children(self.process.pid)
        workers = [pid for pid in children if "spawn_main" in _cmdline(pid)]
        return workers or [self.process.pid]

    def reset_peak_memory(self) -> None:
        """Writing 5 to `clear_refs` restarts VmHWM, so each workload gets its own peak."""
        for pid in self.worker_pids():
            with suppress(OSError):  # not permitted: the peak then covers the whole run
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_memory_mib(self) -> list[float]:
        """VmHWM of each worker: the most resident memory it has used."""
        return [_status_kib(pid, "VmHWM") / 1024 for pid in self.worker_pids()]


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def _wait_until_ready(server: Server, ready_path: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"bench: {server.name} exited during start-up (see its log)")
        try:
            if httpx.get(server.base_url + ready_path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: {server.name} not ready after {STARTUP_SECONDS} s")


@contextmanager
def serve(
    name: str,
    app: str,
    *,
    workers: int,
    env: dict[str, str],
    log: Path,
    ready_path: str = "/health",
) -> Iterator[Server]:
    """`uvicorn <app> --workers N`, as the README deploys the service."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    command += ["--workers", str(workers), "--no-server-header"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_ready(server, ready_path)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
