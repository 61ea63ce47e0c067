"""The task vocabulary: enums, limits, value rules and domain errors.

The one source that the table definitions, the command messages, the query parameters and the
OpenAPI document all read, so a limit is written once. Handlers raise the errors below; the
HTTP edge maps them to statuses.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from msgspec import Meta

# --- limits ------------------------------------------------------------------------------------

USER_ID_MAX = 255
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
TAG_MAX = 32
TAGS_MAX = 10
SEARCH_MAX = 200
PAGE_MAX = 100
PAGE_DEFAULT = 20
TASK_ID_MAX = 2**63 - 1  # a PostgreSQL bigint; larger ids cannot exist
CHANGES_PAGE_MAX = 500
CHANGES_PAGE_DEFAULT = 100
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)

# --- enums ---------------------------------------------------------------------------------------


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Recurrence(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


# The versions an `If-Match` names; None when the request has none (any version will do).
Versions = frozenset[int] | None

# --- wire types ----------------------------------------------------------------------------------

Description = Annotated[str, Meta(max_length=DESCRIPTION_MAX)]
Tags = Annotated[list[str], Meta(max_length=TAGS_MAX)]
AwareDateTime = Annotated[datetime, Meta(tz=True)]

# --- errors --------------------------------------------------------------------------------------


class InvalidField(ValueError):
    """A value breaks a rule; `field` names it for the 422 body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TaskNotFound(Exception):
    """No task with this id belongs to the acting user (whether or not it exists)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class PreconditionFailed(Exception):
    """The task has moved on from every version the client named in `If-Match`."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} has changed since it was read")
        self.task_id = task_id


class CursorExpired(Exception):
    """A change-feed cursor older than the retention window: deletions it would need may be
    forgotten, so the client must sync again from scratch."""


class IdempotencyKeyReused(Exception):
    """An `Idempotency-Key` came back with a different request body."""


class RequestInFlight(Exception):
    """The first request with this `Idempotency-Key` is still being processed."""


# --- value rules ---------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def storable_text(field: str, text: str) -> str:
    """PostgreSQL text cannot hold NUL characters."""
    if "\x00" in text:
        raise InvalidField(field, "must not contain NUL characters")
    return text


def clean_title(title: str) -> str:
    title = storable_text("title", title).strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise InvalidField("title", f"must be 1-{TITLE_MAX} characters after trimming")
    return title


def clean_description(description: str | None) -> str | None:
    return None if description is None else storable_text("description", description)


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


# What msgspec cannot express, by field: each rule normalises a value or raises InvalidField.
FIELD_RULES: dict[str, Callable[[Any], Any]] = {
    "title": clean_title,
    "description": clean_description,
    "tags": clean_tags,
    "due_date": lambda moment: utc_instant("due_date", moment),
}


def clean_idempotency_key(key: str) -> str:
    """1-255 visible ASCII characters, as RFC 9110 allows in a header value without quoting."""
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not all("!" <= c <= "~" for c in key):
        raise InvalidField(
            "Idempotency-Key", f"must be 1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )
    return key


def existing_task_id(task_id: int) -> int:
    """Ids outside PostgreSQL's bigint range cannot name a task: not found, not an error."""
    if not 1 <= task_id <= TASK_ID_MAX:
        raise TaskNotFound(task_id)
    return task_id
