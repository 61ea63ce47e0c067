"""An unmodified Better Auth server (the npm package, with its JWT plugin) issues the tokens;
the API is configured with BETTER_AUTH_URL alone."""

from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.interop.better_auth_server import (
    NODE_PROJECT_DIR,
    BetterAuthServer,
    install_node_packages,
    run_better_auth,
)


@pytest.fixture(scope="module")
def better_auth(tmp_path_factory) -> Iterator[BetterAuthServer]:
    install_node_packages(NODE_PROJECT_DIR)
    with run_better_auth(tmp_path_factory.mktemp("better-auth")) as server:
        yield server


async def test_better_auth_tokens_work_end_to_end(better_auth, database_url, engine):
    alice_id, alice_jwt = better_auth.sign_up("alice@example.com", "correct-horse-1", "Alice")
    bob_id, bob_jwt = better_auth.sign_up("bob@example.com", "battery-staple-2", "Bob")
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "BETTER_AUTH_URL": better_auth.base_url}
    )
    alice = {"Authorization": f"Bearer {alice_jwt}"}
    bob = {"Authorization": f"Bearer {bob_jwt}"}
    async with AsyncTestClient(create_app(settings)) as client:
        created = await client.post("/api/me/tasks", json={"title": "from Next.js"}, headers=alice)
        assert created.status_code == 201, created.text
        task = created.json()
        assert task["user_id"] == alice_id

        listed = await client.get(f"/api/{alice_id}/tasks", headers=alice)
        assert [t["title"] for t in listed.json()["items"]] == ["from Next.js"]

        assert (await client.get(f"/api/me/tasks/{task['id']}", headers=bob)).status_code == 404
        assert (await client.get(f"/api/{alice_id}/tasks", headers=bob)).status_code == 403
        assert (await client.get("/api/me/tasks", headers=bob)).json()["items"] == []
        assert bob_id != alice_id
