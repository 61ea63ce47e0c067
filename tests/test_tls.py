"""TLS as libpq's `sslmode` and `sslrootcert` promise, against a PostgreSQL that takes TLS
connections only, with a certificate from a CA the test makes."""

import subprocess

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from persistence.database import make_engine
from service.app import create_app
from service.settings import Settings
from tests.helpers import TASKAPI, TEST_SECRET, bearer

ENCRYPTED = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


async def _connects_encrypted(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(ENCRYPTED)
    finally:
        await engine.dispose()


async def test_require_encrypts_without_verifying(tls_postgres):
    assert await _connects_encrypted(tls_postgres.url(sslmode="require"))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_verify_full_checks_the_chain_and_the_host_name(tls_postgres, certificates, host):
    url = tls_postgres.url(sslmode="verify-full", sslrootcert=str(certificates.ca))
    assert await _connects_encrypted(url.replace("127.0.0.1", host))


async def test_the_api_serves_over_verified_tls_only(tls_postgres, certificates):
    url = tls_postgres.url(sslmode="verify-full", sslrootcert=str(certificates.ca))
    settings = Settings(database_url=url, jwt_secret=TEST_SECRET)
    async with AsyncTestClient(create_app(settings)) as client:  # migrates over TLS too
        headers = bearer("tls-user")
        created = await client.post("/api/me/tasks", json={"title": "over TLS"}, headers=headers)
        assert created.status_code == 201, created.text
        assert (await client.get("/api/me/tasks", headers=headers)).json()["total"] == 1
    engine = make_engine(tls_postgres.url(sslmode="require"))
    async with engine.connect() as connection:
        plain = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity JOIN pg_stat_ssl USING (pid) "
                "WHERE client_addr IS NOT NULL AND NOT ssl"
            )
        )
    await engine.dispose()
    assert plain == 0


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TASKAPI, "run", "--port", "1"],  # never gets as far as listening
        env={"PATH": "/usr/bin:/bin", "JWT_SECRET": TEST_SECRET} | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_certificate_from_another_ca_stops_start_up_with_one_line(tls_postgres, certificates):
    url = tls_postgres.url(sslmode="verify-full", sslrootcert=str(certificates.other_ca))
    result = _run({"DATABASE_URL": url})
    assert result.returncode != 0
    error = result.stderr.strip()
    assert "\n" not in error, error
    assert "certificate verify failed" in error.lower(), error
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sslmode=verify-full&sslrootcert=/nowhere/ca.pem", "sslrootcert"),
        ("sslmode=sometimes", "sslmode"),
    ],
)
def test_tls_settings_that_cannot_work_stop_start_up_with_one_line(tls_postgres, query, named):
    result = _run({"DATABASE_URL": f"{tls_postgres.url()}?{query}"})
    assert result.returncode != 0
    error = result.stderr.strip()
    assert "\n" not in error, error
    assert "DATABASE_URL" in error, error
    assert named in error, error
