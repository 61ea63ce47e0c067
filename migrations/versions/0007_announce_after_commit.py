"""next_change() no longer notifies: changes are announced after their transaction commits

PostgreSQL commits the transactions that sent a `NOTIFY` one at a time, server-wide, across
each commit's flush to disk, so every write waited for every other. The announcement now
comes from the writing worker once the write has committed (`persistence.announcements`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEXT_CHANGE = """
CREATE OR REPLACE FUNCTION next_change(owner varchar) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    {notify}
    INSERT INTO change_counters AS counter (user_id, last_seq) VALUES (owner, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + 1
    RETURNING counter.last_seq;
$$
"""


def upgrade() -> None:
    op.execute(NEXT_CHANGE.format(notify=""))


def downgrade() -> None:
    op.execute(NEXT_CHANGE.format(notify="SELECT pg_notify('task_changes', owner);"))
