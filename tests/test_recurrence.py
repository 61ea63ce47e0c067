"""The recurrence engine: rules and time zones read strictly, and next occurrences pinned to
dates computed by hand, then checked against the rule's definition by property tests."""

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from commands.recurrence import next_occurrence
from persistence.domain import RECURRENCE_MAX, InvalidField, clean_recurrence, clean_time_zone

BERLIN, NEW_YORK, SYDNEY = "Europe/Berlin", "America/New_York", "Australia/Sydney"


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def following(
    recurrence: str,
    due: datetime,
    *,
    zone: str = "UTC",
    start: datetime | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """The next occurrence after `due` of a series starting at `start` (default: `due`),
    completed at `now` (default: `due`, i.e. on time)."""
    return next_occurrence(recurrence, zone, start or due, due, now or due)


# --- local wall-clock time across daylight-saving changes ---------------------------------------


@pytest.mark.parametrize(
    ("zone", "due", "expected"),
    [
        # Berlin: clocks go forward on 2026-03-29 (+01 -> +02) and back on 2026-10-25.
        (BERLIN, utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        (BERLIN, utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        # New York: forward on 2026-03-08 (-05 -> -04), back on 2026-11-01.
        (NEW_YORK, utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)),
        (NEW_YORK, utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)),
        # Sydney, southern summer: back on 2026-04-05 (+11 -> +10), forward on 2026-10-04.
        (SYDNEY, utc(2026, 4, 3, 22), utc(2026, 4, 4, 23)),
        (SYDNEY, utc(2026, 10, 2, 23), utc(2026, 10, 3, 22)),
    ],
)
def test_daily_keeps_nine_oclock_local_across_clock_changes(zone, due, expected):
    assert due.astimezone(ZoneInfo(zone)).hour == 9
    assert following("daily", due, zone=zone) == expected
    assert expected.astimezone(ZoneInfo(zone)).hour == 9


def test_weekly_keeps_local_time_across_a_clock_change():
    # Monday 18:00 in New York: 23:00Z in winter, 22:00Z once the clocks go forward.
    assert following("weekly", utc(2026, 3, 2, 23), zone=NEW_YORK) == utc(2026, 3, 9, 22)


def test_time_missing_on_the_day_clocks_go_forward_uses_the_offset_before_the_gap():
    # 02:30 does not exist in Berlin on 2026-03-29; RFC 5545 reads it at +01 (03:30 summer time).
    assert following("daily", utc(2026, 3, 28, 1, 30), zone=BERLIN) == utc(2026, 3, 29, 1, 30)
    # The day after, 02:30 exists again, in summer time.
    start = utc(2026, 3, 28, 1, 30)
    due = utc(2026, 3, 29, 1, 30)
    assert following("daily", due, zone=BERLIN, start=start) == utc(2026, 3, 30, 0, 30)


def test_time_repeated_on_the_day_clocks_go_back_is_its_first_instance():
    # 02:30 happens twice in Berlin on 2026-10-25: first at +02 (00:30Z), then at +01.
    assert following("daily", utc(2026, 10, 24, 0, 30), zone=BERLIN) == utc(2026, 10, 25, 0, 30)


def test_keeps_the_start_microseconds():
    due = utc(2026, 5, 1, 9, 0, 0, 250_000)
    assert following("daily", due) == utc(2026, 5, 2, 9, 0, 0, 250_000)


def test_no_recurrence_has_no_next_occurrence():
    assert following("none", utc(2026, 5, 1)) is None


# --- month ends and leap years ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "due", "expected"),
    [
        (date(2026, 1, 31), date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)),  # restored after February
        (date(2026, 1, 31), date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 1, 31), date(2026, 4, 30), date(2026, 5, 31)),
        (date(2028, 1, 31), date(2028, 1, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 1, 30), date(2026, 1, 30), date(2026, 2, 28)),
        (date(2026, 1, 30), date(2026, 2, 28), date(2026, 3, 30)),
        (date(2027, 1, 29), date(2027, 1, 29), date(2027, 2, 28)),
        (date(2027, 1, 29), date(2027, 2, 28), date(2027, 3, 29)),
        (date(2026, 12, 15), date(2026, 12, 15), date(2027, 1, 15)),
    ],
)
def test_monthly_keeps_the_day_clamped_in_short_months(start, due, expected):
    def at_nine(day: date) -> datetime:
        return utc(day.year, day.month, day.day, 9)

    assert following("monthly", at_nine(due), start=at_nine(start)) == at_nine(expected)


def test_monthly_keeps_the_local_day_of_the_month():
    # 00:30 on Jan 31 in Berlin is still Jan 30 in UTC; the local day (31) is the one kept.
    start = utc(2026, 1, 30, 23, 30)
    assert following("monthly", start, zone=BERLIN) == utc(2026, 2, 27, 23, 30)
    assert following("monthly", utc(2026, 2, 27, 23, 30), zone=BERLIN, start=start) == utc(
        2026, 3, 30, 22, 30
    )


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (utc(2028, 2, 29, 10), utc(2029, 2, 28, 10)),
        (utc(2031, 2, 28, 10), utc(2032, 2, 29, 10)),
    ],
)
def test_yearly_from_february_29_falls_on_the_28th_outside_leap_years(due, expected):
    assert following("yearly", due, start=utc(2028, 2, 29, 10)) == expected


def test_yearly_keeps_the_date():
    assert following("yearly", utc(2026, 7, 4, 12)) == utc(2027, 7, 4, 12)


def test_a_yearly_rule_from_february_29_keeps_to_leap_years_as_rfc_5545_says():
    assert following("RRULE:FREQ=YEARLY", utc(2028, 2, 29, 10)) == utc(2032, 2, 29, 10)


# --- RFC 5545 rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "due", "expected"),
    [
        # January 2026 starts on a Thursday, February and March on a Sunday.
        ("RRULE:FREQ=MONTHLY;BYDAY=2MO", utc(2026, 1, 12, 9), utc(2026, 2, 9, 9)),
        ("RRULE:FREQ=MONTHLY;BYDAY=2MO", utc(2026, 2, 9, 9), utc(2026, 3, 9, 9)),
        ("RRULE:FREQ=MONTHLY;BYDAY=-1FR", utc(2026, 1, 30, 9), utc(2026, 2, 27, 9)),
        ("RRULE:FREQ=MONTHLY;BYDAY=-1FR", utc(2026, 2, 27, 9), utc(2026, 3, 27, 9)),
        ("RRULE:FREQ=MONTHLY;BYDAY=MO,-1FR", utc(2026, 1, 30, 9), utc(2026, 2, 2, 9)),
        ("RRULE:FREQ=MONTHLY;BYDAY=MO,-1FR", utc(2026, 2, 23, 9), utc(2026, 2, 27, 9)),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", utc(2026, 1, 5, 9), utc(2026, 1, 8, 9)),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", utc(2026, 1, 8, 9), utc(2026, 1, 19, 9)),
        ("RRULE:FREQ=DAILY;INTERVAL=3", utc(2026, 1, 30, 9), utc(2026, 2, 2, 9)),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=-1", utc(2026, 1, 31, 9), utc(2026, 2, 28, 9)),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15", utc(2026, 1, 15, 9), utc(2026, 2, 1, 9)),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=31", utc(2026, 1, 31, 9), utc(2026, 3, 31, 9)),
        ("RRULE:FREQ=YEARLY;BYMONTH=3,9;BYDAY=1SU", utc(2026, 3, 1, 9), utc(2026, 9, 6, 9)),
        ("RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", utc(2026, 11, 26, 9), utc(2027, 11, 25, 9)),
    ],
)
def test_rule(rule, due, expected):
    assert following(rule, due) == expected


def test_a_rule_keeps_local_time_in_the_tasks_zone():
    # Last Friday of March 2026 is after Berlin's clocks go forward: 09:00 local is 07:00Z.
    due = utc(2026, 2, 27, 8)
    assert following("RRULE:FREQ=MONTHLY;BYDAY=-1FR", due, zone=BERLIN) == utc(2026, 3, 27, 8)


# --- overdue tasks catch up ---------------------------------------------------------------------


def test_an_overdue_monthly_task_moves_to_the_first_occurrence_after_now():
    # "Pay rent", due 2026-01-31, done in mid November: next due on November 30, not February 28.
    due = utc(2026, 1, 31, 9)
    assert following("monthly", due, now=utc(2026, 11, 15, 12)) == utc(2026, 11, 30, 9)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 22, 12), utc(2026, 11, 23, 8)),  # 09:00 Berlin has passed today
        (utc(2026, 11, 22, 7), utc(2026, 11, 22, 8)),  # 09:00 Berlin is still ahead today
    ],
)
def test_a_daily_task_three_weeks_overdue_is_next_due_at_the_next_nine_oclock(now, expected):
    assert following("daily", utc(2026, 11, 1, 8), zone=BERLIN, now=now) == expected


def test_a_two_weekly_rule_catches_up_in_step():
    # Every second Monday from 2026-01-05: Jan 19, Feb 2, ... Mar 2, Mar 16.
    rule = "RRULE:FREQ=WEEKLY;INTERVAL=2"
    assert following(rule, utc(2026, 1, 5, 9), now=utc(2026, 3, 3)) == utc(2026, 3, 16, 9)


def test_a_daily_task_started_long_ago_catches_up():
    due = utc(1900, 1, 1, 9)
    assert following("daily", due, now=utc(2026, 11, 30, 10)) == utc(2026, 12, 1, 9)


@pytest.mark.parametrize("due", [utc(1, 1, 1), utc(9999, 12, 31, 1)])
def test_a_series_running_off_the_ends_of_the_calendar_has_no_next_occurrence(due):
    # New York's local times here are in year 0, or the next one is in year 10000 in UTC.
    assert following("daily", due, zone=NEW_YORK) is None


# --- rules that end -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (utc(2026, 1, 1, 9), utc(2026, 1, 2, 9)),
        (utc(2026, 1, 2, 9), utc(2026, 1, 3, 9)),
        (utc(2026, 1, 3, 9), None),
    ],
)
def test_count_ends_the_series(due, expected):
    start = utc(2026, 1, 1, 9)
    assert following("RRULE:FREQ=DAILY;COUNT=3", due, start=start) == expected


def test_count_counts_the_series_start_even_when_it_does_not_match_the_rule():
    # Wednesday 2026-01-07 is the first of two occurrences; Monday 2026-01-12 the second.
    rule, start = "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2", utc(2026, 1, 7, 9)
    assert following(rule, start) == utc(2026, 1, 12, 9)
    assert following(rule, utc(2026, 1, 12, 9), start=start) is None
    assert following("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=1", start) is None


def test_count_ends_an_overdue_series():
    rule, start = "RRULE:FREQ=DAILY;COUNT=3", utc(2026, 1, 1, 9)
    assert following(rule, start, now=utc(2026, 1, 10)) is None


@pytest.mark.parametrize(
    ("rule", "due", "expected"),
    [
        ("RRULE:FREQ=DAILY;UNTIL=20260103T080000Z", utc(2026, 1, 2, 8), utc(2026, 1, 3, 8)),
        ("RRULE:FREQ=DAILY;UNTIL=20260103T080000Z", utc(2026, 1, 3, 8), None),
        ("RRULE:FREQ=DAILY;UNTIL=20260103T075959Z", utc(2026, 1, 2, 8), None),
        # A date, or a date-time without Z, is read in the task's zone: through Jan 3 in Berlin.
        ("RRULE:FREQ=DAILY;UNTIL=20260103", utc(2026, 1, 2, 22, 30), utc(2026, 1, 3, 22, 30)),
        ("RRULE:FREQ=DAILY;UNTIL=20260103", utc(2026, 1, 3, 22, 30), None),
        (
            "RRULE:FREQ=DAILY;UNTIL=20260104T000000",
            utc(2026, 1, 2, 22, 30),
            utc(2026, 1, 3, 22, 30),
        ),
    ],
)
def test_until_ends_the_series(rule, due, expected):
    assert following(rule, due, zone=BERLIN) == expected


# --- reading rules and zones --------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["none", "daily", "weekly", "monthly", "yearly"])
def test_presets_are_kept_by_name(preset):
    assert clean_recurrence(preset) == preset


def test_rules_are_read_case_insensitively_and_kept_in_upper_case():
    assert (
        clean_recurrence("RRULE:freq=monthly;byday=mo,-1fr") == "RRULE:FREQ=MONTHLY;BYDAY=MO,-1FR"
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("hourly", "RRULE:"),
        ("Daily", "RRULE:"),
        ("rrule:FREQ=DAILY", "RRULE:"),
        ("FREQ=DAILY", "RRULE:"),
        ("RRULE:FREQ=HOURLY", "FREQ=HOURLY"),
        ("RRULE:FREQ=SECONDLY", "FREQ=SECONDLY"),
        ("RRULE:INTERVAL=2", "FREQ"),
        ("RRULE:FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("RRULE:FREQ=DAILY;BYHOUR=9", "BYHOUR"),
        ("RRULE:FREQ=WEEKLY;WKST=SU", "WKST"),
        ("RRULE:FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO"),
        ("RRULE:FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY"),
        ("RRULE:FREQ=DAILY;X-NAME=1", "X-NAME"),
        ("RRULE:FREQ=DAILY;FREQ=WEEKLY", "FREQ"),
        ("RRULE:FREQ=DAILY;", "''"),
        ("RRULE:FREQ", "FREQ"),
        ("RRULE:FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("RRULE:FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
        ("RRULE:FREQ=DAILY;INTERVAL=two", "INTERVAL"),
        ("RRULE:FREQ=DAILY;COUNT=0", "COUNT"),
        ("RRULE:FREQ=DAILY;COUNT=2;UNTIL=20260101", "COUNT and UNTIL"),
        ("RRULE:FREQ=DAILY;UNTIL=tomorrow", "UNTIL"),
        ("RRULE:FREQ=DAILY;UNTIL=20260230", "UNTIL"),
        ("RRULE:FREQ=DAILY;UNTIL=20260101T250000Z", "UNTIL"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
        ("RRULE:FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
        ("RRULE:FREQ=YEARLY;BYMONTH=-1", "BYMONTH"),
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("RRULE:FREQ=MONTHLY;BYDAY=0MO", "BYDAY"),
        ("RRULE:FREQ=MONTHLY;BYDAY=54MO", "BYDAY"),
        ("RRULE:FREQ=WEEKLY;BYDAY=2MO", "BYDAY"),
        ("RRULE:FREQ=DAILY;BYDAY=-1FR", "BYDAY"),
        ("RRULE:FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"),
        ("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "BYMONTHDAY"),
        ("RRULE:FREQ=MONTHLY;BYDAY=6MO", "BYDAY"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=2MO", "BYDAY"),
        ("RRULE:FREQ=DAILY;INTERVAL=" + "1" * RECURRENCE_MAX, "200"),
    ],
)
def test_unsupported_rules_are_refused_naming_the_part(text, named):
    with pytest.raises(InvalidField) as refused:
        clean_recurrence(text)
    assert refused.value.field == "recurrence"
    assert named in refused.value.message


@pytest.mark.parametrize("name", ["UTC", BERLIN, NEW_YORK, "America/Argentina/Buenos_Aires"])
def test_time_zones_of_the_tz_database_are_accepted(name):
    assert clean_time_zone(name) == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus_Mons", "europe/berlin", "localtime", "../etc/passwd", "+02:00"]
)
def test_other_time_zone_names_are_refused(name):
    with pytest.raises(InvalidField) as refused:
        clean_time_zone(name)
    assert refused.value.field == "time_zone"


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    SYDNEY,
    "Australia/Lord_Howe",  # moves its clocks by half an hour
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rule_parts(draw) -> dict:
    """The parts of a rule within the supported subset (without COUNT and UNTIL)."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts: dict = {"FREQ": freq}
    if draw(st.booleans()):
        parts["INTERVAL"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        parts["BYMONTH"] = sorted(draw(st.sets(st.integers(1, 12), min_size=1, max_size=4)))
    if freq != "WEEKLY" and draw(st.booleans()):
        days = st.integers(-31, 31).filter(bool)
        parts["BYMONTHDAY"] = sorted(draw(st.sets(days, min_size=1, max_size=3)))
    if draw(st.booleans()):
        plain = freq in ("DAILY", "WEEKLY")
        ordinals = st.none() if plain else st.none() | st.integers(-5, 5).filter(bool)
        weekdays = st.tuples(ordinals, st.sampled_from(DAYS))
        parts["BYDAY"] = draw(st.lists(weekdays, min_size=1, max_size=3, unique=True))
    return parts


def rule_text(parts: dict) -> str:
    def value(name: str, item) -> str:
        if name == "BYDAY":
            return ",".join(f"{ordinal or ''}{day}" for ordinal, day in item)
        return ",".join(map(str, item)) if isinstance(item, list) else str(item)

    return "RRULE:" + ";".join(f"{name}={value(name, item)}" for name, item in parts.items())


def nth_weekday(day: date, first: date, last: date) -> tuple[int, int]:
    """Which of its weekday `day` is within [first, last], counted from each end."""
    return (day - first).days // 7 + 1, -((last - day).days // 7 + 1)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def in_step(parts: dict, start: date, day: date) -> bool:
    """Whether `day` lies in a period of the rule that INTERVAL does not skip."""
    interval = parts.get("INTERVAL", 1)
    periods = {
        "DAILY": (day - start).days,
        "WEEKLY": (monday_of(day) - monday_of(start)).days // 7,
        "MONTHLY": (day.year - start.year) * 12 + day.month - start.month,
        "YEARLY": day.year - start.year,
    }[parts["FREQ"]]
    return periods % interval == 0


def matches(parts: dict, start: date, day: date) -> bool:
    """RFC 5545's definition of the days a rule falls on, written out day by day."""
    freq = parts["FREQ"]
    month_days = calendar.monthrange(day.year, day.month)[1]
    month = (day.replace(day=1), day.replace(day=month_days))
    year = (date(day.year, 1, 1), date(day.year, 12, 31))
    by_month, by_month_day, by_day = (
        parts.get(name) for name in ("BYMONTH", "BYMONTHDAY", "BYDAY")
    )
    if by_month_day is None and by_day is None:  # the start supplies what the rule leaves out
        by_day = [(None, DAYS[start.weekday()])] if freq == "WEEKLY" else None
        by_month_day = [start.day] if freq in ("MONTHLY", "YEARLY") else None
        by_month = by_month or ([start.month] if freq == "YEARLY" else None)
    if by_month and day.month not in by_month:
        return False
    if by_month_day and not {day.day, day.day - month_days - 1} & set(by_month_day):
        return False
    if by_day:
        within = year if freq == "YEARLY" and not by_month else month
        nth = nth_weekday(day, *within)
        if not any(
            DAYS[day.weekday()] == weekday and (ordinal is None or ordinal in nth)
            for ordinal, weekday in by_day
        ):
            return False
    return in_step(parts, start, day)


def preset_matches(preset: str, start: date, day: date) -> bool:
    clamped = min(start.day, calendar.monthrange(day.year, day.month)[1])
    return {
        "daily": True,
        "weekly": day.weekday() == start.weekday(),
        "monthly": day.day == clamped,
        "yearly": day.month == start.month and day.day == clamped,
    }[preset]


@st.composite
def series(draw) -> tuple:
    """A recurrence, its day test, a zone, and a series start, due date and completion time."""
    preset = draw(st.sampled_from(["daily", "weekly", "monthly", "yearly", "rule"]))
    if preset == "rule":
        parts = draw(rule_parts())
        recurrence = rule_text(parts)
        try:
            clean_recurrence(recurrence)
        except InvalidField:
            assume(False)

        def falls_on(start: date, day: date) -> bool:
            return matches(parts, start, day)
    else:
        recurrence = preset

        def falls_on(start: date, day: date) -> bool:
            return preset_matches(preset, start, day)

    moments = st.datetimes(datetime(2000, 1, 1), datetime(2040, 12, 31), timezones=st.just(UTC))
    start = draw(moments)
    if draw(st.booleans()):  # month ends are where monthly and yearly rules go wrong
        start = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    due = start + draw(st.timedeltas(timedelta(0), timedelta(days=800)))
    now = start + draw(st.timedeltas(timedelta(days=-30), timedelta(days=3000)))
    return recurrence, falls_on, draw(st.sampled_from(ZONES)), start, due, now


def wall_clock(day: date, local_start: datetime) -> datetime:
    """The start's local time of day on `day`, as RFC 5545 reads it (a time skipped by a clock
    change at the offset before it, a repeated one at its first instance)."""
    time = local_start.time().replace(fold=0)
    return datetime.combine(day, time, local_start.tzinfo).astimezone(UTC)


@settings(deadline=None)
@given(series())
def test_next_occurrence_is_after_the_due_date_and_now(case):
    recurrence, _, zone, start, due, now = case
    result = next_occurrence(recurrence, zone, start, due, now)
    assert result is None or result > max(due, now)


@settings(deadline=None)
@given(series())
def test_next_occurrence_keeps_the_local_time_of_day_where_that_day_has_it(case):
    recurrence, _, zone, start, due, now = case
    result = next_occurrence(recurrence, zone, start, due, now)
    assume(result is not None)
    local_start, local = start.astimezone(ZoneInfo(zone)), result.astimezone(ZoneInfo(zone))
    exists = wall_clock(local.date(), local_start).astimezone(ZoneInfo(zone)).time()
    if exists == local_start.time():
        assert local.time() == local_start.time()
    else:  # skipped by a clock change
        assert result == wall_clock(local.date(), local_start)


@settings(deadline=None)
@given(series())
def test_next_occurrence_is_the_rules_first_day_after_the_due_date_and_now(case):
    recurrence, falls_on, zone, start, due, now = case
    result = next_occurrence(recurrence, zone, start, due, now)
    local_start = start.astimezone(ZoneInfo(zone))
    threshold = max(due, now).astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
    day = max(local_start.date() + timedelta(days=1), threshold)
    last = result.astimezone(ZoneInfo(zone)).date() if result else day + timedelta(days=1500)
    expected = None
    while day <= last and expected is None:
        if falls_on(local_start.date(), day) and wall_clock(day, local_start) > max(due, now):
            expected = wall_clock(day, local_start)
        day += timedelta(days=1)
    assert result == expected
