"""Every GET route answers HEAD as it answers GET, without the body; `/` leads to the docs."""

import pytest

# Headers that differ between any two responses, whatever the method.
PER_RESPONSE = {"x-request-id", "date", "ratelimit-remaining", "ratelimit-reset"}


def get_routes(document: dict) -> list[str]:
    """Every GET route but the event stream, whose GET never ends by itself (its HEAD is tested
    in tests/test_live_updates.py)."""
    paths = [
        path
        for path, item in document["paths"].items()
        if "get" in item and not is_event_stream(item["get"])
    ]
    return [*paths, "/schema", "/schema/openapi.json"]


def is_event_stream(operation: dict) -> bool:
    return "text/event-stream" in operation["responses"]["200"].get("content", {})


def comparable(headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in PER_RESPONSE}


async def test_every_get_route_answers_head_like_get_without_a_body(client, create, headers):
    task = await create()
    document = (await client.get("/schema/openapi.json")).json()
    routes = get_routes(document)
    assert "/health" in routes
    for route in routes:
        url = route.format(user_id="me", task_id=task["id"])
        got = await client.get(url, headers=headers)
        head = await client.head(url, headers=headers)
        assert got.status_code == 200, (url, got.text)
        assert (head.status_code, head.content) == (200, b""), url
        assert comparable(head.headers) == comparable(got.headers), url


@pytest.mark.parametrize(
    ("path", "status"), [("/api/me/tasks", 401), ("/api/me/tasks/1", 401), ("/nowhere", 404)]
)
async def test_head_is_refused_as_get_is(client, path, status):
    got = await client.get(path)
    head = await client.head(path)
    assert got.status_code == head.status_code == status
    assert head.content == b""
    assert comparable(head.headers) == comparable(got.headers)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_the_root_leads_to_the_interactive_docs(client, method):
    response = await client.request(method, "/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/schema"
    docs = await client.get(response.headers["location"])
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/health", {"GET", "HEAD", "OPTIONS"}), ("/api/me/tasks/1/complete", {"PATCH", "OPTIONS"})],
)
async def test_allow_lists_head_wherever_get_is(client, path, allowed):
    response = await client.options(path)
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == allowed
