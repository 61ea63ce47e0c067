"""time zone, recurrence rules and the series start

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:40:00

Existing tasks get "UTC" as their zone; the recurrence enum becomes text, since a task may now
recur by an RFC 5545 rule; each task's series starts at its current due date.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PRESETS = ("none", "daily", "weekly", "monthly")


def upgrade() -> None:
    op.add_column(
        "tasks",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column("tasks", sa.Column("series_start", sa.DateTime(timezone=True), nullable=True))
    op.alter_column(
        "tasks",
        "recurrence",
        type_=sa.String(length=200),
        postgresql_using="recurrence::text",
        existing_nullable=False,
    )
    op.execute("DROP TYPE task_recurrence")
    op.execute("UPDATE tasks SET series_start = due_date")


def downgrade() -> None:
    """Rules and `yearly`, which the enum cannot hold, become `none`."""
    presets = sa.Enum(*OLD_PRESETS, name="task_recurrence")
    presets.create(op.get_bind())
    listed = ", ".join(f"'{preset}'" for preset in OLD_PRESETS)
    op.alter_column(
        "tasks",
        "recurrence",
        type_=presets,
        postgresql_using=(
            f"(CASE WHEN recurrence IN ({listed}) THEN recurrence ELSE 'none' END)::task_recurrence"
        ),
        existing_nullable=False,
    )
    op.drop_column("tasks", "series_start")
    op.drop_column("tasks", "time_zone")
