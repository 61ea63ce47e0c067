"""Rules on values that every message shares: text PostgreSQL can store, instants in UTC."""

from datetime import UTC, datetime

from persistence.errors import InvalidField


def storable_text(field: str, text: str) -> str:
    if "\x00" in text:
        raise InvalidField(field, "must not contain NUL characters")
    return text


def utc_instant(field: str, moment: datetime | None) -> datetime | None:
    """The same instant in UTC; an offset that pushes it outside years 1-9999 is refused."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidField(field, "must be an RFC 3339 date-time with an offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidField(field, "is out of range") from None
