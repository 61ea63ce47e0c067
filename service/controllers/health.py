"""Liveness and readiness probes (no auth)."""

import asyncio

import msgspec
from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.database import ON_PRIMARY
from service.errors import RETRY_AFTER_SECONDS, problem
from service.openapi import documented

READY_TIMEOUT_SECONDS = 3.0


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health", **documented("health"), summary="The process is up", tags=["health"])
async def health() -> Health:
    return Health("ok")


async def _answers(engine: AsyncEngine) -> bool:
    """Whether the engine's own server answers (not the primary standing in for a replica)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            return not connection.info.get(ON_PRIMARY)
    except (OSError, TimeoutError, SQLAlchemyError):
        return False


@get(
    "/ready",
    **documented("ready"),
    summary="The database (and the read replica, when configured) is reachable",
    description="503 with `Retry-After`, naming what is unreachable, when it is not.",
    tags=["health"],
)
async def ready(
    db_engine: NamedDependency[AsyncEngine], read_engine: NamedDependency[AsyncEngine]
) -> Health:
    engines = {"the database (DATABASE_URL)": db_engine}
    if read_engine.pool is not db_engine.pool:  # a replica, not the primary in autocommit
        engines["the read replica (READ_DATABASE_URL)"] = read_engine
    answers = await asyncio.gather(*(_answers(engine) for engine in engines.values()))
    unreachable = [name for name, answered in zip(engines, answers, strict=True) if not answered]
    if unreachable:
        raise problem(
            503,
            f"Unreachable: {' and '.join(unreachable)}",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    return Health("ready")
