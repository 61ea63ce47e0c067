"""When a recurring task falls due next.

A task recurs by a preset (`daily`, `weekly`, `monthly`, `yearly`) or by an RFC 5545 rule
within a subset (`RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH`). Occurrences are computed by
`dateutil.rrule` in the task's time zone, from the start of its series: the first occurrence's
due date, which fixes the local time of day, the day of the month a monthly task keeps, and
where `COUNT` counts from.
"""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday, weekdays

from persistence.domain import InvalidField

PRESETS = ("none", "daily", "weekly", "monthly", "yearly")
RULE_PREFIX = "RRULE:"
RULE_MAX = 200
TIME_ZONE_MAX = 64

_FREQUENCIES = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}
_WEEKDAYS = dict(zip(("MO", "TU", "WE", "TH", "FR", "SA", "SU"), weekdays, strict=True))
_UNSIGNED = re.compile(r"[0-9]{1,9}")
_SIGNED = re.compile(r"[+-]?[0-9]{1,9}")
_WEEKDAY_NUM = re.compile(r"(?:([+-]?[0-9]{1,2}))?(MO|TU|WE|TH|FR|SA|SU)")
_UNTIL = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")

# The 400 years of the Gregorian cycle that end the calendar: a rule's day filters (month,
# day of the month, weekday) that match nothing here match nothing ever.
_LAST_CYCLE_START = datetime(10000 - 400, 1, 1)


class Until:
    """`UNTIL`: an instant in UTC, or a wall-clock time in the task's zone (a date alone
    means the end of that day)."""

    def __init__(self, moment: datetime, *, utc: bool) -> None:
        self.moment, self.utc = moment, utc

    def in_zone(self, zone: ZoneInfo) -> datetime:
        return self.moment.replace(tzinfo=UTC if self.utc else zone)


def _fail(message: str) -> InvalidField:
    return InvalidField("recurrence", message)


# --- time zones -------------------------------------------------------------------------------


@cache
def _time_zone_names() -> frozenset[str]:
    # "localtime" names the host's own setting, not a zone of the tz database.
    return frozenset(available_timezones() - {"localtime"})


def clean_time_zone(name: str) -> str:
    """An IANA time zone name, spelled exactly as the tz database does."""
    if name not in _time_zone_names():
        raise InvalidField("time_zone", "must be an IANA time zone name such as Europe/Berlin")
    return name


# --- reading a rule -----------------------------------------------------------------------------


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
    match = _UNTIL.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        date, time, utc = match.groups()
        moment = datetime.strptime(date + (time or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _fail(f"UNTIL must be a date (YYYYMMDD) or a date-time, not {text!r}") from None
    return Until(moment, utc=bool(utc))


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


def _parts(rule: str) -> dict[str, Any]:
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
    if text in PRESETS:
        return text
    rule = text.upper()
    if not rule.startswith(RULE_PREFIX):
        raise _fail(f"must be one of {', '.join(PRESETS)} or an RFC 5545 rule starting RRULE:")
    if len(rule) > RULE_MAX:
        raise _fail(f"a rule is at most {RULE_MAX} characters")
    _parts(rule)
    return rule


# --- the next occurrence ------------------------------------------------------------------------


def _day_of_month(day: int) -> dict[str, Any]:
    """The day, or the month's last day in months too short for it (31 -> Feb 28 -> Mar 31)."""
    if day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": range(28, day + 1), "bysetpos": -1}


# The presets as rules, given the series' first occurrence.
_PRESET_RULES: dict[str, Callable[[datetime], dict[str, Any]]] = {
    "daily": lambda start: {"freq": DAILY},
    "weekly": lambda start: {"freq": WEEKLY},
    "monthly": lambda start: {"freq": MONTHLY, **_day_of_month(start.day)},
    "yearly": lambda start: {"freq": YEARLY, "bymonth": start.month, **_day_of_month(start.day)},
}


def _arguments(recurrence: str, start: datetime) -> dict[str, Any] | None:
    if recurrence == "none":
        return None
    if recurrence in _PRESET_RULES:
        return _PRESET_RULES[recurrence](start)
    arguments = dict(_parts(recurrence))
    if "until" in arguments:
        arguments["until"] = arguments["until"].in_zone(start.tzinfo)
    return arguments


def _closer_start(arguments: dict[str, Any], start: datetime, threshold: datetime) -> datetime:
    """A later start with the same occurrences after `threshold`: whole periods of the rule
    are skipped, so that a daily rule started years ago is not walked day by day."""
    days_per_period = {DAILY: 1, WEEKLY: 7}.get(arguments["freq"])
    if days_per_period is None:
        return start
    step = days_per_period * arguments.get("interval", 1)
    periods = (threshold.astimezone(start.tzinfo).date() - start.date()).days // step
    return start + timedelta(days=max(periods - 1, 0) * step)


def _series(arguments: dict[str, Any], start: datetime, threshold: datetime) -> rrule | None:
    if "count" not in arguments:
        return rrule(dtstart=_closer_start(arguments, start, threshold), wkst=0, **arguments)
    series = rrule(dtstart=start, wkst=0, **arguments)  # COUNT counts from the real start
    if next(iter(series), None) == start:
        return series
    # RFC 5545: the series' start is its first occurrence and counts, matching the rule or not.
    count = arguments["count"] - 1
    return series.replace(count=count) if count else None


def next_occurrence(
    recurrence: str,
    time_zone: str,
    series_start: datetime,
    due_date: datetime,
    now: datetime,
) -> datetime | None:
    """The first occurrence of the series after both `due_date` and `now`, at the series'
    local time of day in `time_zone` (in UTC); None when the series has ended."""
    start = series_start.astimezone(ZoneInfo(time_zone))
    arguments = _arguments(recurrence, start)
    if arguments is None:
        return None
    # `rrule` works in whole seconds; the start's microseconds are added back to the result.
    threshold = max(due_date, now) - timedelta(microseconds=start.microsecond)
    series = _series(arguments, start.replace(microsecond=0), threshold)
    # Aware datetimes in different zones compare as instants, so `after` finds the first
    # occurrence later than `threshold` whatever the offsets on either side.
    occurrence = series.after(threshold) if series is not None else None
    if occurrence is None:
        return None
    return occurrence.replace(microsecond=start.microsecond).astimezone(UTC)


def next_due_date(due_date: datetime, recurrence: str) -> datetime | None:
    """The occurrence after `due_date` of a series that starts there, at its offset."""
    following = next_occurrence(recurrence, "UTC", due_date, due_date, due_date)
    return following and following.astimezone(due_date.tzinfo)
