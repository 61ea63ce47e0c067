"""The statements the service sends for the benchmark's workloads, as plain SQL.

The lean ceiling runs them through raw asyncpg, and the 1,000,000-task run explains the list
and get statements. Keep them in step with `queries/handlers.py` and `commands/handlers.py`.
Without an explicit transaction, each write is one statement doing the service's work: the
owner's change counter is bumped in a CTE, and the toggle locks the task before the counter, as
the service's `SELECT ... FOR UPDATE` does. Once a write is done, its owner is announced as the
service's `persistence.announcements` does: gathered with others, in one statement.
"""

from persistence.models import CHANGES_CHANNEL
from queries.views import TaskView

COLUMNS = ", ".join(f"tasks.{name}" for name in TaskView.__struct_fields__)

LIST_TASKS = f"""
SELECT {COLUMNS}, (
    SELECT count(*) FROM tasks WHERE tasks.user_id = $1 AND tasks.deleted_at IS NULL
) AS total
FROM tasks
WHERE tasks.user_id = $1 AND tasks.deleted_at IS NULL
ORDER BY tasks.created_at DESC, tasks.id DESC
LIMIT $2 OFFSET $3
"""

GET_TASK = f"""
SELECT {COLUMNS} FROM tasks
WHERE tasks.id = $1 AND tasks.user_id = $2 AND tasks.deleted_at IS NULL
"""


def _next_change(rows: str) -> str:
    """Bump the owner's change counter (creating it at 1)."""
    return f"""
    INSERT INTO change_counters (user_id, last_seq) {rows}
    ON CONFLICT (user_id) DO UPDATE SET last_seq = change_counters.last_seq + 1
    RETURNING last_seq
    """


CREATE_TASK = f"""
WITH change AS ({_next_change("VALUES ($1, 1)")})
INSERT INTO tasks (user_id, title, description, completed, completed_at, priority, tags,
                   due_date, time_zone, recurrence, series_start, created_at, updated_at,
                   version, change_seq)
SELECT $1, $2, $3, $4, CASE WHEN $4 THEN now() END, $5, $6, $7, $8, $9, $7, now(), now(),
       1, change.last_seq
FROM change
RETURNING {COLUMNS}
"""

TOGGLE_TASK = f"""
WITH locked AS (
    SELECT id, user_id FROM tasks
    WHERE tasks.id = $1 AND tasks.user_id = $2 AND tasks.deleted_at IS NULL
    FOR UPDATE
),
change AS ({_next_change("SELECT user_id, 1 FROM locked")})
UPDATE tasks
SET completed = NOT completed,
    completed_at = CASE WHEN completed THEN NULL ELSE now() END,
    updated_at = now(),
    version = version + 1,
    change_seq = change.last_seq
FROM locked, change
WHERE tasks.id = locked.id
RETURNING {COLUMNS}
"""

ANNOUNCE = f"SELECT pg_notify('{CHANGES_CHANNEL}', owner) FROM unnest($1::text[]) AS owner"
