"""Liveness and readiness probes (no auth)."""

import asyncio

import msgspec
from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.errors import problem

READY_TIMEOUT_SECONDS = 3.0
RETRY_AFTER_SECONDS = "5"


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health", operation_id="health", summary="The process is up", tags=["health"])
async def health() -> Health:
    return Health("ok")


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@get("/ready", operation_id="ready", summary="The database is reachable", tags=["health"])
async def ready(db_engine: NamedDependency[AsyncEngine]) -> Health:
    try:
        await asyncio.wait_for(_ping(db_engine), READY_TIMEOUT_SECONDS)
    except (TimeoutError, OSError, SQLAlchemyError) as error:
        raise problem(
            503, "The database is unreachable", headers={"Retry-After": RETRY_AFTER_SECONDS}
        ) from error
    return Health("ready")
