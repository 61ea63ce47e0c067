"""The task vocabulary: enums, limits, value rules and domain errors.

The one source that the table definitions, the command messages, the query parameters and the
OpenAPI document all read, so a limit is written once. Handlers raise the errors below; the
HTTP edge maps them to statuses.
"""

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from annotated_types import MaxLen, MinLen
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday, weekdays
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
VERSION_MAX = 2**31 - 1  # a PostgreSQL integer; larger versions cannot exist
CHANGES_PAGE_MAX = 500
CHANGES_PAGE_DEFAULT = 100
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
RECURRENCE_MAX = 200
TIME_ZONE_MAX = 64  # the tz database's longest name has 32 characters
TIME_ZONE_DEFAULT = "UTC"

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
    YEARLY = "yearly"


# The versions an `If-Match` names; None when the request has none (any version will do).
Versions = frozenset[int] | None

# --- wire types ----------------------------------------------------------------------------------

# msgspec enforces the `Meta` limits while decoding. `MinLen`/`MaxLen` (annotated-types) are only
# read by the OpenAPI document: they state limits that `FIELD_RULES` enforce after trimming,
# which msgspec, counting before trimming, must not check.
Title = Annotated[
    str,
    Meta(description=f"Trimmed; 1-{TITLE_MAX} characters after trimming"),
    MinLen(1),
    MaxLen(TITLE_MAX),
]
Description = Annotated[str, Meta(max_length=DESCRIPTION_MAX)]
Tag = Annotated[str, MinLen(1), MaxLen(TAG_MAX)]
Tags = Annotated[
    list[Tag],
    Meta(
        max_length=TAGS_MAX,
        description=f"At most {TAGS_MAX}. Each is trimmed and lower-cased, and must then be "
        f"1-{TAG_MAX} characters; duplicates are dropped (the first is kept).",
    ),
]
AwareDateTime = Annotated[datetime, Meta(tz=True)]
RULE_PREFIX = "RRULE:"
RecurrenceRule = Annotated[
    str,
    Meta(
        max_length=RECURRENCE_MAX,
        pattern=rf"^({'|'.join(Recurrence)}|{RULE_PREFIX}.+)$",
        description=(
            "How the task recurs: a preset (`none`, `daily`, `weekly`, `monthly`, `yearly`) or "
            "an RFC 5545 rule with `FREQ` (DAILY, WEEKLY, MONTHLY, YEARLY), `INTERVAL`, `BYDAY` "
            "(ordinals such as `2MO`, `-1FR` with MONTHLY and YEARLY), `BYMONTHDAY`, `BYMONTH`, "
            "and `COUNT` or `UNTIL`. Completing a task with a `due_date` creates the next "
            "occurrence after both that date and now, at the same local time in `time_zone`; "
            "`monthly` keeps the day of the month, clamped in short months."
        ),
        examples=[
            "weekly",
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
        ],
    ),
]
TimeZoneName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=TIME_ZONE_MAX,
        description="IANA time zone the task is lived in; recurrence keeps local time in it",
        examples=["Europe/Berlin", "America/New_York", "UTC"],
    ),
]

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


# --- recurrence and time zones -------------------------------------------------------------------
# A task recurs by a preset or by an RFC 5545 rule within the subset below; `rule_arguments`
# reads a rule into the arguments of `dateutil.rrule.rrule`, and commands/recurrence.py works
# out occurrences from them.

_PRESETS = frozenset(Recurrence)
_FREQUENCIES = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}
_WEEKDAYS = dict(zip(("MO", "TU", "WE", "TH", "FR", "SA", "SU"), weekdays, strict=True))
_UNSIGNED = re.compile(r"[0-9]{1,9}")
_SIGNED = re.compile(r"[+-]?[0-9]{1,9}")
_WEEKDAY_NUM = re.compile(r"(?:([+-]?[0-9]{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")

# The 400 years of the Gregorian cycle that end the calendar: a rule's day filters (month,
# day of the month, weekday) that match nothing here match nothing ever.
_LAST_CYCLE_START = datetime(10000 - 400, 1, 1)


@dataclass(frozen=True)
class Until:
    """`UNTIL`: an instant in UTC, or a wall-clock time in the task's zone (a date alone
    means the end of that day)."""

    moment: datetime
    utc: bool

    def in_zone(self, zone: ZoneInfo) -> datetime:
        return self.moment.replace(tzinfo=UTC if self.utc else zone)


def _fail(message: str) -> InvalidField:
    return InvalidField("recurrence", message)


@cache
def _time_zone_names() -> frozenset[str]:
    # "localtime" names the host's own setting, not a zone of the tz database.
    return frozenset(available_timezones() - {"localtime"})


def clean_time_zone(name: str) -> str:
    """An IANA time zone name, spelled exactly as the tz database does."""
    if name not in _time_zone_names():
        raise InvalidField("time_zone", "must be an IANA time zone name such as Europe/Berlin")
    return name


def _integer(name: str, text: str, low: int, high: int, *, signed: bool = False) -> int:
    number = _SIGNED if signed else _UNSIGNED
    if not number.fullmatch(text) or not low <= abs(int(text)) <= high:
        sign = "±" if signed else ""
        raise _fail(f"{name} must be {sign}{low}-{high}, not {text!r}")
    return int(text)


def _integers(name: str, text: str, low: int, high: int, *, signed: bool = False) -> list[int]:
    return [_integer(name, item, low, high, signed=signed) for item in text.split(",")]


def _weekdays(text: str) -> list[weekday]:
    days = []
    for item in text.split(","):
        match = _WEEKDAY_NUM.fullmatch(item)
        if match is None:
            raise _fail(f"BYDAY takes weekdays such as MO, 2MO or -1FR, not {item!r}")
        ordinal, day = match.groups()
        number = (
            None if ordinal is None else _integer("BYDAY's ordinal", ordinal, 1, 53, signed=True)
        )
        days.append(_WEEKDAYS[day](number))
    return days


def _until(text: str) -> Until:
    if match := _UNTIL.fullmatch(text):
        date, time, utc = match.groups()
        with suppress(ValueError):  # no such day or time
            return Until(datetime.strptime(date + (time or "235959"), "%Y%m%d%H%M%S"), bool(utc))
    raise _fail(f"UNTIL must be a date (YYYYMMDD) or a date-time, not {text!r}")


def _frequency(text: str) -> int:
    if text not in _FREQUENCIES:
        raise _fail(f"FREQ={text} is not supported (DAILY, WEEKLY, MONTHLY or YEARLY)")
    return _FREQUENCIES[text]


# Each supported part of a rule: the `rrule` argument it sets and how its value is read.
_PARTS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "FREQ": ("freq", _frequency),
    "INTERVAL": ("interval", lambda text: _integer("INTERVAL", text, 1, 999_999_999)),
    "COUNT": ("count", lambda text: _integer("COUNT", text, 1, 999_999_999)),
    "UNTIL": ("until", _until),
    "BYDAY": ("byweekday", _weekdays),
    "BYMONTHDAY": ("bymonthday", lambda text: _integers("BYMONTHDAY", text, 1, 31, signed=True)),
    "BYMONTH": ("bymonth", lambda text: _integers("BYMONTH", text, 1, 12)),
}


def rule_arguments(rule: str) -> dict[str, Any]:
    """The `rrule` arguments of an `RRULE:` text; InvalidField names what is not supported."""
    arguments: dict[str, Any] = {}
    for part in rule.removeprefix(RULE_PREFIX).split(";"):
        name, equals, value = part.partition("=")
        if not equals or not value:
            raise _fail(f"{part!r} is not a NAME=VALUE part")
        if name not in _PARTS:
            raise _fail(f"{name} is not supported")
        argument, read = _PARTS[name]
        if argument in arguments:
            raise _fail(f"{name} is given twice")
        arguments[argument] = read(value)
    _check_combination(arguments)
    _unite_weekdays(arguments)
    if not _can_occur(arguments):
        raise _fail("the rule's BYMONTH, BYMONTHDAY and BYDAY never fall on the same day")
    return arguments


def _check_combination(arguments: dict[str, Any]) -> None:
    """RFC 5545's rules on which parts go together."""
    freq = arguments.get("freq")
    if freq is None:
        raise _fail("FREQ is required")
    if "count" in arguments and "until" in arguments:
        raise _fail("COUNT and UNTIL cannot both be given")
    if freq in (DAILY, WEEKLY) and any(day.n for day in arguments.get("byweekday", ())):
        raise _fail("BYDAY takes ordinals (2MO, -1FR) only with FREQ=MONTHLY or YEARLY")
    if freq == WEEKLY and "bymonthday" in arguments:
        raise _fail("BYMONTHDAY cannot be given with FREQ=WEEKLY")


def _unite_weekdays(arguments: dict[str, Any]) -> None:
    """`rrule` reads BYDAY=MO,-1FR as Mondays that are also last Fridays, where RFC 5545 means
    either (the bug jkbrzt/rrule#71 reports in its JavaScript port). Naming every Monday by
    its ordinal (1MO ... 5MO) makes all of them ordinals, which `rrule` does unite."""
    days = arguments.get("byweekday", [])
    if all(day.n for day in days) or not any(day.n for day in days):
        return
    most = 53 if arguments["freq"] == YEARLY and "bymonth" not in arguments else 5
    arguments["byweekday"] = [
        ordinal_day
        for day in days
        for ordinal_day in ([day] if day.n else [day(n) for n in range(1, most + 1)])
    ]


def _can_occur(arguments: dict[str, Any]) -> bool:
    """Whether some day matches the rule's day filters. Checked up front because `rrule`
    searches a rule that never matches to the end of the calendar, which takes seconds."""
    filters = {
        name: arguments[name]
        for name in ("bymonth", "bymonthday", "byweekday")
        if name in arguments
    }
    if not filters:
        return True
    if arguments["freq"] == MONTHLY:  # ordinals count within each month, as with BYMONTH
        filters.setdefault("bymonth", range(1, 13))
    return (
        rrule(YEARLY, dtstart=_LAST_CYCLE_START, **filters).after(_LAST_CYCLE_START, inc=True)
        is not None
    )


def clean_recurrence(text: str) -> str:
    """A preset, or an `RRULE:` rule within the supported subset (returned in upper case)."""
    if text in _PRESETS:
        return text
    if not text.startswith(RULE_PREFIX):
        presets = ", ".join(Recurrence)
        raise _fail(f"must be one of {presets} or an RFC 5545 rule starting {RULE_PREFIX}")
    rule = text.upper()
    if len(rule) > RECURRENCE_MAX:
        raise _fail(f"a rule is at most {RECURRENCE_MAX} characters")
    rule_arguments(rule)
    return rule


# What msgspec cannot express, by field: each rule normalises a value or raises InvalidField.
FIELD_RULES: dict[str, Callable[[Any], Any]] = {
    "title": clean_title,
    "description": clean_description,
    "tags": clean_tags,
    "due_date": lambda moment: utc_instant("due_date", moment),
    "time_zone": clean_time_zone,
    "recurrence": clean_recurrence,
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
