"""next_change() in PL/pgSQL, whose statement plans are kept for the connection's life

A `LANGUAGE sql` function that cannot be inlined (this one writes) has its statements parsed
and planned again by every statement that calls it: once per write. PL/pgSQL prepares its
`INSERT ... ON CONFLICT` once per connection.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPSERT = """
    INSERT INTO change_counters AS counter (user_id, last_seq) VALUES (owner, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = counter.last_seq + 1
    RETURNING counter.last_seq
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION next_change(varchar)")
    op.execute(f"""
CREATE FUNCTION next_change(owner varchar) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seq bigint;
BEGIN
    {UPSERT} INTO seq;
    RETURN seq;
END
$$
""")


def downgrade() -> None:
    op.execute("DROP FUNCTION next_change(varchar)")
    op.execute(f"""
CREATE FUNCTION next_change(owner varchar) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    {UPSERT};
$$
""")
