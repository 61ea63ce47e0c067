"""Ceiling (b): the service's routes for the benchmark's workloads, running the same SQL
through one asyncpg pool of prepared statements: no ORM, no explicit transaction. Writes are
announced as the service's are, by its `Announcer`."""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Annotated

import asyncpg
from litestar import Controller, Litestar, Request, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from bench import sql
from bench.ceilings import authenticated_app, path_user_is_token_user
from commands.messages import CreateTask
from persistence.announcements import Announcer
from queries.views import TaskPage, TaskView

POOL_SIZE = 20  # the service's pool size per worker


@asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    async with asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE
    ) as pool:
        app.state.pool = pool
        app.state.announcer = announcer = Announcer()
        announcing = asyncio.create_task(announcer.run(partial(pool.execute, sql.ANNOUNCE)))
        yield
        announcing.cancel()
        with suppress(asyncio.CancelledError):  # it sends what is still due
            await announcing


async def _written(request: Request, statement: str, *args: object) -> TaskView:
    """Run a write, then have its owner announced."""
    row = await request.app.state.pool.fetchrow(statement, *args)
    if row is not None:
        request.app.state.announcer.announce([request.user])
    return _view(row)


def _view(row: asyncpg.Record | None) -> TaskView:
    if row is None:
        raise NotFoundException
    return TaskView(**{name: row[name] for name in TaskView.__struct_fields__})


class Tasks(Controller):
    path = "/api/{user_id:str}/tasks"
    guards = [path_user_is_token_user]

    @get()
    async def list_tasks(
        self,
        request: Request,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> TaskPage:
        rows = await request.app.state.pool.fetch(sql.LIST_TASKS, request.user, limit, offset)
        total = rows[0]["total"] if rows else 0
        return TaskPage(items=[_view(row) for row in rows], total=total, limit=limit, offset=offset)

    @get("/{task_id:int}")
    async def get_task(self, request: Request, task_id: int) -> TaskView:
        return _view(await request.app.state.pool.fetchrow(sql.GET_TASK, task_id, request.user))

    @post()
    async def create_task(self, request: Request, data: CreateTask) -> TaskView:
        return await _written(
            request,
            sql.CREATE_TASK,
            request.user,
            data.title,
            data.description,
            data.completed,
            data.priority,
            data.tags,
            data.due_date,
            data.time_zone,
            data.recurrence,
        )

    @patch("/{task_id:int}/complete")
    async def complete_task(self, request: Request, task_id: int) -> TaskView:
        return await _written(request, sql.TOGGLE_TASK, task_id, request.user)


app = authenticated_app([Tasks], lifespan=[_pool])
