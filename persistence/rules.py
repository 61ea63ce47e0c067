"""Rules on values that commands and queries share: text PostgreSQL can store, instants in
UTC, tags, and ids that can exist."""

from datetime import UTC, datetime

import msgspec

from persistence.errors import InvalidField, TaskNotFound
from persistence.models import MAX_TASK_ID

TAG_MAX = 32


def storable_text(field: str, text: str) -> str:
    if "\x00" in text:
        raise InvalidField(field, "must not contain NUL characters")
    return text


def parse_instant(field: str, text: str | None) -> datetime | None:
    """An RFC 3339 date-time from text, read strictly (no bare numbers)."""
    if text is None:
        return None
    try:
        return msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        raise InvalidField(field, "must be an RFC 3339 date-time with an offset") from None


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


def clean_tags(tags: list[str] | tuple[str, ...], field: str = "tags") -> list[str]:
    """Trimmed, lower-cased, each 1-32 characters, duplicates dropped (first kept)."""
    cleaned: list[str] = []
    for tag in tags:
        tag = storable_text(field, tag).strip().lower()
        if not 1 <= len(tag) <= TAG_MAX:
            raise InvalidField(field, f"each tag must be 1-{TAG_MAX} characters after trimming")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def existing_task_id(task_id: int) -> int:
    """Ids outside PostgreSQL's bigint range cannot name a task: not found, not an error."""
    if not 1 <= task_id <= MAX_TASK_ID:
        raise TaskNotFound(task_id)
    return task_id
