"""Settings are read once from the environment and `.env`, and refused when they cannot work."""

import pytest

from service.app import create_app
from service.settings import ConfigurationError, Settings


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


def test_unknown_log_format_is_refused():
    settings = Settings(database_url="postgresql://u@h/d", jwt_secret="x", log_format="xml")
    with pytest.raises(ConfigurationError, match="LOG_FORMAT"):
        settings.check()


def test_trash_retention_is_read_in_days():
    assert Settings.from_env({}).trash_retention_days == 30
    assert Settings.from_env({"TRASH_RETENTION_DAYS": "7"}).trash_retention_days == 7


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", "99999999"])
def test_a_trash_retention_that_cannot_work_refuses_to_start(value):
    with pytest.raises(ConfigurationError, match="TRASH_RETENTION_DAYS"):
        Settings.from_env({"TRASH_RETENTION_DAYS": value})
