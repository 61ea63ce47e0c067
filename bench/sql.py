"""The statements the service sends for the benchmark's workloads, as plain SQL.

The lean ceiling runs them through raw asyncpg, and the 1,000,000-task run explains the list
and get statements. Keep them in step with `queries/handlers.py` and `commands/handlers.py`.
The service toggles with `SELECT ... FOR UPDATE` and an `UPDATE` in one transaction; the
ceiling, having no explicit transaction, toggles with the one `UPDATE ... RETURNING` that
does the same work.
"""

from queries.views import TaskView

COLUMNS = ", ".join(f"tasks.{name}" for name in TaskView.__struct_fields__)

LIST_TASKS = f"""
SELECT {COLUMNS}, count(*) OVER () AS total
FROM tasks
WHERE tasks.user_id = $1
ORDER BY tasks.created_at DESC, tasks.id DESC
LIMIT $2 OFFSET $3
"""

GET_TASK = f"SELECT {COLUMNS} FROM tasks WHERE tasks.id = $1 AND tasks.user_id = $2"

CREATE_TASK = f"""
INSERT INTO tasks (user_id, title, description, completed, completed_at, priority, tags,
                   due_date, recurrence, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN now() END, $5, $6, $7, $8, now(), now(), 1)
RETURNING {COLUMNS}
"""

TOGGLE_TASK = f"""
UPDATE tasks
SET completed = NOT completed,
    completed_at = CASE WHEN completed THEN NULL ELSE now() END,
    updated_at = now(),
    version = version + 1
WHERE tasks.id = $1 AND tasks.user_id = $2
RETURNING {COLUMNS}
"""
