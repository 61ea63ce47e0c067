"""Liveness and readiness probes (no auth)."""

import asyncio

import msgspec
from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.openapi import documented

READY_TIMEOUT_SECONDS = 3.0


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health", **documented("health"), summary="The process is up", tags=["health"])
async def health() -> Health:
    return Health("ok")


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@get(
    "/ready",
    **documented("ready"),
    summary="The database is reachable",
    description="503 with `Retry-After` when it is not.",
    tags=["health"],
)
async def ready(db_engine: NamedDependency[AsyncEngine]) -> Health:
    # A failure to connect (or a time-out) becomes a 503 in service.errors.
    await asyncio.wait_for(_ping(db_engine), READY_TIMEOUT_SECONDS)
    return Health("ready")
