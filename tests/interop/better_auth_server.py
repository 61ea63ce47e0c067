"""Run a real Better Auth server (npm `better-auth`, JWT plugin) headless for interop tests.

The Node project lives in ``better_auth/`` next to this file. Typical use::

    install_node_packages(NODE_PROJECT_DIR)
    with run_better_auth(tmp_path) as server:
        user_id, token = server.sign_up("a@example.com", "password1234", "A")
        # verify `token` against server.jwks_url (EdDSA / Ed25519, iss == aud == base_url)

Only the standard library and httpx are used.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.helpers import free_port

NODE_PROJECT_DIR: Path = Path(__file__).resolve().parent / "better_auth"
"""The Node project holding ``server.mjs``, ``package.json`` and ``package-lock.json``."""

READY_TIMEOUT_S: float = 30.0
STOP_TIMEOUT_S: float = 10.0
NPM_CI_TIMEOUT_S: float = 600.0


class BetterAuthFixtureError(RuntimeError):
    """The Better Auth fixture could not be installed, started or used."""


def _node_modules_fresh(folder: Path) -> bool:
    node_modules = folder / "node_modules"
    lock = folder / "package-lock.json"
    # npm ci writes node_modules/.package-lock.json last; use it as the completion marker.
    marker = node_modules / ".package-lock.json"
    if not marker.is_file():
        return False
    return marker.stat().st_mtime >= lock.stat().st_mtime


def install_node_packages(folder: Path) -> None:
    """Run ``npm ci`` in ``folder`` unless ``node_modules`` is present and newer than the lock.

    Concurrent callers (e.g. pytest-xdist workers) serialise on an fcntl lock file, so only
    one of them installs and the others reuse the result.
    """
    folder = folder.resolve()
    lock_file = folder / "package-lock.json"
    if not lock_file.is_file():
        raise BetterAuthFixtureError(f"{lock_file} is missing; run `npm install` in {folder}")
    if _node_modules_fresh(folder):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BetterAuthFixtureError("npm was not found on PATH; Node.js 20+ is required")
    with open(folder / ".npm-install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            if _node_modules_fresh(folder):
                return
            try:
                result = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=folder,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=NPM_CI_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise BetterAuthFixtureError(
                    f"`npm ci` in {folder} did not finish within {NPM_CI_TIMEOUT_S:.0f} s"
                ) from exc
            if result.returncode != 0:
                raise BetterAuthFixtureError(
                    f"`npm ci` in {folder} failed with exit code {result.returncode}:\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
                )
            # Make the freshness check hold even if the lock file is touched later by git.
            (folder / "node_modules" / ".package-lock.json").touch()
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


@dataclass(frozen=True)
class BetterAuthServer:
    """A running Better Auth server; JWTs it issues have ``iss == aud == base_url``."""

    base_url: str
    process: subprocess.Popen[str]

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/api/auth"

    @property
    def jwks_url(self) -> str:
        return f"{self.auth_url}/jwks"

    def _client(self) -> httpx.Client:
        # Better Auth rejects cookie-carrying POSTs without an Origin matching baseURL
        # (403 MISSING_OR_NULL_ORIGIN), so always send it.
        return httpx.Client(base_url=self.auth_url, headers={"Origin": self.base_url}, timeout=10.0)

    def sign_up(self, email: str, password: str, name: str) -> tuple[str, str]:
        """Create a user (email + password, min. 8 chars) and return ``(user_id, jwt)``."""
        with self._client() as client:
            resp = client.post(
                "/sign-up/email", json={"email": email, "password": password, "name": name}
            )
            if resp.status_code != 200:
                raise BetterAuthFixtureError(
                    f"sign-up of {email!r} failed: {resp.status_code} {resp.text}"
                )
            user_id = str(resp.json()["user"]["id"])
            # The session cookie set by sign-up is now in the client's jar.
            return user_id, self._fetch_token(client, email)

    def sign_in(self, email: str, password: str) -> tuple[str, str]:
        """Sign an existing user in and return ``(user_id, jwt)`` (a fresh JWT)."""
        with self._client() as client:
            resp = client.post("/sign-in/email", json={"email": email, "password": password})
            if resp.status_code != 200:
                raise BetterAuthFixtureError(
                    f"sign-in of {email!r} failed: {resp.status_code} {resp.text}"
                )
            user_id = str(resp.json()["user"]["id"])
            return user_id, self._fetch_token(client, email)

    @staticmethod
    def _fetch_token(client: httpx.Client, email: str) -> str:
        resp = client.get("/token")
        if resp.status_code != 200:
            raise BetterAuthFixtureError(
                f"GET /token for {email!r} failed: {resp.status_code} {resp.text}"
            )
        return str(resp.json()["token"])

    def jwks(self) -> dict[str, object]:
        """Fetch the JSON Web Key Set (creates the signing key on first call)."""
        resp = httpx.get(self.jwks_url, timeout=10.0)
        resp.raise_for_status()
        data: dict[str, object] = resp.json()
        return data


def _pump_lines(stream: IO[str], sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def run_better_auth(
    workdir: Path,
    *,
    node_project: Path = NODE_PROJECT_DIR,
    ready_timeout: float = READY_TIMEOUT_S,
) -> Iterator[BetterAuthServer]:
    """Start ``node server.mjs`` on a free loopback port with a fresh sqlite DB in ``workdir``.

    Yields once the server printed ``ready``; terminates (then kills) it on exit. Server
    stderr is written to ``workdir/better-auth-<port>.log``.
    """
    node = shutil.which("node")
    if node is None:
        raise BetterAuthFixtureError("node was not found on PATH; Node.js 20+ is required")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_path = workdir / f"better-auth-{port}-{secrets.token_hex(4)}.sqlite"
    log_path = workdir / f"better-auth-{port}.log"
    # Drop inherited Better Auth settings, and TEST / NODE_ENV=test: in test mode Better Auth
    # silently disables its Origin check, which would make the fixture less realistic.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BETTER_AUTH_") and key not in {"TEST", "NODE_ENV"}
    }
    env |= {
        "PORT": str(port),
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(48),
        "DB_PATH": str(db_path),
        "NODE_ENV": "development",
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [node, "server.mjs"],
            cwd=node_project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + ready_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BetterAuthFixtureError(
                    f"Better Auth server not ready within {ready_timeout:.0f} s; see {log_path}"
                )
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                process.wait(timeout=5)
                raise BetterAuthFixtureError(
                    f"Better Auth server exited with code {process.returncode} before ready:\n"
                    f"{log_path.read_text()[-4000:]}"
                )
            if line.strip() == "ready":
                break
        yield BetterAuthServer(base_url=f"http://127.0.0.1:{port}", process=process)
    finally:
        _stop(process)
