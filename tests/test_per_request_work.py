"""Work that would run on every request for nothing: none of it is done.

Litestar wraps a synchronous guard, dependency, hook or handler in `AsyncCallable`, which runs
it through the thread pool: a thread hop per request for work that takes microseconds.
"""

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.utils.sync import AsyncCallable
from sqlalchemy.engine import Engine

from commands.handlers import create_task
from commands.messages import CreateTask
from persistence.announcements import Announcer
from persistence.database import write_config
from persistence.urls import parse_database_url


def _route_handlers(app: Litestar) -> list[HTTPRouteHandler]:
    return [
        handler
        for route in app.routes
        for handler in route.route_handlers
        if isinstance(handler, HTTPRouteHandler)
    ]


def _sent_to_threads(handler: HTTPRouteHandler) -> list[str]:
    callables = {
        "handler": handler.fn,
        "before_request": handler.resolve_before_request(),
        **{f"guard {guard}": guard for guard in handler.resolve_guards()},
        **{
            f"dependency {key}": dep.dependency
            for key, dep in handler.resolve_dependencies().items()
        },
    }
    return [name for name, value in callables.items() if isinstance(value, AsyncCallable)]


def test_no_guard_dependency_hook_or_handler_runs_in_a_thread(app):
    handlers = _route_handlers(app)
    assert len(handlers) >= 10
    threaded = {handler.handler_name: _sent_to_threads(handler) for handler in handlers}
    assert {name: found for name, found in threaded.items() if found} == {}


def test_dependencies_are_resolved_one_after_another(app):
    """Litestar resolves independent dependencies of a request in an anyio task group, a task
    each: a route of the API needs at most its session, so none spawns tasks. (The readiness
    probe, which checks both engines at once, may.)"""
    parallel = {
        f"{method} {route.path}": [
            sorted(d.key for d in batch) for batch in model.dependency_batches
        ]
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/")
        for method, (_, model) in route.route_handler_map.items()
        if any(len(batch) > 1 for batch in model.dependency_batches)
    }
    assert parallel == {}


async def test_a_write_and_its_commit_build_no_engine(database_url, engine, monkeypatch, user):
    """advanced-alchemy's cache listener, left on, asks on every commit whether it is enabled
    by building an engine (`Engine.execution_options`); nothing here uses its cache."""
    built: list[dict] = []
    build = Engine.execution_options

    def counted(engine: Engine, **options: object) -> Engine:
        built.append(options)
        return build(engine, **options)

    config = write_config(parse_database_url(database_url), Announcer())
    write_sessions = config.create_session_maker()
    monkeypatch.setattr(Engine, "execution_options", counted)
    try:
        async with write_sessions() as session:
            await create_task(session, user, CreateTask(title="on its own"))
            async with session.begin():
                await create_task(session, user, CreateTask(title="in a transaction"))
    finally:
        await config.get_engine().dispose()
    assert built == []
