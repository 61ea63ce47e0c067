"""Users, their tokens and their tasks: created through the API, or bulk-loaded with COPY."""

import asyncio
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from service.auth import mint_token

TOKEN_TTL_SECONDS = 6 * 3600
SEED_CONCURRENCY = 32
SEED_ATTEMPTS = 3
COPY_BATCH = 50_000
PRIORITIES = ("low", "medium", "high")
TAGS = ("home", "work", "errand", "health", "bench")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class User:
    id: str
    token: str
    task_ids: list[int] = field(default_factory=list)


def new_users(count: int, secret: str) -> list[User]:
    """Users with Better Auth's 32-character ids, each with an HS256 token of its own."""
    ids = [secrets.token_hex(16) for _ in range(count)]
    return [User(user_id, mint_token(secret, user_id, TOKEN_TTL_SECONDS)) for user_id in ids]


def task_body(number: int) -> dict[str, object]:
    """A task like one a person writes: some with a description, tags or a due date."""
    rng = random.Random(number)  # noqa: S311  (sample data, not secrets)
    body: dict[str, object] = {
        "title": f"Task {number}: {rng.choice(['call', 'buy', 'write', 'fix', 'plan'])} things",
        "priority": rng.choice(PRIORITIES),
        "tags": rng.sample(TAGS, rng.randint(0, 2)),
    }
    if rng.random() < 0.5:
        body["description"] = "Notes about this task, long enough to look like real ones."
    if rng.random() < 0.5:
        due = START + timedelta(days=rng.randint(0, 365), hours=rng.randint(0, 23))
        body["due_date"] = due.isoformat()
    return body


async def seed_through_api(base_url: str, users: list[User], tasks_per_user: int) -> None:
    jobs: asyncio.Queue[tuple[User, int]] = asyncio.Queue()
    for number in range(tasks_per_user):
        for user in users:
            jobs.put_nowait((user, number))

    async def create_tasks(client: httpx.AsyncClient) -> None:
        while not jobs.empty():
            user, number = jobs.get_nowait()
            task = await _create(client, user, number)
            user.task_ids.append(task["id"])

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await asyncio.gather(*(create_tasks(client) for _ in range(SEED_CONCURRENCY)))


async def _create(client: httpx.AsyncClient, user: User, number: int) -> dict[str, object]:
    """Create the user's task `number`, retried with the same `Idempotency-Key` when the
    connection drops, so that a retry never creates it twice."""
    headers = {"Authorization": f"Bearer {user.token}", "Idempotency-Key": f"seed-{number}"}
    for attempt in range(1, SEED_ATTEMPTS + 1):
        try:
            response = await client.post(
                f"/api/{user.id}/tasks", json=task_body(number), headers=headers
            )
            break
        except httpx.TransportError:
            if attempt == SEED_ATTEMPTS:
                raise
    response.raise_for_status()
    return response.json()


_COPY_COLUMNS = [
    "user_id", "title", "description", "completed", "completed_at", "priority", "tags",
    "due_date", "time_zone", "recurrence", "series_start", "created_at", "updated_at",
    "version", "change_seq",
]  # fmt: skip


def _rows(user_ids: list[str], tasks_per_user: int) -> list[tuple[object, ...]]:
    """Rows as the API would have written them, `tasks_per_user` for each user."""
    shapes = []
    for number in range(tasks_per_user):
        body = task_body(number)
        created = START + timedelta(minutes=number)
        due = body.get("due_date")
        due_date = datetime.fromisoformat(due) if isinstance(due, str) else None
        shapes.append(
            (body["title"], body.get("description"), False, None, body["priority"], body["tags"],
             due_date, "UTC", "none", due_date, created, created, 1, number + 1)
        )  # fmt: skip
    return [(user_id, *shape) for user_id in user_ids for shape in shapes]


async def bulk_load(database_url: str, users: list[User], tasks_per_user: int) -> None:
    """COPY rows shaped like the API's straight into the table, then refresh the statistics
    and the visibility map, as autovacuum would have by the time a table is this big."""
    users_per_batch = max(1, COPY_BATCH // tasks_per_user)
    connection = await asyncpg.connect(database_url)
    try:
        for start in range(0, len(users), users_per_batch):
            batch = [user.id for user in users[start : start + users_per_batch]]
            await connection.copy_records_to_table(
                "tasks", records=_rows(batch, tasks_per_user), columns=_COPY_COLUMNS
            )
        counters = [(user.id, tasks_per_user) for user in users]  # one change per task so far
        await connection.copy_records_to_table("change_counters", records=counters)
        owners = {user.id: user for user in users}
        query = "SELECT user_id, array_agg(id ORDER BY id) AS ids FROM tasks GROUP BY user_id"
        for record in await connection.fetch(query):
            if record["user_id"] in owners:
                owners[record["user_id"]].task_ids = list(record["ids"])
        await connection.execute("VACUUM ANALYZE tasks")
    finally:
        await connection.close()


def write_wrk_data(users: list[User], path: Path) -> Path:
    """One line per user, `<id> <token> <task id>...`, for the wrk script to read."""
    lines = (" ".join([user.id, user.token, *map(str, user.task_ids)]) for user in users)
    path.write_text("\n".join(lines) + "\n")
    return path
