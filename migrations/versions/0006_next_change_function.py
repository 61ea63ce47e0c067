"""next_change(): bump and announce a user's change counter inside the statement that writes

A write then takes its change number in its own INSERT or UPDATE instead of in a statement of
its own before it: one round trip fewer per write. The counter's row lock is still taken after
the task's (the UPDATE runs on a row its transaction already holds), and the notification is
still sent when the transaction commits.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel is `persistence.models.CHANGES_CHANNEL`, frozen here as revisions are.
NEXT_CHANGE = """
CREATE FUNCTION next_change(owner varchar) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify('task_changes', owner);
    INSERT INTO change_counters AS counter (user_id, last_seq) VALUES (owner, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + 1
    RETURNING counter.last_seq;
$$
"""


def upgrade() -> None:
    op.execute(NEXT_CHANGE)


def downgrade() -> None:
    op.execute("DROP FUNCTION next_change(varchar)")
