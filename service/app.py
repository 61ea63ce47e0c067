"""The application factory: settings in, a fully wired Litestar app out."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from functools import partial
from importlib.metadata import version
from typing import Any

import httpx
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.routes import HTTPRoute
from litestar.types import Receive, Scope, Send

from persistence.announcements import Announcer, announce
from persistence.database import read_config, write_config
from persistence.plugin import SQLAlchemyPlugin
from service.admission import admission
from service.auth import BearerAuthMiddleware, TokenVerifier
from service.controllers.docs import to_the_docs
from service.controllers.health import health, ready
from service.controllers.owned import committed_sessions
from service.controllers.sync import SyncController
from service.controllers.tasks import TaskController
from service.controllers.trash import TrashController
from service.embedded import with_local_defaults
from service.errors import problem_details
from service.housekeeping import keep_house
from service.hygiene import answered_methods, head_as_get, hygiene
from service.live import LiveUpdates, closing_on_signals, listen_for_changes
from service.observability import access_log, configure_logging, silence_server_access_log
from service.openapi import RequestBodySchemas, openapi_config
from service.rate_limits import BUDGETS_STATE_KEY, budgets_for, rate_limit
from service.settings import Settings

logger = logging.getLogger("taskapi")

MAX_BODY_BYTES = 64 * 1024
PUBLIC_PATHS = ["^/$", "^/health$", "^/ready$", "^/schema"]


def _cors(settings: Settings) -> CORSConfig:
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "Last-Event-ID",
        ],
        expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


def _jwks_client(settings: Settings) -> AbstractAsyncContextManager[httpx.AsyncClient | None]:
    """An HTTP client for the JWKS, only when one is configured: its TLS context alone holds
    a CA bundle of 2 MiB in every worker."""
    return httpx.AsyncClient() if settings.jwks_url else nullcontext()


def tune_collector() -> None:
    """Move what start-up built (modules, routes, the app) out of the collector's sight, and
    collect less often: a server allocates in bursts per request that mostly free themselves,
    and each full collection is a pause every request in flight waits for."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class TaskAPI(Litestar):
    """The Litestar app, with the access log, the headers every response carries and the line
    requests wait in for a place (`admission`) around everything it answers."""

    def __init__(self, *, max_requests_in_progress: int, **config: Any) -> None:
        super().__init__(**config)
        methods_by_path = {
            route.path_format: answered_methods(route.methods)
            for route in self.routes
            if isinstance(route, HTTPRoute)
        }
        answered = head_as_get(super().__call__)
        admitted = admission(answered, max_requests_in_progress, MAX_BODY_BYTES)
        self._logged = access_log(hygiene(admitted, config["cors_config"], methods_by_path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._logged(scope, receive, send)


def create_app(settings: Settings | None = None) -> Litestar:
    if settings is None:
        settings = Settings.from_env().check_logging()
        configure_logging(settings.log_level, settings.log_format)
        settings = with_local_defaults(settings)
    settings.check()
    announcer = Announcer()
    db = write_config(settings.primary, announcer)
    budgets = budgets_for(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        silence_server_access_log()
        if settings.auto_migrate:
            # Imported only here: workers that `taskapi run` starts never load Alembic.
            from persistence.migrate import upgrade_when_reachable

            await upgrade_when_reachable(db.get_engine())
        housekeeping = asyncio.create_task(
            keep_house(
                db.get_engine(),
                settings.housekeeping_seconds,
                settings.trash_retention,
                budgets,
            )
        )
        live = LiveUpdates(db.get_engine(), settings.trash_retention, settings.heartbeat_seconds)
        listener = asyncio.create_task(listen_for_changes(settings.primary, live.hub))
        announcing = asyncio.create_task(announcer.run(partial(announce, db.get_engine())))
        app.state.live_updates = live
        try:
            async with _jwks_client(settings) as client:
                app.state.token_verifier = TokenVerifier.from_settings(settings, client)
                tune_collector()
                with closing_on_signals(live.hub):
                    yield
        finally:
            live.hub.close()
            housekeeping.cancel()
            for task in (listener, announcing):  # the announcer sends what is still due
                task.cancel()
                with suppress(asyncio.CancelledError):  # let it close its connection
                    await task
            await budgets.close()

    return TaskAPI(
        max_requests_in_progress=settings.max_requests_in_progress,
        route_handlers=[
            TaskController,
            TrashController,
            SyncController,
            health,
            ready,
            to_the_docs,
        ],
        dependencies={"db_session": committed_sessions(db)},
        state=State({"trash_retention": settings.trash_retention, BUDGETS_STATE_KEY: budgets}),
        plugins=[
            SQLAlchemyPlugin(config=[db, read_config(db, settings.primary, settings.replica)]),
            ProblemDetailsPlugin(problem_details(redis=settings.redis_url is not None)),
            RequestBodySchemas(),
        ],
        # Authentication first, so that the rate limit knows whose budget a request draws on.
        middleware=[
            DefineMiddleware(BearerAuthMiddleware, exclude=PUBLIC_PATHS),
            rate_limit(settings, budgets),
        ],
        logging_config=None,
        lifespan=[lifespan],
        cors_config=_cors(settings),
        openapi_config=openapi_config(version("taskapi")),
        request_max_body_size=MAX_BODY_BYTES,
    )
