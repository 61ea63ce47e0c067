"""Two ceilings served beside the service: the same framework and JWT check with no database
(`framework`), and the same SQL through one raw asyncpg pool (`lean`)."""

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler, LifespanHook

from service.auth import BearerAuthMiddleware, TokenVerifier

ME = "me"


async def path_user_is_token_user(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.path_params["user_id"] not in (ME, connection.user):
        raise PermissionDeniedException("This path belongs to another user")


@get("/health", sync_to_thread=False)
def health() -> str:
    return "ok"


@asynccontextmanager
async def _token_verifier(app: Litestar) -> AsyncIterator[None]:
    app.state.token_verifier = TokenVerifier(secret=os.environ["JWT_SECRET"])
    yield


def authenticated_app(
    routes: Sequence[ControllerRouterHandler], lifespan: Sequence[LifespanHook] = ()
) -> Litestar:
    """A Litestar app whose `/api` routes sit behind the service's own bearer-token check."""
    return Litestar(
        route_handlers=[health, *routes],
        middleware=[DefineMiddleware(BearerAuthMiddleware, exclude=["^/health$"])],
        lifespan=[_token_verifier, *lifespan],
        logging_config=None,
        openapi_config=None,
    )
