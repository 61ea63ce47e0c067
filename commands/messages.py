"""Write-side messages: one immutable record per intent. They double as the request bodies.

Decoding validates types and limits; `__post_init__` applies `FIELD_RULES`, what msgspec
cannot express (trimmed titles, lower-cased unique tags, UTC instants, no NUL characters, names
of the tz database, recurrence rules), and raises `InvalidField` otherwise.
"""

import msgspec
from msgspec import UNSET, UnsetType

from persistence.domain import (
    FIELD_RULES,
    TIME_ZONE_DEFAULT,
    AwareDateTime,
    Description,
    Priority,
    Recurrence,
    RecurrenceRule,
    Tags,
    TimeZoneName,
    Title,
)


class _Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    def __post_init__(self) -> None:
        for name, rule in FIELD_RULES.items():
            value = getattr(self, name, UNSET)
            if value is not UNSET:
                msgspec.structs.force_setattr(self, name, rule(value))


class TaskFields(_Message, frozen=True, kw_only=True):
    """Every editable field; one left out takes its default."""

    title: Title
    description: Description | None = None
    completed: bool = False
    priority: Priority = Priority.MEDIUM
    tags: Tags = msgspec.field(default_factory=list)
    due_date: AwareDateTime | None = None
    time_zone: TimeZoneName = TIME_ZONE_DEFAULT
    recurrence: RecurrenceRule = Recurrence.NONE


class CreateTask(TaskFields, frozen=True, kw_only=True):
    """Create a task for the acting user."""


class ReplaceTask(TaskFields, frozen=True, kw_only=True):
    """Replace every editable field of a task (PUT)."""


class PatchTask(_Message, frozen=True, kw_only=True):
    """Change only the fields sent (JSON merge patch); `null` clears a nullable field."""

    title: Title | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    completed: bool | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    due_date: AwareDateTime | UnsetType | None = UNSET
    time_zone: TimeZoneName | UnsetType = UNSET
    recurrence: RecurrenceRule | UnsetType = UNSET

    def changes(self) -> dict[str, object]:
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not UNSET
        }


class SetCompletion(_Message, frozen=True, kw_only=True):
    """Set completion to `completed`, or toggle it when `completed` is left out."""

    completed: bool | UnsetType = UNSET
