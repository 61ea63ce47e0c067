"""`taskapi`: the project's own commands, plus Litestar's CLI with the app built only by the
commands that look at it, so that `--help` starts nothing.

`run` is ours rather than Litestar's: Litestar's builds the app in the CLI process and, for
several workers, runs uvicorn in a child process that signals do not reach. The process that
supervises the workers imports little: Litestar's commands, the database commands and the
migration are imported (or run) elsewhere, when used.
"""

import logging
import multiprocessing
import os
import re
import signal
import sys
from functools import cache
from typing import Any

import click
import uvicorn

from service.embedded import development_secret, with_local_defaults
from service.observability import configure_logging
from service.settings import ConfigurationError, Settings

APP = "service.asgi:app"
WORKER_HEALTHCHECK_SECONDS = 30
logger = logging.getLogger("taskapi")

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@cache
def _litestar_commands() -> dict[str, click.Command]:
    """Litestar's own commands, wired as Litestar wires them: each builds the app when it needs
    it."""
    from litestar.cli._utils import LitestarGroup
    from litestar.cli.commands import core, schema, sessions

    group = LitestarGroup()
    for command in (
        core.info_command,
        core.routes_command,
        core.version_command,
        schema.schema_group,
        sessions.sessions_group,
    ):
        group.add_command(command)
    return group.commands


_LITESTAR_COMMANDS = ("info", "routes", "version", "schema", "sessions")


class _Commands(click.Group):
    """Our commands, plus those imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "database", *_LITESTAR_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "database":
            from service.database_cli import database

            return database
        if name in _LITESTAR_COMMANDS:
            return _litestar_commands()[name]
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def taskapi(ctx: click.Context) -> None:
    """The Tasks API.

    \b
    run               serve the API (an embedded PostgreSQL without DATABASE_URL)
    token --sub ID    print a JWT for user ID, for development
    database upgrade  apply the migrations and exit; needs only DATABASE_URL

    The other commands are Litestar's; those that inspect the app build it first.
    """
    ctx.obj = _build_the_app  # Litestar's commands call it when they need the app


def _build_the_app() -> Any:
    from litestar.cli._utils import LitestarEnv

    return LitestarEnv.from_env(APP)


# --- run ---------------------------------------------------------------------------------------


@taskapi.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes.  [default: WEB_CONCURRENCY, else 1]",
)
def run(host: str, port: int, workers: int | None) -> None:
    """Serve the API, after applying the migrations (unless AUTO_MIGRATE=false).

    SIGTERM or SIGINT stops every worker once its requests are answered, then the embedded
    PostgreSQL.
    """
    for stop in (signal.SIGINT, signal.SIGTERM):
        # uvicorn hands a signal back to this handler once it has shut down: exit normally, so
        # the embedded PostgreSQL stops with this process.
        signal.signal(stop, lambda *_: sys.exit(0))
    configured = Settings.from_env().check_logging()
    configure_logging(configured.log_level, configured.log_format)
    settings = with_local_defaults(configured).check()  # says so when it fills something in
    workers = workers or settings.web_concurrency
    _share_with_workers(settings)
    if settings.auto_migrate:
        _migrate_in_a_process_of_its_own()
    logger.info(
        "serving on http://%s:%d with %d worker%s; database %s%s",
        host,
        port,
        workers,
        "" if workers == 1 else "s",
        settings.primary,
        f", reads from {settings.replica}" if settings.replica else "",
    )
    if configured.auth_configured:
        logger.info("tokens: %s", _where_tokens_come_from(settings))
    uvicorn.run(
        APP,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # the app configures logging: one line per request, ours
        access_log=False,
        server_header=False,
        # A new worker answers the supervisor's health checks once Python has started and
        # unpickled its configuration, which can take over 5 s (the default) on a busy
        # machine: slow starters were killed and restarted over and over.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _where_tokens_come_from(settings: Settings) -> str:
    sources = [f"Better Auth's, checked against {settings.jwks_url}"] if settings.jwks_url else []
    if settings.jwt_secret:
        sources.append("HS256 signed with JWT_SECRET (uv run taskapi token --sub alice)")
    return "; or ".join(sources)


def _migrate_in_a_process_of_its_own() -> None:
    """Once, before the workers start. Migrating needs SQLAlchemy, Alembic and advanced-alchemy:
    a short-lived process imports them, and this one stays small while it supervises."""
    migration = multiprocessing.get_context("spawn").Process(target=_migrate)
    migration.start()
    migration.join()
    if migration.exitcode:
        raise SystemExit(migration.exitcode)  # it has said why, in one line


def _migrate() -> None:
    """In the migration's own process: the imports happen there."""
    from service.database_cli import migrate_before_serving

    migrate_before_serving()


def _share_with_workers(settings: Settings) -> None:
    """Workers build the app from the environment: hand them what this process settled."""
    os.environ["DATABASE_URL"] = settings.database_url or ""
    if settings.jwt_secret:
        os.environ["JWT_SECRET"] = settings.jwt_secret
    os.environ["AUTO_MIGRATE"] = "false"  # `run` migrates once, before they start


# --- token -------------------------------------------------------------------------------------


def _seconds(_: click.Context, __: click.Parameter, value: str) -> int:
    match = _DURATION.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter("use a positive duration such as 900, 15m, 1h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@taskapi.command()
@click.option("--sub", required=True, help="The user id to put in the token's `sub`.")
@click.option("--ttl", default="1h", show_default=True, callback=_seconds, help="Lifetime.")
def token(sub: str, ttl: int) -> None:
    """Print an HS256 JWT signed with the configured (or development) secret."""
    from service.auth import mint_token

    settings = Settings.from_env()
    secret = settings.jwt_secret
    if not settings.auth_configured and settings.database_url is None:
        secret = development_secret(settings.data_dir)  # what `taskapi run` will accept
    if secret is None:
        raise click.ClickException(
            "JWT_SECRET is not set; this deployment's tokens come from Better Auth."
        )
    checked = {"issuers": settings.jwt_issuer, "audiences": settings.jwt_audience}
    click.echo(mint_token(secret, sub, ttl, **checked))


def main() -> None:
    try:
        taskapi.main(prog_name="taskapi")
    except ConfigurationError as error:
        raise SystemExit(f"taskapi: refusing to start. {error}") from None
