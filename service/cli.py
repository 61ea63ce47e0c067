"""`taskapi`: Litestar's CLI with the app preloaded, plus the project's own commands."""

import os
import re
import sys

import click

from service.auth import mint_token
from service.embedded import development_secret
from service.settings import ConfigurationError, Settings

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(_: click.Context, __: click.Parameter, value: str) -> int:
    match = _DURATION.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter("use a positive duration such as 900, 15m, 1h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@click.command(name="token")
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


def main() -> None:
    if sys.argv[1:2] == ["token"]:  # needs no app, so no database
        token.main(sys.argv[2:], prog_name="taskapi token")
        return
    os.environ.setdefault("LITESTAR_APP", "service.asgi:app")
    from litestar.cli.main import litestar_group

    litestar_group.add_command(token)
    try:
        litestar_group()
    except ConfigurationError as error:
        raise SystemExit(f"taskapi: refusing to start. {error}") from None
