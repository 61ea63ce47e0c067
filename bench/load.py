"""Load with wrk and its Lua script; the numbers come back from the script's RESULT line."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.system import require_command

SCRIPT = Path(__file__).with_name("tasks.lua")
WORKLOADS = ("list", "get", "create", "toggle", "mixed")
_RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class LoadSettings:
    connections: int
    threads: int
    duration: int
    warmup: int
    rounds: int


@dataclass(frozen=True)
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: str  # the non-2xx statuses seen, e.g. "429:12"

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _parse(output: str) -> Measurement:
    match = _RESULT.search(output)
    if match is None:
        raise SystemExit(f"bench: wrk printed no RESULT line:\n{output}")
    fields = dict(part.split("=", 1) for part in match.group(1).split(" "))
    seconds = int(fields["duration_us"]) / 1e6
    statuses = fields["statuses"]
    return Measurement(
        requests_per_second=int(fields["requests"]) / seconds,
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
        non_2xx=sum(int(part.split(":")[1]) for part in statuses.split(",") if part),
        socket_errors=int(fields["socket_errors"]),
        statuses=statuses,
    )


def wrk(base_url: str, workload: str, data: Path, load: LoadSettings, seconds: int) -> Measurement:
    command = [
        require_command("wrk", "wrk"),
        f"-c{load.connections}",
        f"-t{load.threads}",
        f"-d{seconds}s",
        "--timeout=10s",
        f"-s{SCRIPT}",
        base_url,
        "--",
        str(data),
        workload,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: wrk failed:\n{done.stdout}{done.stderr}")
    return _parse(done.stdout)


def measure(base_url: str, workload: str, data: Path, load: LoadSettings) -> Measurement:
    """A warm-up whose numbers are dropped, then the measured run."""
    if load.warmup > 0:
        wrk(base_url, workload, data, load, load.warmup)
    return wrk(base_url, workload, data, load, load.duration)
