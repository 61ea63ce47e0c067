"""A database a network hop away: a TCP relay that holds every chunk for half a round trip.

`tc netem` would do this in the kernel; where the kernel has no `sch_netem` (as on the
project's machines) this relay, in its own process, stands in for it. Each direction keeps
its chunks in arrival order and releases each one `delay` after it arrived, so a stream's
order is kept and a round trip costs the full delay whatever its size. The event loop's
timers round up to the millisecond, so a hop is `delay` to `delay` + 1 ms: jitter of the
kind a real network has.

`python -m bench.latency <host> <port> <round-trip ms>` prints the port it listens on.
"""

import asyncio
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg


class _Delayed(asyncio.Protocol):
    """One direction of a relayed connection: what arrives here leaves `delay` later."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer: _Delayed | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pending.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self._release)

    def eof_received(self) -> None:
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.timer is None:
            self._release()

    def _release(self) -> None:
        self.timer = None
        if self.peer is None:  # still connecting: `_relay` releases once it has
            return
        assert self.peer.transport is not None
        now, ready = self.loop.time(), []
        while self.pending and self.pending[0][0] <= now:
            ready.append(self.pending.popleft()[1])
        if ready:
            self.peer.transport.write(b"".join(ready))
        if self.pending:
            self.timer = self.loop.call_at(self.pending[0][0], self._release)
        elif self.closing:
            self.peer.transport.close()


async def _relay(host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[None]] = set()

    async def accept(client_side: _Delayed) -> None:
        try:
            _, server_side = await loop.create_connection(lambda: _Delayed(delay), host, port)
        except OSError:
            assert client_side.transport is not None
            client_side.transport.close()
            return
        client_side.peer, server_side.peer = server_side, client_side
        if client_side.timer is None:
            client_side._release()

    def connected() -> _Delayed:
        client_side = _Delayed(delay)
        task = loop.create_task(accept(client_side))
        connecting.add(task)
        task.add_done_callback(connecting.discard)
        return client_side

    server = await loop.create_server(connected, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


@contextmanager
def behind_latency(database_url: str, round_trip_ms: float) -> Iterator[str]:
    """The same database, reached through a relay that adds `round_trip_ms` to each round
    trip; yields its URL."""
    parts = urlsplit(database_url)
    command = [sys.executable, "-m", "bench.latency", str(parts.hostname), str(parts.port)]
    relay = subprocess.Popen([*command, str(round_trip_ms)], stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout is not None
        port = int(relay.stdout.readline())
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        relay.terminate()
        relay.wait()


async def measured_round_trip_ms(database_url: str, samples: int = 100) -> float:
    """The median time of `SELECT 1` on one connection: what a round trip really costs."""
    connection = await asyncpg.connect(database_url)
    try:
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            await connection.fetchval("SELECT 1")
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)
    finally:
        await connection.close()


if __name__ == "__main__":
    host, port, round_trip_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    asyncio.run(_relay(host, port, round_trip_ms / 2000))
