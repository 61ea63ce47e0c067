"""The laptop defaults: an embedded PostgreSQL and a development JWT secret under `.data/`."""

import logging
import secrets
import signal
import sys
import threading
import warnings
from dataclasses import replace
from pathlib import Path

from service.settings import Settings

logger = logging.getLogger("taskapi")


def development_secret(data_dir: Path) -> str:
    """The HS256 secret that `taskapi token` signs with, made once and kept."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn re-raises SIGTERM through the previous handler once it has shut down; the
    default one kills the process before exit handlers run, and pgserver stops PostgreSQL in
    one. Make that previous handler a normal exit. Never replace a handler already set
    (uvicorn's own, when it builds the app a second time)."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def start_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server; it stops when the last process using it exits."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver keeps a lock file under the user's runtime directory; platformdirs warns when
        # there is none (a container, a CI job) and pgserver then uses a temporary one: harmless.
        from platformdirs import RuntimeDirWarning

        warnings.simplefilter("ignore", RuntimeDirWarning)
        import pgserver  # imported here: only the embedded mode needs it

        server = pgserver.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    return server.get_uri()


def with_local_defaults(settings: Settings) -> Settings:
    """Fill in an embedded database and, with it, a development secret when nothing is set."""
    if settings.database_url is not None:
        return settings
    url = start_postgres(settings.data_dir)
    logger.info("DATABASE_URL is not set: embedded PostgreSQL in %s", settings.data_dir)
    if settings.auth_configured:
        return replace(settings, database_url=url)
    logger.info(
        "No auth configured: HS256 tokens signed with the development secret in %s; "
        "mint one with: uv run taskapi token --sub alice",
        settings.data_dir,
    )
    return replace(settings, database_url=url, jwt_secret=development_secret(settings.data_dir))
