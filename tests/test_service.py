"""The service around the routes: probes, OpenAPI, CORS, settings, URLs, CLI and logs."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from persistence.database import connect_args
from persistence.urls import to_asyncpg_url
from service.app import create_app
from service.cli import token
from service.settings import ConfigurationError, Settings
from tests.conftest import TEST_SECRET, bearer

# --- probes ----------------------------------------------------------------------------------


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
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert "asyncpg" not in response.text
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


# --- OpenAPI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def openapi(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_operation_has_id_summary_and_documented_errors(openapi):
    operations = [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 10
    for path, method, operation in operations:
        assert operation.get("operationId"), (path, method)
        assert operation.get("summary"), (path, method)
        if path.startswith("/api/"):
            assert operation["security"] == [{"BearerToken": []}]
            assert {"401", "403"} <= operation["responses"].keys(), (path, method)
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"].endswith("/Problem")


async def test_openapi_declares_bearer_auth_and_typed_bodies(openapi):
    assert openapi["openapi"].startswith("3.1")
    assert openapi["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    schemas = openapi["components"]["schemas"]
    assert {"TaskView", "TaskStats", "CreateTask", "PatchTask", "Problem"} <= schemas.keys()
    assert set(schemas["CreateTask"]["required"]) == {"title"}
    create = openapi["paths"]["/api/{user_id}/tasks"]["post"]
    assert {"201", "413", "415", "422"} <= create["responses"].keys()


async def test_interactive_docs_are_served(client):
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


# --- CORS ------------------------------------------------------------------------------------


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


# --- settings ---------------------------------------------------------------------------------


def test_refuses_to_start_with_a_database_and_no_auth():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u@db/x"})
    with pytest.raises(ConfigurationError, match="BETTER_AUTH_URL"):
        create_app(settings)


def test_better_auth_url_sets_jwks_issuer_and_audience():
    settings = Settings.from_env({"BETTER_AUTH_URL": "https://app.example.com/"})
    assert settings.jwks_url == "https://app.example.com/api/auth/jwks"
    assert settings.jwt_issuer == settings.jwt_audience == ("https://app.example.com",)


def test_explicit_values_win_over_better_auth_url():
    settings = Settings.from_env(
        {
            "BETTER_AUTH_URL": "https://app.example.com",
            "JWT_JWKS_URL": "https://keys.example.com/jwks",
            "JWT_ISSUER": "a, b",
            "JWT_AUDIENCE": "c",
            "BETTER_AUTH_SECRET": "s3cret",
            "CORS_ORIGINS": "https://a.test, https://b.test",
        }
    )
    assert settings.jwks_url == "https://keys.example.com/jwks"
    assert settings.jwt_issuer == ("a", "b")
    assert settings.jwt_audience == ("c",)
    assert settings.jwt_secret == "s3cret"
    assert settings.cors_origins == ("https://a.test", "https://b.test")


def test_jwt_secret_wins_over_better_auth_secret():
    env = {"JWT_SECRET": "one", "BETTER_AUTH_SECRET": "two"}
    assert Settings.from_env(env).jwt_secret == "one"


def test_defaults():
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.auto_migrate is True
    assert Settings.from_env({"AUTO_MIGRATE": "false"}).auto_migrate is False


def test_a_dotenv_file_is_read_and_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("JWT_SECRET=from-file\nCORS_ORIGINS=https://file.test\n")
    monkeypatch.setenv("CORS_ORIGINS", "https://env.test")
    settings = Settings.from_env()
    assert settings.jwt_secret == "from-file"
    assert settings.cors_origins == ("https://env.test",)


def test_unknown_log_level_is_refused():
    settings = Settings(database_url="postgresql://u@h/d", jwt_secret="x", log_level="loud")
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        settings.check()


def test_the_cli_refuses_to_start_open_and_says_what_to_set(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "taskapi"), "run"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": "postgresql://u@127.0.0.1:1/d"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert "BETTER_AUTH_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_log_format_is_refused():
    settings = Settings(database_url="postgresql://u@h/d", jwt_secret="x", log_format="xml")
    with pytest.raises(ConfigurationError, match="LOG_FORMAT"):
        settings.check()


# --- database URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgresql://u:p@ep-x.neon.tech/db?sslmode=require&channel_binding=require",
            "postgresql+asyncpg://u:p@ep-x.neon.tech/db?ssl=require",
        ),
        ("postgres://u@h:5433/d", "postgresql+asyncpg://u@h:5433/d"),
        (
            "postgresql+asyncpg://u@h/d?ssl=verify-full",
            "postgresql+asyncpg://u@h/d?ssl=verify-full",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql+asyncpg://postgres:@/postgres?host=%2Ftmp%2Fpg",
        ),
        (
            "postgresql://u@h/d?sslmode=disable&application_name=x",
            "postgresql+asyncpg://u@h/d?ssl=disable",
        ),
        (
            "postgresql://u:p@ep-x-pooler.neon.tech/db?sslmode=require",
            "postgresql+asyncpg://u:p@ep-x-pooler.neon.tech/db?prepared_statement_cache_size=0&ssl=require",
        ),
    ],
)
def test_urls_are_translated_for_asyncpg(raw, expected):
    assert to_asyncpg_url(raw).render_as_string(hide_password=False) == expected


def test_a_transaction_pooler_gets_no_asyncpg_statement_cache_and_unique_names():
    pooler = connect_args(to_asyncpg_url("postgresql://u@ep-x-pooler.neon.tech/db"))
    assert pooler["statement_cache_size"] == 0
    assert pooler["prepared_statement_name_func"]() != pooler["prepared_statement_name_func"]()
    direct = connect_args(to_asyncpg_url("postgresql://u@ep-x.neon.tech/db"))
    assert "statement_cache_size" not in direct


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("mysql://u@h/d", "not a PostgreSQL URL"),
        ("postgresql://u@h/d?sslmode=x", "unknown sslmode"),
    ],
)
def test_urls_that_cannot_work_are_refused(raw, reason):
    with pytest.raises(ValueError, match=reason):
        to_asyncpg_url(raw)


# --- CLI --------------------------------------------------------------------------------------


def test_token_command_mints_a_token_the_api_accepts(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    result = CliRunner().invoke(token, ["--sub", "alice", "--ttl", "15m"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 900


def test_token_command_uses_the_development_secret_without_a_database(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_SECRET", "BETTER_AUTH_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(token, ["--sub", "bob"])
    assert result.exit_code == 0, result.output
    secret = (tmp_path / ".data" / "jwt-secret").read_text().strip()
    assert jwt.decode(result.output.strip(), secret, algorithms=["HS256"])["sub"] == "bob"


def test_token_command_starts_no_database(tmp_path):
    env = {"PATH": os.environ["PATH"]}
    taskapi = str(Path(sys.executable).parent / "taskapi")
    result = subprocess.run(
        [taskapi, "token", "--sub", "bob"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".data" / "jwt-secret").exists()
    assert not (tmp_path / ".data" / "postgres").exists()


def test_token_command_refuses_when_tokens_come_from_better_auth(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_SECRET", "BETTER_AUTH_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BETTER_AUTH_URL", "https://auth.example.test")
    result = CliRunner().invoke(token, ["--sub", "bob"])
    assert result.exit_code != 0
    assert "Better Auth" in result.output


def test_token_command_refuses_without_a_secret_for_a_real_database(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("BETTER_AUTH_SECRET", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    result = CliRunner().invoke(token, ["--sub", "bob"])
    assert result.exit_code != 0
    assert "JWT_SECRET" in result.output


@pytest.mark.parametrize("ttl", ["0", "-5", "soon", "5y"])
def test_token_command_rejects_bad_lifetimes(monkeypatch, ttl):
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    assert CliRunner().invoke(token, ["--sub", "a", "--ttl", ttl]).exit_code == 2


# --- logs -------------------------------------------------------------------------------------


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
    from service.observability import JSONFormatter

    entry = json.loads(JSONFormatter().format(record))
    assert entry["status"] == 201
    assert entry["request_id"] == "req-123"
    text = caplog.text + json.dumps(entry)
    assert "secret title" not in text
    assert headers["Authorization"].split()[1] not in text


async def test_a_request_id_is_made_when_none_is_sent(client):
    response = await client.get("/health")
    assert len(response.headers["x-request-id"]) == 32
