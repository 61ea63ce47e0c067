"""trash and change feed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
TRASHED = sa.text("deleted_at IS NOT NULL")
# The task routes' indexes, which from now on cover live tasks only.
LIVE_INDEXES = {
    "ix_tasks_user_created": ["user_id", sa.literal_column("created_at DESC"), "id"],
    "ix_tasks_user_updated": ["user_id", sa.literal_column("updated_at DESC"), "id"],
    "ix_tasks_user_due": ["user_id", "due_date"],
}


def upgrade() -> None:
    op.add_column("tasks", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tasks", sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    for name, columns in LIVE_INDEXES.items():
        op.drop_index(name, table_name="tasks")
        op.create_index(name, "tasks", columns, postgresql_where=LIVE)
    op.create_index(
        "ix_tasks_user_trash",
        "tasks",
        ["user_id", sa.literal_column("deleted_at DESC"), "id"],
        postgresql_where=TRASHED,
    )
    op.create_index("ix_tasks_trash_age", "tasks", ["deleted_at"], postgresql_where=TRASHED)
    op.create_index("ix_tasks_user_changes", "tasks", ["user_id", "change_seq", "id"])
    op.create_table(
        "change_counters",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "task_tombstones",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "task_id"),
    )
    op.create_index("ix_task_tombstones_user_changes", "task_tombstones", ["user_id", "change_seq"])
    op.create_index("ix_task_tombstones_purged", "task_tombstones", ["purged_at"])


def downgrade() -> None:
    op.drop_table("task_tombstones")
    op.drop_table("change_counters")
    for name in ("ix_tasks_user_changes", "ix_tasks_trash_age", "ix_tasks_user_trash"):
        op.drop_index(name, table_name="tasks")
    op.execute("DELETE FROM tasks WHERE deleted_at IS NOT NULL")
    for name, columns in LIVE_INDEXES.items():
        op.drop_index(name, table_name="tasks")
        op.create_index(name, "tasks", columns)
    op.drop_column("tasks", "change_seq")
    op.drop_column("tasks", "deleted_at")
