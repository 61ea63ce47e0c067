"""CORS: preflights need no token, the frontend's origin may read our headers, others may not."""

from tests.helpers import bearer


async def test_preflight_needs_no_token_and_allows_the_contract_headers(client):
    response = await client.options(
        "/api/me/tasks/1",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "if-match", "if-none-match", "idempotency-key"):
        assert header in allowed


async def test_responses_expose_etag_location_and_retry_after(client, user):
    response = await client.get(
        "/api/me/tasks", headers={"Origin": "http://localhost:3000", **bearer(user)}
    )
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert {"etag", "location", "retry-after"} <= {h.strip() for h in exposed.split(",")}


async def test_other_origins_are_not_allowed(client):
    response = await client.options(
        "/api/me/tasks",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"},
    )
    assert response.headers.get("access-control-allow-origin") != "https://evil.test"
