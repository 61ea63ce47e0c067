"""`uv run python -m bench`: start PostgreSQL, seed through the API, load the service and its
two ceilings with wrk, and write the results to `bench/results/<date>.md`."""

import argparse
import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import sql
from bench.latency import behind_latency, measured_round_trip_ms
from bench.load import WORKLOADS, LoadSettings, Measurement, measure
from bench.postgres import temporary_cluster
from bench.profile import profile
from bench.report import Report, WorkloadResult, render, versions
from bench.seed import User, bulk_load, new_users, seed_through_api, write_wrk_data
from bench.servers import Server, serve
from bench.session_cost import session_cost
from bench.system import describe_machine, require_command
from persistence.database import make_engine
from persistence.migrate import upgrade_to_head

RESULTS = Path(__file__).with_name("results")
WORKERS = 2
USERS, TASKS_PER_USER = 50, 200
LARGE_USERS = 5_000  # x 200 tasks: 1,000,000
APPS = {  # name: (ASGI app, readiness path)
    "service": ("service.asgi:app", "/ready"),
    "lean": ("bench.ceilings.lean:app", "/health"),
    "framework": ("bench.ceilings.framework:app", "/health"),
}
# The rate limit stays on, with a budget the benchmark's request rate never exhausts.
RATE_LIMIT = "1000000/minute"


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before each run")
    parser.add_argument(
        "--rounds", type=int, default=5, help="service and lean runs per workload (the median)"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument(
        "--large", action="store_true", help="then again on 1,000,000 tasks of 5,000 users"
    )
    parser.add_argument(
        "--db-round-trip-ms",
        type=float,
        default=0,
        help="put the apps' database this far away, as a hosted one is (bench/latency.py)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--note", default="", help="a remark for the top of the results file")
    parser.add_argument("--output", type=Path, help="default: bench/results/<date>.md")
    return parser.parse_args()


def _say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _ceiling(name: str, measurement: Measurement) -> Measurement:
    """A ceiling that fails requests measures nothing: stop rather than report its ratios."""
    if measurement.non_2xx:
        raise SystemExit(f"bench: the {name} ceiling answered {measurement.statuses}; see its log")
    return measurement


class Bench:
    """One run: a database, the apps on it, and the report they fill in."""

    def __init__(self, report: Report, scratch: Path, database_url: str, apps_url: str) -> None:
        """`apps_url` reaches the database as the apps do (maybe through the latency relay);
        the benchmark's own loading and plans use `database_url`."""
        self.report = report
        self.scratch = scratch
        self.database_url = database_url
        self.secret = secrets.token_urlsafe(32)
        self.users: list[User] = []
        self.env = {
            "DATABASE_URL": apps_url,
            "JWT_SECRET": self.secret,
            "RATE_LIMIT": RATE_LIMIT,
            "LOG_FORMAT": "json",
            # Migrated once before the apps start (`_migrate`), as `taskapi run` does for its
            # workers: a worker that migrates also keeps Alembic in memory.
            "AUTO_MIGRATE": "false",
        }

    def serve(self, name: str, workers: int = WORKERS) -> AbstractContextManager[Server]:
        app, ready_path = APPS[name]
        log = self.scratch / f"{name}-{workers}.log"
        return serve(name, app, workers=workers, env=self.env, log=log, ready_path=ready_path)

    @contextmanager
    def apps(self) -> Iterator[dict[str, Server]]:
        """The service and its two ceilings, side by side on one database."""
        with ExitStack() as stack:
            yield {name: stack.enter_context(self.serve(name)) for name in APPS}

    def seed(self, service: Server) -> Path:
        _say(f"seeding {USERS} users x {TASKS_PER_USER} tasks through the API")
        self.users = new_users(USERS, self.secret)
        asyncio.run(seed_through_api(service.base_url, self.users, TASKS_PER_USER))
        return write_wrk_data(self.users, self.scratch / "users.txt")

    def grow(self) -> Path:
        more = new_users(LARGE_USERS - USERS, self.secret)
        _say(f"bulk-loading {len(more) * TASKS_PER_USER:,} more tasks with COPY")
        asyncio.run(bulk_load(self.database_url, more, TASKS_PER_USER))
        self.users += more
        return write_wrk_data(self.users, self.scratch / "users-large.txt")

    def explain(self) -> None:
        """Plans of the list and get statements for one user of many, caches warm."""
        user = self.users[len(self.users) // 2]
        self.report.plans = asyncio.run(_explain(self.database_url, user))

    def run_workloads(
        self, servers: dict[str, Server], workloads: list[str], data: Path
    ) -> list[WorkloadResult]:
        """Each workload on the service and on the lean ceiling back to back, so that both see
        the machine (and its noise) as nearly alike as possible; in rounds, which one goes
        first alternating, of which the median round is kept."""
        results = []
        for workload in workloads:
            count = self.report.load.rounds
            rounds = [self.run_round(servers, workload, data, n) for n in range(count)]
            for each in rounds:
                _say(each.summary_line())
            results.append(_median_round(rounds))
        return results

    def run_round(
        self, servers: dict[str, Server], workload: str, data: Path, number: int
    ) -> WorkloadResult:
        order = ["service", "lean"] if number % 2 == 0 else ["lean", "service"]
        measured = {name: self.measure(servers[name], workload, data) for name in order}
        (service, service_rss), (lean, lean_rss) = measured["service"], measured["lean"]
        return WorkloadResult(workload, service, service_rss, _ceiling("lean", lean), lean_rss)

    def measure(self, server: Server, workload: str, data: Path) -> tuple[Measurement, list[float]]:
        server.reset_peak_memory()
        result = measure(server.base_url, workload, data, self.report.load)
        return result, server.peak_memory_mib()

    def profile_get(self, data: Path) -> None:
        _say("profiling GET one task on 1 worker with py-spy")
        with self.serve("service", workers=1) as single:
            flame = profile(single, "get", data, self.report.load, self.scratch / "get.txt")
        self.report.flame = flame


def _median_round(rounds: list[WorkloadResult]) -> WorkloadResult:
    median = sorted(rounds, key=lambda each: each.throughput_ratio)[len(rounds) // 2]
    return replace(
        median,
        service_rss_mib=_highest([each.service_rss_mib for each in rounds]),
        lean_rss_mib=_highest([each.lean_rss_mib for each in rounds]),
        round_ratios=[each.throughput_ratio for each in rounds],
        round_p99_ratios=[each.p99_ratio for each in rounds],
    )


def _highest(peaks_by_round: list[list[float]]) -> list[float]:
    """Each worker's highest peak over the rounds (the same workers, in the same order)."""
    return [max(peaks) for peaks in zip(*peaks_by_round, strict=True)]


async def _explain(database_url: str, user: User) -> dict[str, str]:
    statements = {
        "list": (sql.LIST_TASKS, user.id, 20, 0),
        "get": (sql.GET_TASK, user.task_ids[len(user.task_ids) // 2], user.id),
    }
    connection = await asyncpg.connect(database_url)
    try:
        plans = {}
        for name, (statement, *params) in statements.items():
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *params)
            plans[name] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await connection.close()


async def _migrate(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


@contextmanager
def _as_the_apps_reach(database_url: str, round_trip_ms: float, report: Report) -> Iterator[str]:
    if not round_trip_ms:
        yield database_url
        return
    with behind_latency(database_url, round_trip_ms) as url:
        report.db_round_trip = (round_trip_ms, asyncio.run(measured_round_trip_ms(url)))
        _say(f"the apps reach PostgreSQL in {report.db_round_trip[1]:.1f} ms per round trip")
        yield url


def run(options: argparse.Namespace, report: Report) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="taskapi-bench-") as scratch,
        temporary_cluster() as db,
        _as_the_apps_reach(db.url, options.db_round_trip_ms, report) as apps_url,
    ):
        report.versions = versions(db)
        asyncio.run(_migrate(db.url))
        bench = Bench(report, Path(scratch), db.url, apps_url)
        with bench.apps() as servers:
            data = bench.seed(servers["service"])
            framework = measure(servers["framework"].base_url, "get", data, report.load)
            report.framework = _ceiling("framework", framework)
            _say(f"framework ceiling: {report.framework.requests_per_second:.0f} req/s")
            report.small = bench.run_workloads(servers, options.workloads, data)
            if not options.no_profile:  # before the table grows, on the same 10,000 tasks
                bench.profile_get(data)
            report.session_cost = session_cost(db.url, bench.users[0])
            if options.large:
                report.large = bench.run_workloads(servers, options.workloads, bench.grow())
                bench.explain()


def main() -> None:
    options = _options()
    require_command("wrk", "wrk")
    load = LoadSettings(
        options.connections, options.threads, options.duration, options.warmup, options.rounds
    )
    started = datetime.now(UTC)
    report = Report(started=started, machine=describe_machine(), load=load, note=options.note)
    run(options, report)
    output = options.output or RESULTS / f"{started:%Y-%m-%d}.md"
    output.write_text(render(report))
    _say(f"results in {output}")


if __name__ == "__main__":
    main()
