"""ETag, If-Match and If-None-Match: a stale tab cannot overwrite a newer edit."""

import asyncio

import httpx
import pytest

from service.app import create_app
from tests.helpers import SINGLE_TASK_ROUTES, assert_problem, bearer, live_server, other_user

WRITES = {name: route for name, route in SINGLE_TASK_ROUTES.items() if route[0] != "GET"}


async def test_create_and_every_single_task_response_carry_the_version_as_etag(
    client, tasks_url, headers
):
    created = await client.post(tasks_url, json={"title": "a"}, headers=headers)
    assert created.headers["etag"] == '"1"'
    url = f"{tasks_url}/{created.json()['id']}"
    patched = await client.patch(url, json={"title": "b"}, headers=headers)
    assert (patched.headers["etag"], patched.json()["version"]) == ('"2"', 2)
    assert (await client.get(url, headers=headers)).headers["etag"] == '"2"'


@pytest.mark.parametrize("name", WRITES)
async def test_a_stale_if_match_is_412_and_changes_nothing(
    name, client, tasks_url, headers, create
):
    method, suffix, body = WRITES[name]
    task = await create(title="original", tags=["x"])
    url = f"{tasks_url}/{task['id']}"
    await client.patch(url, json={"description": "moved on"}, headers=headers)  # now version 2
    before = (await client.get(url, headers=headers)).json()

    response = await client.request(
        method, url + suffix, json=body, headers=headers | {"If-Match": '"1"'}
    )

    assert_problem(response, 412)
    assert (await client.get(url, headers=headers)).json() == before


@pytest.mark.parametrize("name", WRITES)
@pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', "*"])
async def test_a_matching_if_match_lets_the_write_through(
    name, if_match, client, tasks_url, headers, create
):
    method, suffix, body = WRITES[name]
    task = await create(title="original")
    response = await client.request(
        method,
        f"{tasks_url}/{task['id']}{suffix}",
        json=body,
        headers=headers | {"If-Match": if_match},
    )
    assert response.status_code in (200, 204), response.text


@pytest.mark.parametrize("if_match", ['W/"1"', '"abc"', '"01x"', '"99999999999999999999"', "1"])
async def test_weak_or_foreign_tags_never_match(if_match, client, tasks_url, headers, create):
    task = await create(title="original")
    response = await client.patch(
        f"{tasks_url}/{task['id']}", json={"title": "x"}, headers=headers | {"If-Match": if_match}
    )
    assert_problem(response, 412)


@pytest.mark.parametrize("suffix", ["", "/complete"])
async def test_a_version_beyond_any_stored_one_is_412_not_an_error(
    suffix, client, tasks_url, headers, create
):
    task = await create(title="original")
    response = await client.patch(
        f"{tasks_url}/{task['id']}{suffix}",
        json={"completed": True},
        headers=headers | {"If-Match": '"9999999999"'},
    )
    assert_problem(response, 412)


async def test_if_match_on_another_users_task_is_404_not_412(client, tasks_url, create):
    task = await create(title="mine")
    stranger = other_user()
    response = await client.patch(
        f"/api/{stranger}/tasks/{task['id']}",
        json={"title": "theirs"},
        headers=bearer(stranger) | {"If-Match": '"1"'},
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"5", "1"', "*"])
async def test_get_with_a_current_if_none_match_is_304_without_a_body(
    if_none_match, client, tasks_url, headers, create
):
    task = await create(title="cached")
    response = await client.get(
        f"{tasks_url}/{task['id']}", headers=headers | {"If-None-Match": if_none_match}
    )
    assert (response.status_code, response.content) == (304, b"")
    assert response.headers["etag"] == '"1"'


async def test_get_with_an_old_if_none_match_is_the_task(client, tasks_url, headers, create):
    task = await create(title="cached")
    url = f"{tasks_url}/{task['id']}"
    await client.patch(url, json={"title": "changed"}, headers=headers)
    response = await client.get(url, headers=headers | {"If-None-Match": '"1"'})
    assert (response.status_code, response.json()["title"]) == (200, "changed")


async def test_of_writers_racing_with_the_same_if_match_exactly_one_wins(settings, user):
    """Real concurrent requests against a running server: the version check and the write
    are one step under the row lock."""
    racers = 12
    with live_server(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=bearer(user)) as http:
            task = (await http.post(f"/api/{user}/tasks", json={"title": "race"})).json()
            url = f"/api/{user}/tasks/{task['id']}"
            responses = await asyncio.gather(
                *(
                    http.patch(url, json={"title": f"racer {n}"}, headers={"If-Match": '"1"'})
                    for n in range(racers)
                )
            )
            final = (await http.get(url)).json()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * (racers - 1)
    winner = next(response.json() for response in responses if response.status_code == 200)
    assert final == winner
    assert final["version"] == 2
