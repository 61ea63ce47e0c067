"""`taskapi database ...`: advanced-alchemy's migration commands on DATABASE_URL alone, and the
migration `taskapi run` applies before its workers start. Imported only by these commands:
SQLAlchemy's engine, Alembic and advanced-alchemy stay out of the process that supervises the
workers."""

import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import click
from advanced_alchemy.cli import add_migration_commands
from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from persistence.database import engine_for, write_config
from persistence.migrate import upgrade_when_reachable
from persistence.plugin import SQLAlchemyAsyncConfig
from service.embedded import start_postgres
from service.observability import configure_logging
from service.settings import Settings


def reason(error: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's wrapping."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


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


class _OneLineErrors(click.Group):
    """A database that cannot be reached, or a revision that cannot be applied: one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OSError, SQLAlchemyError, CommandError) as error:
            raise SystemExit(f"taskapi: database: {reason(error)}") from None


@click.group(name="database", cls=_OneLineErrors)
@click.pass_context
def database(ctx: click.Context) -> None:
    """Migrations: `upgrade` applies them. Needs only DATABASE_URL (and DATABASE_POOLER)."""
    settings = Settings.from_env().check_logging()
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("alembic").setLevel(logging.INFO)  # a deploy step says what it applied
    ctx.obj = {"configs": _PrimaryConfig()}
    if not sys.stdin.isatty():  # the commands ask `[y/n]`, and abort when nobody can answer
        ctx.default_map = {name: {"no_prompt": True} for name in database.commands}


add_migration_commands(database)


def migrate_before_serving() -> None:
    """`taskapi run`'s migration, from the settings it shares with its workers. A database that
    cannot be reached (or trusted) stops start-up with one line."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)

    async def migrate() -> None:
        engine = engine_for(settings.primary)
        try:
            await upgrade_when_reachable(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(migrate())
    except (OSError, SQLAlchemyError) as error:
        raise SystemExit(f"taskapi: cannot migrate {settings.primary}: {reason(error)}") from None
