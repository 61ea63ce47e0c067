"""What one read costs the worker's CPU through the service's session, against the same
statement through raw asyncpg: the part of the gap to the lean ceiling that SQLAlchemy's
async session accounts for, measured in one process, one request at a time, no HTTP."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import uvloop

from bench import sql
from bench.seed import User
from persistence.database import read_config, write_config
from persistence.urls import parse_database_url
from queries.handlers import get_task

CALLS = 2_000
WARMUP_CALLS = 200


@dataclass(frozen=True)
class SessionCost:
    raw_us: float  # CPU per `GET` one task through a raw asyncpg pool
    session_us: float  # the same through the service's read session and query handler


async def _cpu_per_call(call: Callable[[int], Awaitable[object]]) -> float:
    for number in range(WARMUP_CALLS):
        await call(number)
    started = time.process_time()
    for number in range(CALLS):
        await call(number)
    return (time.process_time() - started) * 1e6 / CALLS


async def _measure(database_url: str, user: User) -> SessionCost:
    tasks = user.task_ids
    db = parse_database_url(database_url)
    config = read_config(write_config(db), db, None)
    new_session = config.create_session_maker()

    async def through_session(number: int) -> object:
        async with new_session() as session:
            return await get_task(session, user.id, tasks[number % len(tasks)])

    async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:

        async def raw(number: int) -> object:
            return await pool.fetchrow(sql.GET_TASK, tasks[number % len(tasks)], user.id)

        raw_us = await _cpu_per_call(raw)
    session_us = await _cpu_per_call(through_session)
    await config.get_engine().dispose()
    return SessionCost(raw_us=raw_us, session_us=session_us)


def session_cost(database_url: str, user: User) -> SessionCost:
    return uvloop.run(_measure(database_url, user))
