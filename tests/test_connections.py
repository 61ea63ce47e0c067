"""Pooled connections that the server has closed (as Neon does when a compute suspends) are
replaced before use, with no ping on every checkout."""

import asyncio

from sqlalchemy import event, text

from persistence import database
from persistence.database import make_engine

BACKEND_PID = text("SELECT pg_backend_pid()")
BURST = 60  # requests in flight at once, more than the pool holds


async def test_a_connection_the_server_closed_is_replaced_at_checkout(database_url, engine):
    pool_engine = make_engine(database_url)
    try:
        async with pool_engine.connect() as connection:
            first_pid = await connection.scalar(BACKEND_PID)
            raw = (await connection.get_raw_connection()).driver_connection
        async with engine.connect() as admin:  # the server ends the idle pooled connection
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        for _ in range(100):
            if raw.is_closed():
                break
            await asyncio.sleep(0.05)
        assert raw.is_closed()

        async with pool_engine.connect() as connection:  # no error: a fresh connection
            second_pid = await connection.scalar(BACKEND_PID)
        assert second_pid != first_pid
    finally:
        await pool_engine.dispose()


async def test_a_burst_beyond_the_pool_waits_for_its_connections_rather_than_opening_more(
    database_url,
):
    """A connection opened for a burst and closed after it would cost a connect (a TLS
    handshake on Neon) and every statement prepared afresh, burst after burst."""
    pool_engine = make_engine(database_url)
    opened: list[object] = []
    event.listen(
        pool_engine.sync_engine, "connect", lambda connection, _: opened.append(connection)
    )

    async def hold_a_connection() -> None:
        async with pool_engine.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(0.02)"))

    try:
        for _ in range(3):
            await asyncio.gather(*(hold_a_connection() for _ in range(BURST)))
        assert 0 < len(opened) == pool_engine.pool.size() < BURST
    finally:
        await pool_engine.dispose()


async def _backend_pid(pool_engine) -> int:
    async with pool_engine.connect() as connection:
        return await connection.scalar(BACKEND_PID)


async def test_a_connection_left_idle_too_long_is_replaced_at_checkout(database_url, monkeypatch):
    monkeypatch.setattr(database, "_IDLE_SECONDS", 0.2)
    pool_engine = make_engine(database_url)
    try:
        first = await _backend_pid(pool_engine)
        assert await _backend_pid(pool_engine) == first  # back at once: the same connection
        await asyncio.sleep(0.3)
        assert await _backend_pid(pool_engine) != first
    finally:
        await pool_engine.dispose()


async def test_a_connection_in_steady_use_is_kept_however_old(database_url, monkeypatch):
    """Retiring connections by age made a busy pool reconnect all at once, a stall every few
    minutes; only idleness retires one."""
    monkeypatch.setattr(database, "_IDLE_SECONDS", 0.2)
    pool_engine = make_engine(database_url)
    try:
        first = await _backend_pid(pool_engine)
        for _ in range(20):  # a second in all, five times the idle limit
            await asyncio.sleep(0.05)
            assert await _backend_pid(pool_engine) == first
    finally:
        await pool_engine.dispose()
