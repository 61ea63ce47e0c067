"""Idempotent creates: a retried request with the same `Idempotency-Key` gets the first answer.

A key is claimed by inserting its row in the transaction that creates the task, and the
response is written to it before that transaction commits, so a key is never seen without its
answer. A second request with the same key waits on the first one's uncommitted row: it then
finds the stored answer, or claims the key itself if the first rolled back. It waits at most
`IN_FLIGHT_WAIT`, then is told to retry (409).
"""

from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.domain import (
    IDEMPOTENCY_KEY_TTL,
    IdempotencyKeyReused,
    RequestInFlight,
    utcnow,
)
from persistence.models import IdempotencyKey

IN_FLIGHT_WAIT = "5s"
_LOCK_NOT_AVAILABLE = "55P03"

_Key = IdempotencyKey.__table__.c


async def claim_key(
    session: AsyncSession, user_id: str, key: str, request_hash: bytes
) -> bytes | None:
    """Claim `key` for this request and return None, or return the response already stored
    for it. Raises `IdempotencyKeyReused` when it was used with another body."""
    now = utcnow()
    await session.execute(text(f"SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'"))
    try:
        claimed = await session.scalar(_claim(user_id, key, request_hash, now))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise RequestInFlight from None
        raise
    if claimed:
        return None
    stored_hash, response = (
        await session.execute(
            select(_Key.request_hash, _Key.response).where(_Key.user_id == user_id, _Key.key == key)
        )
    ).one()
    if stored_hash != request_hash:
        raise IdempotencyKeyReused
    return response


def _claim(user_id: str, key: str, request_hash: bytes, now: datetime) -> Insert:
    """Insert the key, or take over an expired one; returns a row only when claimed."""
    statement = insert(IdempotencyKey.__table__).values(
        user_id=user_id, key=key, request_hash=request_hash, created_at=now
    )
    return statement.on_conflict_do_update(
        index_elements=[_Key.user_id, _Key.key],
        set_={"request_hash": request_hash, "response": None, "created_at": now},
        where=_Key.created_at < now - IDEMPOTENCY_KEY_TTL,
    ).returning(_Key.key)


async def store_response(session: AsyncSession, user_id: str, key: str, response: bytes) -> None:
    await session.execute(
        update(IdempotencyKey.__table__)
        .where(_Key.user_id == user_id, _Key.key == key)
        .values(response=response)
    )


async def purge_expired_keys(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget keys older than a day; run in the background, never on a request."""
    cutoff = (now or utcnow()) - IDEMPOTENCY_KEY_TTL
    result = await session.execute(delete(IdempotencyKey.__table__).where(_Key.created_at < cutoff))
    return result.rowcount
