"""The results file: what ran, on what, and how the service compares with its ceilings."""

import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from statistics import median

from bench.load import LoadSettings, Measurement
from bench.postgres import Cluster
from bench.profile import Flame, py_spy_version
from bench.session_cost import SessionCost

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "litestar", "advanced-alchemy", "sqlalchemy", "sqlmodel", "asyncpg", "msgspec",
    "pyjwt", "uvicorn", "uvloop", "httptools",
)  # fmt: skip
# The targets, each workload against the lean ceiling in the same run.
MIN_THROUGHPUT_RATIO = 0.60
MAX_P99_RATIO = 2.0
MAX_WORKER_RSS_MIB = 120
MAX_LARGE_P50_RATIO = 1.5


@dataclass(frozen=True)
class WorkloadResult:
    workload: str
    service: Measurement
    service_rss_mib: list[float]
    lean: Measurement
    lean_rss_mib: list[float]
    # Every round's throughput and p99 vs lean, in the order run. The measurements above are
    # those of the round with the median throughput ratio, the peak RSS the highest of all
    # rounds, and the p99 ratio the median of the rounds' p99 ratios.
    round_ratios: list[float] = field(default_factory=list)
    round_p99_ratios: list[float] = field(default_factory=list)

    @property
    def throughput_ratio(self) -> float:
        return self.service.requests_per_second / self.lean.requests_per_second

    @property
    def p99_ratio(self) -> float:
        this_round = self.service.p99_ms / max(self.lean.p99_ms, 0.001)
        return median(self.round_p99_ratios or [this_round])

    def missed_targets(self) -> list[str]:
        missed = []
        if self.throughput_ratio < MIN_THROUGHPUT_RATIO:
            missed.append(f"throughput < {MIN_THROUGHPUT_RATIO}x")
        if self.p99_ratio > MAX_P99_RATIO:
            missed.append(f"p99 > {MAX_P99_RATIO:g}x")
        if self.service.errors:
            missed.append("errors")
        if max(self.service_rss_mib) >= MAX_WORKER_RSS_MIB:
            missed.append(f"RSS >= {MAX_WORKER_RSS_MIB} MiB")
        return missed

    def summary_line(self) -> str:
        s, lean = self.service, self.lean
        return (
            f"{self.workload:>7}: service {s.requests_per_second:7.0f} req/s "
            f"p50 {s.p50_ms:6.1f} p99 {s.p99_ms:6.1f} ms errors {s.errors} | lean "
            f"{lean.requests_per_second:7.0f} req/s p99 {lean.p99_ms:6.1f} ms errors {lean.errors}"
            f" | {self.throughput_ratio:.2f}x"
        )


@dataclass
class Report:
    started: datetime
    machine: dict[str, str]
    load: LoadSettings
    note: str
    versions: dict[str, str] = field(default_factory=dict)
    framework: Measurement | None = None
    small: list[WorkloadResult] = field(default_factory=list)
    large: list[WorkloadResult] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)
    flame: Flame | None = None
    session_cost: SessionCost | None = None
    db_round_trip: tuple[float, float] | None = None  # (asked, measured) ms, when relayed


def _commit() -> str:
    """The code measured: its commit, marked `-dirty` when the work tree had changes."""
    describe = ["git", "describe", "--always", "--dirty"]
    done = subprocess.run(describe, capture_output=True, text=True, check=False, cwd=ROOT)
    return done.stdout.strip() or "unknown"


def versions(cluster: Cluster) -> dict[str, str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    found = {"taskapi commit": _commit()}
    found |= {"Python": platform.python_version(), "PostgreSQL": cluster.version()}
    found |= {package: version(package) for package in PACKAGES}
    found["wrk"] = (wrk.stdout or wrk.stderr).split(" [")[0].removeprefix("wrk ")
    found["py-spy"] = py_spy_version()
    return found


def _rss(values: list[float]) -> str:
    return " / ".join(f"{value:.0f}" for value in values)


def _ratios(values: list[float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def _errors(measurement: Measurement) -> str:
    if not measurement.errors:
        return "0"
    detail = [measurement.statuses] if measurement.statuses else []
    if measurement.socket_errors:
        detail.append(f"{measurement.socket_errors} socket")
    return f"{measurement.errors} ({', '.join(detail)})"


def _results_table(results: list[WorkloadResult], framework: Measurement | None) -> list[str]:
    lines = [
        "| workload | service req/s | p50 / p99 ms | errors | peak RSS per worker MiB "
        "| lean req/s | lean p50 / p99 ms | lean errors | lean RSS MiB "
        "| throughput vs lean | each round | p99 vs lean (each round) | vs framework "
        "| targets missed |",
        "| --- " + "| ---: " * 12 + "| --- |",
    ]
    for r in results:
        s, lean = r.service, r.lean
        versus_framework = (
            f"{s.requests_per_second / framework.requests_per_second:.2f}x" if framework else "-"
        )
        lines.append(
            f"| {r.workload} | {s.requests_per_second:,.0f} | {s.p50_ms:.1f} / {s.p99_ms:.1f} "
            f"| {_errors(s)} | {_rss(r.service_rss_mib)} | {lean.requests_per_second:,.0f} "
            f"| {lean.p50_ms:.1f} / {lean.p99_ms:.1f} | {_errors(lean)} | {_rss(r.lean_rss_mib)} "
            f"| {r.throughput_ratio:.2f}x | {_ratios(r.round_ratios)} "
            f"| {r.p99_ratio:.1f}x ({_ratios(r.round_p99_ratios)}) "
            f"| {versus_framework} "
            f"| {', '.join(r.missed_targets()) or 'none'} |"
        )
    return lines


def _framework_line(framework: Measurement) -> str:
    return (
        f"Framework ceiling (no database, same JWT check, `GET` one task from memory): "
        f"**{framework.requests_per_second:,.0f} req/s**, p50 {framework.p50_ms:.1f} ms, "
        f"p99 {framework.p99_ms:.1f} ms, errors {_errors(framework)}."
    )


def _large_comparison(report: Report) -> list[str]:
    small = {r.workload: r.service for r in report.small}
    lines = [
        "| workload | p50 ms at 10,000 tasks | p50 ms at 1,000,000 tasks | ratio | target ≤ 1.5x |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in report.large:
        if r.workload not in ("list", "get") or r.workload not in small:
            continue
        ratio = r.service.p50_ms / max(small[r.workload].p50_ms, 0.001)
        met = "met" if ratio <= MAX_LARGE_P50_RATIO else "missed"
        lines.append(
            f"| {r.workload} | {small[r.workload].p50_ms:.1f} | {r.service.p50_ms:.1f} "
            f"| {ratio:.2f}x | {met} |"
        )
    return lines


def _flame_section(flame: Flame) -> list[str]:
    return [
        f"py-spy, {flame.samples:,} samples of the one worker while wrk ran `GET` one task "
        "(time the event loop spends waiting is not sampled; time in C extensions such as "
        "uvloop, asyncpg's protocol and msgspec counts to the Python function that called them).",
        "",
        "| package (own code) | share | function (own code) | share |",
        "| --- | ---: | --- | ---: |",
        *(
            f"| {package} | {package_share:.1f}% | `{function}` | {function_share:.1f}% |"
            for (package, package_share), (function, function_share) in zip(
                flame.by_package, flame.by_function, strict=False
            )
        ),
        "",
        "The flame graph's heavy branches (inclusive share; frames that only pass the call on "
        "are folded):",
        "",
        "```",
        *flame.tree,
        "```",
    ]


def render(report: Report) -> str:
    load = report.load
    lines = [
        f"# Benchmark, {report.started:%Y-%m-%d %H:%M} UTC",
        "",
        *([f"> {report.note}", ""] if report.note else []),
        "`uv run python -m bench" + (" --large" if report.large else "") + "`: "
        f"wrk with {load.connections} connections on {load.threads} threads, {load.duration} s "
        f"measured after {load.warmup} s of warm-up, on the same machine as the servers. "
        f"Each workload runs {load.rounds} rounds of the service and the lean ceiling back to "
        "back, in alternating order; a table row is the round whose throughput ratio is the "
        "median, `each round` gives every round's ratio, and the p99 ratio is the median of "
        "the rounds' (each given in brackets), as the machine's noise moves both apps' "
        "numbers, their tails most, from one run to the next. "
        "Each app runs under `uvicorn --workers 2`; every request carries an HS256 token of "
        "one of the seeded users, in rotation. 50 users x 200 tasks were created through the "
        "API. `mixed` is 35% list, 35% get, 15% create, 15% toggle. Errors count every non-2xx "
        "response and socket error. PostgreSQL runs with stock settings except "
        "`max_connections = 200` (three apps share it).",
        "",
        "The **lean** ceiling is the same framework and JWT check running the same SQL through "
        "one asyncpg pool of prepared statements, no ORM, no explicit transaction "
        "(`bench/ceilings/lean.py`; each write is one statement that also bumps the owner's "
        "change counter, and is then announced with others by the service's `Announcer`, as "
        "the service's writes are: `bench/sql.py`); the "
        "**framework** ceiling is the JWT check in front of a "
        "route that answers from memory (`bench/ceilings/framework.py`). Peak RSS is each "
        "worker's VmHWM, reset before each workload. The service's rate limit is on, at "
        "1,000,000 requests per minute per user, a budget the load never exhausts; a request "
        "costs the same whatever the budget (one counter per user and window).",
        "",
        *_round_trip_lines(report.db_round_trip),
        "## Machine",
        "",
        *(f"- {name}: {value}" for name, value in report.machine.items()),
        "",
        "## Versions",
        "",
        *(f"- {name} {value}" for name, value in report.versions.items()),
        "",
        "## 10,000 tasks (50 users x 200, seeded through the API)",
        "",
        *_results_table(report.small, report.framework),
        "",
    ]
    if report.framework:
        lines += [_framework_line(report.framework), ""]
    lines += [
        f"Targets: throughput ≥ {MIN_THROUGHPUT_RATIO}x the lean ceiling, p99 ≤ "
        f"{MAX_P99_RATIO:g}x its p99, no errors, peak RSS under {MAX_WORKER_RSS_MIB} MiB per "
        "worker.",
        "",
    ]
    if report.large:
        lines += [
            "## 1,000,000 tasks (5,000 users x 200)",
            "",
            "The 50 users above plus 4,950 more whose 990,000 tasks were bulk-loaded with "
            "`COPY` (then `VACUUM ANALYZE`), not through the API.",
            "",
            *_results_table(report.large, report.framework),
            "",
            *_large_comparison(report),
            "",
        ]
        for name, plan in report.plans.items():
            lines += [
                f"`EXPLAIN (ANALYZE, BUFFERS)` of the {name} statement:",
                "",
                "```",
                plan,
                "```",
                "",
            ]
    if report.flame:
        lines += ["## Where the time goes: `GET /api/<user>/tasks/{id}`, 1 worker", ""]
        lines += [*_flame_section(report.flame), ""]
    if report.session_cost:
        lines += [*_session_cost_section(report.session_cost), ""]
    return "\n".join(lines)


def _round_trip_lines(round_trip: tuple[float, float] | None) -> list[str]:
    if round_trip is None:
        return []
    asked, measured = round_trip
    return [
        f"**The database is a network hop away**: the apps reach PostgreSQL through a relay "
        f"that adds {asked:g} ms to each round trip (`--db-round-trip-ms`, "
        f"`bench/latency.py`); a `SELECT 1` through it takes {measured:.1f} ms (median).",
        "",
    ]


def _session_cost_section(cost: SessionCost) -> list[str]:
    return [
        "## What the session costs: `GET` one task in one process, one call at a time",
        "",
        "CPU time per call (`bench/session_cost.py`), no HTTP, the same statement and row:",
        "",
        "| path | CPU µs per call |",
        "| --- | ---: |",
        f"| raw asyncpg pool (`fetchrow`), as the lean ceiling | {cost.raw_us:,.0f} |",
        f"| the service's read session and `queries.get_task` | {cost.session_us:,.0f} |",
        f"| difference | {cost.session_us - cost.raw_us:,.0f} |",
    ]
