"""Two users, alice and bob: neither can see, touch or even detect the other's tasks."""

import pytest

from tests.helpers import SINGLE_TASK_ROUTES, assert_problem, bearer, other_user, stats_body

ROUTES = pytest.mark.parametrize(
    ("method", "suffix", "body"), SINGLE_TASK_ROUTES.values(), ids=SINGLE_TASK_ROUTES.keys()
)


@pytest.fixture
def alice() -> str:
    return other_user()


@pytest.fixture
def bob() -> str:
    return other_user()


@pytest.fixture
async def alice_task(client, alice) -> dict:
    response = await client.post(
        f"/api/{alice}/tasks",
        json={
            "title": "alice secret plan",
            "description": "for alice only",
            "tags": ["private"],
            "priority": "high",
            "due_date": "2020-01-01T00:00:00Z",  # overdue, and recurring: completing it would
            "recurrence": "daily",  # add a second task for alice
        },
        headers=bearer(alice),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def alice_sees(client, alice) -> list[dict]:
    response = await client.get(f"/api/{alice}/tasks", headers=bearer(alice))
    assert response.status_code == 200
    return response.json()["items"]


def assert_404_without_a_trace_of(response, task: dict) -> None:
    assert_problem(response, 404)
    for field in ("title", "description", "user_id"):
        assert task[field] not in response.text


# --- bob on his own path, naming alice's task ---------------------------------------------


@ROUTES
@pytest.mark.parametrize("bob_path", ["bob", "me"])
async def test_bob_cannot_reach_alices_task_on_any_route(
    client, alice, bob, alice_task, method, suffix, body, bob_path
):
    owner = bob if bob_path == "bob" else "me"
    url = f"/api/{owner}/tasks/{alice_task['id']}{suffix}"

    response = await client.request(method, url, json=body, headers=bearer(bob))

    assert_404_without_a_trace_of(response, alice_task)
    assert await alice_sees(client, alice) == [alice_task]


@ROUTES
async def test_alices_task_looks_to_bob_exactly_like_a_missing_one(
    client, alice, bob, alice_task, method, suffix, body
):
    missing_id = 9_223_372_036_854_775_807

    theirs = await client.request(
        method, f"/api/{bob}/tasks/{alice_task['id']}{suffix}", json=body, headers=bearer(bob)
    )
    missing = await client.request(
        method, f"/api/{bob}/tasks/{missing_id}{suffix}", json=body, headers=bearer(bob)
    )

    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"] == missing.headers["content-type"]
    # Only where the id is named: an id such as 404 also appears as the status.
    anonymised = theirs.text.replace(f"Task {alice_task['id']} ", f"Task {missing_id} ")
    assert anonymised == missing.text


async def test_bobs_list_does_not_include_alices_tasks(client, alice, bob, alice_task):
    own = await client.post(f"/api/{bob}/tasks", json={"title": "bob task"}, headers=bearer(bob))

    for params in ({}, {"q": "secret"}, {"tag": "private"}, {"priority": "high"}):
        response = await client.get(f"/api/{bob}/tasks", params=params, headers=bearer(bob))
        assert response.status_code == 200
        page = response.json()
        expected = [own.json()["id"]] if not params else []
        assert [task["id"] for task in page["items"]] == expected, params
        assert page["total"] == len(expected)
        assert alice_task["title"] not in response.text


async def test_bobs_stats_do_not_count_alices_tasks(client, alice, bob, alice_task):
    await client.post(
        f"/api/{bob}/tasks", json={"title": "bob task", "priority": "low"}, headers=bearer(bob)
    )

    response = await client.get(f"/api/{bob}/tasks/stats", headers=bearer(bob))

    assert response.status_code == 200
    assert response.json() == stats_body(total=1, pending=1, low=1)
    alices = await client.get(f"/api/{alice}/tasks/stats", headers=bearer(alice))
    assert (alices.json()["total"], alices.json()["overdue"]) == (1, 1)


# --- bob on alice's path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "", {"title": "planted by bob"}),
        ("GET", "/stats", None),
        *[(method, "/{id}" + suffix, body) for method, suffix, body in SINGLE_TASK_ROUTES.values()],
        ("GET", "/9223372036854775807", None),
    ],
    ids=["list", "create", "stats", *SINGLE_TASK_ROUTES, "get-missing"],
)
async def test_bob_on_alices_path_is_403_on_every_route(
    client, alice, bob, alice_task, method, suffix, body
):
    url = f"/api/{alice}/tasks" + suffix.format(id=alice_task["id"])

    response = await client.request(method, url, json=body, headers=bearer(bob))

    assert_problem(response, 403)
    assert alice_task["title"] not in response.text
    assert await alice_sees(client, alice) == [alice_task]


async def test_bob_on_alices_path_is_403_even_with_a_bad_body(client, alice, bob, alice_task):
    response = await client.post(f"/api/{alice}/tasks", json={"id": 1}, headers=bearer(bob))

    assert response.status_code == 403
    assert await alice_sees(client, alice) == [alice_task]


# --- me -----------------------------------------------------------------------------------


async def test_me_is_the_token_user(client, alice, bob, alice_task):
    created = await client.post("/api/me/tasks", json={"title": "bob's"}, headers=bearer(bob))

    assert created.status_code == 201
    assert created.json()["user_id"] == bob
    bobs = await client.get("/api/me/tasks", headers=bearer(bob))
    assert [task["id"] for task in bobs.json()["items"]] == [created.json()["id"]]
    alices = await client.get("/api/me/tasks", headers=bearer(alice))
    assert [task["id"] for task in alices.json()["items"]] == [alice_task["id"]]
    assert (await client.get(f"/api/{bob}/tasks", headers=bearer(bob))).json() == bobs.json()


async def test_each_user_keeps_their_own_changes(client, alice, bob, alice_task):
    bobs = await client.post(f"/api/{bob}/tasks", json={"title": "bob"}, headers=bearer(bob))
    bob_id = bobs.json()["id"]

    await client.patch(f"/api/me/tasks/{bob_id}/complete", headers=bearer(bob))
    await client.delete(f"/api/me/tasks/{bob_id}", headers=bearer(bob))

    assert await alice_sees(client, alice) == [alice_task]
