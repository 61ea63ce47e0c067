"""The schema: the `tasks` table, its columns sized by the task vocabulary."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from persistence.domain import (
    DESCRIPTION_MAX,
    IDEMPOTENCY_KEY_MAX,
    RECURRENCE_MAX,
    TAG_MAX,
    TIME_ZONE_DEFAULT,
    TIME_ZONE_MAX,
    TITLE_MAX,
    USER_ID_MAX,
    Priority,
    Recurrence,
    utcnow,
)


def _pg_enum(enum: type[StrEnum], name: str) -> sa.Enum:
    # A native enum sorts by declaration order, so `ORDER BY priority` sorts by meaning.
    return sa.Enum(enum, name=name, values_callable=lambda members: [m.value for m in members])


def _timestamp(*, nullable: bool) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    # Values the database computes on a write (the change number) come back in the write's
    # RETURNING rather than in a SELECT of their own.
    __mapper_args__ = {"eager_defaults": True}

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    user_id: str = Field(sa_column=sa.Column(sa.String(USER_ID_MAX), nullable=False))
    title: str = Field(sa_column=sa.Column(sa.String(TITLE_MAX), nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.String(DESCRIPTION_MAX)))
    completed: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    priority: Priority = Field(
        default=Priority.MEDIUM,
        sa_column=sa.Column(_pg_enum(Priority, "task_priority"), nullable=False),
    )
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(TAG_MAX)), nullable=False, server_default="{}"),
    )
    due_date: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    time_zone: str = Field(
        default=TIME_ZONE_DEFAULT,
        sa_column=sa.Column(
            sa.String(TIME_ZONE_MAX), nullable=False, server_default=TIME_ZONE_DEFAULT
        ),
    )
    # A preset or an RFC 5545 rule: text, since rules are open-ended.
    recurrence: str = Field(
        default=Recurrence.NONE,
        sa_column=sa.Column(sa.String(RECURRENCE_MAX), nullable=False),
    )
    # The due date of the first occurrence of a recurring task's series, copied to every later
    # one: it fixes the local time of day, the day of the month that monthly rules keep and
    # where COUNT counts from. Set afresh when the due date, rule or zone is changed. Not part
    # of the API.
    series_start: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False))
    # Set once a completed recurring task has created its next occurrence, so completing it
    # again after reopening does not create another. Not part of the API.
    rolled_over: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # Set while the task is in the trash.
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The owner's change number of the task's last change: the change feed's order.
    # Written as `next_change(...)`, whose value the database computes (`server_onupdate`).
    change_seq: int = Field(
        default=0,
        sa_column=sa.Column(
            sa.BigInteger, nullable=False, server_default="0", server_onupdate=sa.FetchedValue()
        ),
    )


_LIVE = Task.deleted_at.is_(None)
_TRASHED = Task.deleted_at.is_not(None)

# Indexes follow the queries: every one starts with the owner, and those of the task routes
# cover live tasks only, so the trash costs them nothing. The lists break ties by `id` in the
# direction of their sort, and their indexes hold it that way, so no page is sorted again.
sa.Index(
    "ix_tasks_user_created",
    Task.user_id,
    Task.created_at.desc(),
    Task.id.desc(),
    postgresql_where=_LIVE,
)
sa.Index(
    "ix_tasks_user_updated",
    Task.user_id,
    Task.updated_at.desc(),
    Task.id.desc(),
    postgresql_where=_LIVE,
)
sa.Index("ix_tasks_user_due", Task.user_id, Task.due_date, postgresql_where=_LIVE)
sa.Index("ix_tasks_tags", Task.tags, postgresql_using="gin")
sa.Index(
    "ix_tasks_user_trash",
    Task.user_id,
    Task.deleted_at.desc(),
    Task.id.desc(),
    postgresql_where=_TRASHED,
)
sa.Index("ix_tasks_trash_age", Task.deleted_at, postgresql_where=_TRASHED)
sa.Index("ix_tasks_user_changes", Task.user_id, Task.change_seq, Task.id)


# The channel on which committed changes are announced, with the owner's id
# (`persistence.announcements`).
CHANGES_CHANNEL = "task_changes"


def next_change(user_id: str) -> sa.ColumnElement[int]:
    """The owner's next change number, as a value to write into `change_seq`: the database
    function (its latest form in migration 0008) bumps the owner's `ChangeCounter` row, holding
    its lock until the transaction ends."""
    return sa.func.next_change(user_id, type_=sa.BigInteger)


class ChangeCounter(SQLModel, table=True):
    """Each user's last change number. Every write bumps it in its own transaction, which holds
    the row's lock until it commits: one user's changes commit in the order of their numbers,
    so a feed reader that has seen number n has seen every change before it."""

    __tablename__ = "change_counters"

    user_id: str = Field(sa_column=sa.Column(sa.String(USER_ID_MAX), primary_key=True))
    last_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class TaskTombstone(SQLModel, table=True):
    """A task deleted for good, kept for the change feed until the retention window ends."""

    __tablename__ = "task_tombstones"

    user_id: str = Field(sa_column=sa.Column(sa.String(USER_ID_MAX), primary_key=True))
    task_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    change_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    purged_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))


sa.Index("ix_task_tombstones_user_changes", TaskTombstone.user_id, TaskTombstone.change_seq)
sa.Index("ix_task_tombstones_purged", TaskTombstone.purged_at)


class IdempotencyKey(SQLModel, table=True):
    """A create sent with an `Idempotency-Key`: the request's hash and the response it got,
    kept for a day so a retry gets the same answer instead of a second task."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(sa_column=sa.Column(sa.String(USER_ID_MAX), primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.String(IDEMPOTENCY_KEY_MAX), primary_key=True))
    request_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    # The response body exactly as first sent; empty until the create it belongs to commits.
    response: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))


sa.Index("ix_idempotency_keys_created", IdempotencyKey.created_at)
