"""indexes in the lists' sort order

The lists break ties by `id` in the direction of their sort, so the indexes hold `id` that way
too: a page is then read straight off the index (forwards, or backwards for the other
direction) instead of being sorted again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
TRASHED = sa.text("deleted_at IS NOT NULL")
INDEXES = {  # name: (sorted column, which tasks)
    "ix_tasks_user_created": ("created_at", LIVE),
    "ix_tasks_user_updated": ("updated_at", LIVE),
    "ix_tasks_user_trash": ("deleted_at", TRASHED),
}


def _recreate(id_order: str) -> None:
    for name, (column, where) in INDEXES.items():
        op.drop_index(name, table_name="tasks")
        columns = ["user_id", sa.literal_column(f"{column} DESC"), sa.literal_column(id_order)]
        op.create_index(name, "tasks", columns, postgresql_where=where)


def upgrade() -> None:
    _recreate("id DESC")


def downgrade() -> None:
    _recreate("id")
