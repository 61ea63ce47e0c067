"""A real browser calls the API cross-origin from http://localhost:3000, as the Next.js app does."""

import dataclasses

from service.app import create_app
from tests.browser.harness import cors_probe_page, run_page, serve_page
from tests.helpers import live_server, make_token


def probe(settings, token: str) -> dict:
    with live_server(create_app(settings)) as api, serve_page(cors_probe_page(api, token)) as page:
        return run_page(page)


def test_the_allowed_origin_can_create_and_read_etag_and_location(settings, engine, user):
    result = probe(settings, make_token(user))
    assert result["error"] is None
    assert result["create_status"] == 201
    assert result["location"].startswith("/api/me/tasks/")
    assert result["get_status"] == 200
    assert result["etag"] == '"1"'


def test_an_origin_not_in_cors_origins_is_blocked_by_the_browser(settings, engine, user):
    elsewhere = dataclasses.replace(settings, cors_origins=("https://app.example.com",))
    result = probe(elsewhere, make_token(user))
    assert result["create_status"] is None
    assert "Failed to fetch" in result["error"]
