"""Logs: one structured access line per request, never the token or the body."""

import json
import logging

from service.observability import JSONFormatter
from tests.helpers import bearer


async def test_one_access_line_per_request_without_token_or_body(client, user, caplog):
    headers = bearer(user) | {"X-Request-ID": "req-123"}
    with caplog.at_level(logging.INFO, logger="taskapi.access"):
        response = await client.post(
            "/api/me/tasks", json={"title": "secret title"}, headers=headers
        )
    assert response.headers["x-request-id"] == "req-123"
    lines = [r for r in caplog.records if r.name == "taskapi.access"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.path, record.status) == ("POST", "/api/me/tasks", 201)
    assert record.request_id == "req-123"
    assert record.duration_ms >= 0
    entry = json.loads(JSONFormatter().format(record))
    assert entry["status"] == 201
    assert entry["request_id"] == "req-123"
    text = caplog.text + json.dumps(entry)
    assert "secret title" not in text
    assert headers["Authorization"].split()[1] not in text


async def test_a_request_id_is_made_when_none_is_sent(client):
    response = await client.get("/health")
    assert len(response.headers["x-request-id"]) == 32
