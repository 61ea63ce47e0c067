"""The `taskapi` command, run as people run it: a subprocess with only the environment they set.
`--help` starts nothing, `database upgrade` needs only DATABASE_URL, `token` mints development
tokens, and `run` refuses, in one line, to start open or misconfigured."""

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
import jwt
import pytest
from click.testing import CliRunner

from service.auth import TokenVerifier
from service.cli import token
from service.settings import Settings
from tests.components import HEAD, schema_revision
from tests.helpers import TASKAPI, TEST_SECRET


def taskapi(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TASKAPI, *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"} | env,
        stdin=subprocess.DEVNULL,  # nobody to answer a prompt
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["run", "--help"], ["database", "upgrade", "--help"], ["token", "-h"]]
)
def test_help_starts_nothing(tmp_path, args):
    result = taskapi(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: taskapi" in result.stdout
    assert not (tmp_path / ".data").exists()  # no embedded PostgreSQL, no secret
    assert "initdb" not in result.stdout + result.stderr


def test_help_says_first_what_the_project_commands_do(tmp_path):
    lines = [line.strip() for line in taskapi("--help", cwd=tmp_path).stdout.splitlines()]
    first = [line for line in lines if line][:5]
    assert first[0].startswith("Usage: taskapi")
    assert [line.split("  ")[0] for line in first[2:5]] == [
        "run",
        "token --sub ID",
        "database upgrade",
    ]


def test_database_upgrade_needs_only_the_database_url(tmp_path, empty_database):
    first = taskapi("database", "upgrade", cwd=tmp_path, DATABASE_URL=empty_database)
    assert first.returncode == 0, first.stderr
    assert asyncio.run(schema_revision(empty_database)) == HEAD
    again = taskapi("database", "upgrade", "--no-prompt", cwd=tmp_path, DATABASE_URL=empty_database)
    assert again.returncode == 0, again.stderr  # already at head


def test_database_upgrade_says_in_one_line_why_it_cannot(tmp_path, engine):
    missing = engine.url.set(database="no_such_database").render_as_string(hide_password=False)
    result = taskapi("database", "upgrade", cwd=tmp_path, DATABASE_URL=missing)
    assert result.returncode != 0
    assert result.stderr.strip() == 'taskapi: database: database "no_such_database" does not exist'


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://u@h/d"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u@h/d", "DATABASE_POOLER": "session"}, "DATABASE_POOLER"),
        (
            {"DATABASE_URL": "postgresql://u@h/d", "READ_DATABASE_URL": "http://replica"},
            "READ_DATABASE_URL",
        ),
        ({"DATABASE_URL": "postgresql://u@h/d", "WEB_CONCURRENCY": "lots"}, "WEB_CONCURRENCY"),
    ],
)
def test_settings_that_cannot_work_stop_run_with_one_line(tmp_path, env, named):
    result = taskapi("run", cwd=tmp_path, JWT_SECRET="s", **env)
    assert result.returncode != 0
    error = result.stderr.strip()
    assert error.startswith("taskapi: refusing to start."), error
    assert "\n" not in error, error
    assert named in error, error


def test_the_cli_refuses_to_start_open_and_says_what_to_set(tmp_path):
    result = subprocess.run(
        [TASKAPI, "run"],
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
    result = subprocess.run(
        [TASKAPI, "token", "--sub", "bob"], cwd=tmp_path, env=env, capture_output=True, text=True
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


@pytest.mark.parametrize(
    "checks",
    [
        pytest.param({"BETTER_AUTH_URL": "https://auth.example.com"}, id="from-better-auth-url"),
        pytest.param(
            {"JWT_ISSUER": "https://issuer.example.com", "JWT_AUDIENCE": "tasks,other"},
            id="issuer-and-audience-lists",
        ),
        pytest.param({}, id="not-checked"),
    ],
)
async def test_token_command_mints_what_the_same_settings_accept(tmp_path, checks):
    environment = {"PATH": os.environ["PATH"], "JWT_SECRET": TEST_SECRET, **checks}
    minted = await asyncio.create_subprocess_exec(
        TASKAPI,
        *("token", "--sub", "alice"),
        cwd=tmp_path,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    token, errors = await asyncio.wait_for(minted.communicate(), 60)
    assert minted.returncode == 0, errors.decode()
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier.from_settings(Settings.from_env(environment), http)
        assert (await verifier.verify(token.decode().strip())).subject == "alice"
