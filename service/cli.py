"""`taskapi`: the project's own commands, plus Litestar's CLI with the app loaded by the commands
that use it, so that `--help` starts nothing.

`run` is ours rather than Litestar's: Litestar's builds the app in the CLI process and, for
several workers, runs uvicorn in a child process that signals do not reach.
"""

import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import click
import uvicorn
from advanced_alchemy.cli import add_migration_commands
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from alembic.util.exc import CommandError
from litestar.cli._utils import LitestarEnv, LitestarGroup
from litestar.cli.commands import core, schema, sessions
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from persistence.database import engine_for, write_config
from persistence.migrate import upgrade_when_reachable
from persistence.urls import DatabaseURL
from service.auth import mint_token
from service.embedded import development_secret, start_postgres, with_local_defaults
from service.observability import configure_logging
from service.settings import ConfigurationError, Settings

APP = "service.asgi:app"
WORKER_HEALTHCHECK_SECONDS = 30
logger = logging.getLogger("taskapi")

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@click.group(cls=LitestarGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def taskapi(ctx: click.Context) -> None:
    """The Tasks API.

    \b
    run               serve the API (an embedded PostgreSQL without DATABASE_URL)
    token --sub ID    print a JWT for user ID, for development
    database upgrade  apply the migrations and exit; needs only DATABASE_URL

    The other commands are Litestar's; those that inspect the app build it first.
    """
    ctx.obj = lambda: LitestarEnv.from_env(APP)  # Litestar's commands build the app on use


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
    if settings.auto_migrate:
        _migrate(settings.primary)
    _share_with_workers(settings)
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
        # A worker answers the supervisor's health checks only once it has imported this CLI
        # and its dependencies, which takes seconds on a busy machine; 5 s (the default) gets
        # slow starters killed and restarted over and over.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _where_tokens_come_from(settings: Settings) -> str:
    sources = [f"Better Auth's, checked against {settings.jwks_url}"] if settings.jwks_url else []
    if settings.jwt_secret:
        sources.append("HS256 signed with JWT_SECRET (uv run taskapi token --sub alice)")
    return "; or ".join(sources)


def _migrate(primary: DatabaseURL) -> None:
    """Once, before the workers start, so that a database that cannot be reached (or trusted)
    stops start-up with one line."""

    async def migrate() -> None:
        engine = engine_for(primary)
        try:
            await upgrade_when_reachable(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(migrate())
    except (OSError, SQLAlchemyError) as error:
        raise SystemExit(f"taskapi: cannot migrate {primary}: {reason(error)}") from None


def _share_with_workers(settings: Settings) -> None:
    """Workers build the app from the environment: hand them what this process settled."""
    os.environ["DATABASE_URL"] = settings.database_url or ""
    if settings.jwt_secret:
        os.environ["JWT_SECRET"] = settings.jwt_secret
    os.environ["AUTO_MIGRATE"] = "false"  # done above, once


def reason(error: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's wrapping."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


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


# --- database ----------------------------------------------------------------------------------


class _PrimaryConfig(Sequence[SQLAlchemyAsyncConfig]):
    """advanced-alchemy's commands read `configs[0]` when they run: only then is DATABASE_URL
    read (or the embedded PostgreSQL started), so `--help` starts nothing."""

    @cached_property
    def _configs(self) -> list[SQLAlchemyAsyncConfig]:
        settings = Settings.from_env()
        if settings.database_url is None:
            settings = replace(settings, database_url=start_postgres(settings.data_dir))
        return [write_config(settings.primary)]

    def __getitem__(self, index: Any) -> Any:
        return self._configs[index]

    def __len__(self) -> int:
        return len(self._configs)


@taskapi.group(name="database")
def database(ctx: click.Context) -> None:
    """Migrations: `upgrade` applies them. Needs only DATABASE_URL (and DATABASE_POOLER)."""
    settings = Settings.from_env().check_logging()
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("alembic").setLevel(logging.INFO)  # a deploy step says what it applied
    ctx.obj = {"configs": _PrimaryConfig()}


add_migration_commands(database)
for command in (
    core.info_command,
    core.routes_command,
    core.version_command,
    schema.schema_group,
    sessions.sessions_group,
):
    taskapi.add_command(command)


def _no_prompts_without_a_terminal() -> dict[str, Any]:
    """advanced-alchemy's commands ask `[y/n]`, and abort when nobody can answer."""
    if sys.stdin.isatty():
        return {}
    prompting = [
        name
        for name, command in database.commands.items()
        if any(param.name == "no_prompt" for param in command.params)
    ]
    return {"database": {name: {"no_prompt": True} for name in prompting}}


def main() -> None:
    try:
        taskapi.main(prog_name="taskapi", default_map=_no_prompts_without_a_terminal())
    except ConfigurationError as error:
        raise SystemExit(f"taskapi: refusing to start. {error}") from None
    except (OSError, SQLAlchemyError, CommandError) as error:
        raise SystemExit(f"taskapi: database: {reason(error)}") from None
