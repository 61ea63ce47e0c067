"""Changes are announced after their transaction commits, never inside it."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commands.handlers import create_task, set_completion
from commands.messages import CreateTask, SetCompletion
from persistence.announcements import ANNOUNCER, GATHER_SECONDS, Announcer, announce
from persistence.database import AUTOCOMMIT_SAFE
from tests.helpers import other_user


@asynccontextmanager
async def running(announcer: Announcer, engine: AsyncEngine) -> AsyncIterator[None]:
    """The announcer at work, as the app runs it; stopped (and so emptied) at the end."""
    task = asyncio.create_task(announcer.run(partial(announce, engine)))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def write_session(engine: AsyncEngine, announcer: Announcer | None) -> AsyncSession:
    """A session as the app's write sessions are: direct connections, the worker's announcer."""
    info: dict[str, object] = {AUTOCOMMIT_SAFE: True}
    if announcer is not None:
        info[ANNOUNCER] = announcer
    return AsyncSession(engine, info=info)


async def test_a_write_commits_without_a_notification_of_its_own(engine, heard):
    """A write's transaction sends no `NOTIFY`: PostgreSQL would commit it one at a time with
    every other write that did, server-wide, each waiting for its own flush to disk."""
    user = other_user()
    async with write_session(engine, announcer=None) as session:
        task = await create_task(session, user, CreateTask(title="quiet"))  # on its own
        async with session.begin():
            await set_completion(session, user, task.id, SetCompletion(completed=True))
    assert await heard.all_within() == []


async def test_a_committed_write_is_announced_once_it_has_committed(engine, heard):
    user = other_user()
    announcer = Announcer()
    async with running(announcer, engine), write_session(engine, announcer) as session:
        async with session.begin():
            await create_task(session, user, CreateTask(title="in a transaction"))
            assert await heard.all_within(GATHER_SECONDS * 10) == []  # not before the commit
        assert await heard.next() == user
        await create_task(session, user, CreateTask(title="on its own"))
        assert await heard.next() == user


async def test_a_rolled_back_write_is_never_announced(engine, heard):
    user = other_user()
    announcer = Announcer()
    async with running(announcer, engine), write_session(engine, announcer) as session:
        await session.begin()
        await create_task(session, user, CreateTask(title="undone"))
        await session.rollback()
        async with session.begin():  # the same session commits something else later
            await session.connection()
        assert await heard.all_within() == []


async def test_a_write_that_changed_nothing_is_not_announced(engine, heard):
    user = other_user()
    announcer = Announcer()
    async with write_session(engine, None) as setup, setup.begin():
        task = await create_task(setup, user, CreateTask(title="done", completed=True))
    async with running(announcer, engine), write_session(engine, announcer) as session:
        async with session.begin():
            await set_completion(session, user, task.id, SetCompletion(completed=True))
        assert await heard.all_within() == []


async def test_changes_close_together_go_out_together_once_per_owner(engine, heard):
    owners = [other_user() for _ in range(3)]
    announcer = Announcer()
    async with running(announcer, engine):
        for _ in range(20):
            for owner in owners:
                announcer.announce([owner])
            await asyncio.sleep(0)  # as requests in flight commit one after another
        assert sorted(await heard.all_within()) == sorted(owners)


async def test_an_announcement_the_database_refused_is_sent_again(engine, heard):
    user = other_user()
    announcer = Announcer()
    attempts: list[list[str]] = []

    async def send(owners: list[str]) -> None:
        attempts.append(owners)
        if len(attempts) == 1:
            raise ConnectionRefusedError  # as when the database is restarting
        await announce(engine, owners)

    task = asyncio.create_task(announcer.run(send))
    try:
        announcer.announce([user])
        assert await heard.next() == user
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert attempts == [[user], [user]]


async def test_what_is_due_when_the_app_stops_is_still_sent(engine, heard):
    user = other_user()
    announcer = Announcer()
    async with running(announcer, engine):
        await asyncio.sleep(0)  # running, waiting for something to announce
        announcer.announce([user])
    assert await heard.next() == user
