"""When a recurring task falls due next.

A task recurs by a preset (`daily`, `weekly`, `monthly`, `yearly`) or by an RFC 5545 rule
(`RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH`, read by `persistence.domain.rule_arguments`).
Occurrences are computed by `dateutil.rrule` in the task's time zone, from the start of its
series: the first occurrence's due date, which fixes the local time of day, the day of the
month a monthly task keeps, and where `COUNT` counts from.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule

from persistence.domain import Recurrence, rule_arguments


def _day_of_month(day: int) -> dict[str, Any]:
    """The day, or the month's last day in months too short for it (31 -> Feb 28 -> Mar 31)."""
    if day <= 28:
        return {"bymonthday": day}
    return {"bymonthday": range(28, day + 1), "bysetpos": -1}


# The presets as rules, given the series' first occurrence.
_PRESET_RULES: dict[str, Callable[[datetime], dict[str, Any]]] = {
    Recurrence.DAILY: lambda start: {"freq": DAILY},
    Recurrence.WEEKLY: lambda start: {"freq": WEEKLY},
    Recurrence.MONTHLY: lambda start: {"freq": MONTHLY, **_day_of_month(start.day)},
    Recurrence.YEARLY: lambda start: {
        "freq": YEARLY,
        "bymonth": start.month,
        **_day_of_month(start.day),
    },
}


def _arguments(recurrence: str, start: datetime) -> dict[str, Any] | None:
    if recurrence == Recurrence.NONE:
        return None
    if recurrence in _PRESET_RULES:
        return _PRESET_RULES[recurrence](start)
    arguments = rule_arguments(recurrence)
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
    """The rule's occurrences from `start` on, or None when COUNT leaves none after it."""
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
    try:
        return _first_after(recurrence, ZoneInfo(time_zone), series_start, max(due_date, now))
    except OverflowError:  # the series runs off either end of the calendar
        return None


def _first_after(
    recurrence: str, zone: ZoneInfo, series_start: datetime, threshold: datetime
) -> datetime | None:
    start = series_start.astimezone(zone)
    arguments = _arguments(recurrence, start)
    if arguments is None:
        return None
    # `rrule` works in whole seconds; the start's microseconds are added back to the result.
    threshold -= timedelta(microseconds=start.microsecond)
    series = _series(arguments, start.replace(microsecond=0), threshold)
    # Aware datetimes in different zones compare as instants, so `after` finds the first
    # occurrence later than `threshold` whatever the offsets on either side.
    occurrence = series.after(threshold) if series is not None else None
    if occurrence is None:
        return None
    return occurrence.replace(microsecond=start.microsecond).astimezone(UTC)
