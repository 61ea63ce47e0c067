"""Headers every response carries, OPTIONS without a token, refused preflights, quiet 5xx."""

import logging

import pytest
from litestar.exceptions import HTTPException

from tests.helpers import assert_problem, bearer

ALLOWED_ORIGIN = "http://localhost:3000"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/api/me/tasks"),
        ("GET", "/api/me/tasks/999999"),
        ("GET", "/nowhere"),
        ("POST", "/api/me/tasks"),
        ("GET", "/schema/openapi.json"),
    ],
)
async def test_every_response_has_nosniff_and_a_request_id(method, path, client, headers):
    response = await client.request(method, path, headers=headers, json={"title": "t"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/api/me/tasks", "/api/me/tasks/stats", "/api/me/tasks/1"])
async def test_task_data_is_never_stored_by_caches(path, client, headers):
    response = await client.get(path, headers=headers)
    assert response.headers["cache-control"] == "no-store"


async def test_the_events_stream_is_never_stored_either(client, headers):
    """The stream sets `Cache-Control: no-cache` itself: it is replaced, not repeated."""
    response = await client.head("/api/me/events", headers=headers)
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_a_sane_request_id_from_the_client_is_echoed(client):
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("path", ["/api/me/tasks", "/api/me/tasks/1", "/api/me/tasks/1/complete"])
async def test_options_without_origin_is_204_with_allow_and_needs_no_token(path, client):
    response = await client.options(path)
    assert response.status_code == 204, response.text
    assert "GET" in response.headers["allow"] or "PATCH" in response.headers["allow"]
    assert "OPTIONS" in response.headers["allow"]


@pytest.mark.parametrize(
    "preflight",
    [
        {"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"},
        {"Origin": "https://evil.test"},
        {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "TRACE"},
        {
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-evil",
        },
    ],
)
async def test_a_refused_preflight_is_a_403_problem(preflight, client):
    response = await client.options("/api/me/tasks", headers=preflight)
    assert_problem(response, 403)
    assert "access-control-allow-origin" not in response.headers


async def test_an_allowed_preflight_names_the_origin_and_the_headers(client):
    response = await client.options(
        "/api/me/tasks",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key, last-event-id",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_a_framework_5xx_says_only_that_it_was_logged(client, user, monkeypatch, caplog):
    async def broken(*_: object) -> None:
        raise HTTPException(status_code=500, detail="'user' is not defined in scope, internals")

    monkeypatch.setattr("queries.handlers.task_stats", broken)  # a fault, injected
    with caplog.at_level(logging.ERROR, logger="taskapi.errors"):
        response = await client.get(
            "/api/me/tasks/stats", headers=bearer(user) | {"X-Request-ID": "req-fw-500"}
        )
    body = assert_problem(response, 500)
    assert body["detail"] == "An unexpected error occurred; it has been logged"
    assert "scope" not in response.text
    assert "req-fw-500" in caplog.text
