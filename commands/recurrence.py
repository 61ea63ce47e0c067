"""When the next occurrence of a recurring task falls due."""

import calendar
from datetime import datetime, timedelta

from persistence.domain import Recurrence


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])  # Jan 31 -> Feb 28/29
    return moment.replace(year=year, month=month, day=day)


def next_due_date(due_date: datetime, recurrence: Recurrence) -> datetime | None:
    match recurrence:
        case Recurrence.DAILY:
            return due_date + timedelta(days=1)
        case Recurrence.WEEKLY:
            return due_date + timedelta(weeks=1)
        case Recurrence.MONTHLY:
            return _add_month(due_date)
        case _:
            return None
