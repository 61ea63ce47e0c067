"""Health and readiness probes, and what the routes answer when the database or the code fails."""

import logging

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import Settings
from tests.helpers import TEST_SECRET, assert_problem, bearer


async def test_health_needs_no_token(client):
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_ready_when_the_database_answers(client):
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


UNREACHABLE = Settings(
    database_url="postgresql://nobody@127.0.0.1:1/none",  # nothing listens on port 1
    jwt_secret=TEST_SECRET,
    auto_migrate=False,
)


async def test_ready_is_503_with_retry_after_when_the_database_is_unreachable():
    async with AsyncTestClient(create_app(UNREACHABLE)) as client:
        response = await client.get("/ready")
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert "Connect" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/api/me/tasks", None), ("POST", "/api/me/tasks", {"title": "lost?"})],
)
async def test_task_routes_answer_503_when_the_database_is_unreachable(method, path, body):
    async with AsyncTestClient(create_app(UNREACHABLE)) as client:
        response = await client.request(method, path, json=body, headers=bearer("alice"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "The database is unavailable; retry shortly"


async def test_an_unexpected_error_is_a_plain_500_logged_with_the_request_id(
    client, user, monkeypatch, caplog
):
    async def broken(*_: object) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr("queries.handlers.task_stats", broken)  # a fault, injected
    with caplog.at_level(logging.ERROR, logger="taskapi.errors"):
        response = await client.get(
            "/api/me/tasks/stats", headers=bearer(user) | {"X-Request-ID": "req-500"}
        )
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred; it has been logged",
    }
    assert "req-500" in caplog.text
    assert "SELECT secret" in caplog.text  # the cause is logged, not sent
