"""Read-side messages: what a query asks for."""

from datetime import datetime
from enum import StrEnum

import msgspec

from persistence.domain import PAGE_DEFAULT, Priority, clean_tags, storable_text, utc_instant


class Status(StrEnum):
    ALL = "all"
    PENDING = "pending"
    COMPLETED = "completed"


class SortKey(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    TITLE = "title"
    DUE_DATE = "due_date"
    PRIORITY = "priority"


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


# Newest and most important first; alphabetical and soonest-due first.
DESCENDING_BY_DEFAULT = {SortKey.CREATED, SortKey.UPDATED, SortKey.PRIORITY}


class ListTasks(msgspec.Struct, frozen=True, kw_only=True):
    status: Status = Status.ALL
    priorities: tuple[Priority, ...] = ()
    tags: tuple[str, ...] = ()  # tasks carrying all of them
    text: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    sort: SortKey = SortKey.CREATED
    order: Order | None = None  # None: the sort key's natural direction (`direction`)
    limit: int = PAGE_DEFAULT
    offset: int = 0

    def __post_init__(self) -> None:
        if self.text is not None:
            storable_text("q", self.text)
        msgspec.structs.force_setattr(self, "tags", tuple(clean_tags(self.tags, "tag")))
        for field in ("due_before", "due_after"):
            msgspec.structs.force_setattr(self, field, utc_instant(field, getattr(self, field)))

    @property
    def direction(self) -> Order:
        if self.order is not None:
            return self.order
        return Order.DESC if self.sort in DESCENDING_BY_DEFAULT else Order.ASC
