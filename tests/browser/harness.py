"""Drive a real headless Chromium (Debian's ``chromium`` package) against pages served locally.

How it works: ``run_page`` starts ``chromium --headless --dump-dom --virtual-time-budget=...``.
Under a virtual-time budget Chromium pauses its virtual clock while network fetches are pending,
so it only serialises the DOM once the page's script has finished its real ``fetch`` calls and
is idle.  No WebDriver, DevTools client or extra Python package is involved; the only
requirement is ``apt-get install -y chromium``.

Page convention: when a page is done it writes a JSON object as the text of
``<pre id="result">`` and then sets ``document.title = "done"``.  ``PUBLISH_RESULT_JS`` defines
``publishResult(obj)``, which does exactly that.  ``run_page`` returns the parsed object, or
raises ``BrowserError`` (page did not publish, browser failed) or ``PageTimeoutError``.

The browser runs in its own process group with a fresh temporary ``--user-data-dir``; both the
process group and the directory are removed before ``run_page`` returns or raises.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import queue
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "CHROMIUM_FLAGS",
    "DONE_TITLE",
    "MISSING_CHROMIUM",
    "OFFLINE_FLAGS",
    "PUBLISH_RESULT_JS",
    "RESULT_ELEMENT_ID",
    "BrowserError",
    "Mailbox",
    "PageTimeoutError",
    "PortInUseError",
    "arun_page",
    "cors_probe_page",
    "dump_dom",
    "find_chromium",
    "run_page",
    "script_page",
    "serve_page",
]

DONE_TITLE = "done"
RESULT_ELEMENT_ID = "result"

# Flags every launch needs here: no sandbox (root), no GPU, and nothing that reaches the internet.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
)

# With these, a page can reach 127.0.0.1 and nothing else: every other host name or address
# resolves to nothing, and every connection that would still leave goes to a proxy on a port
# where nothing listens (Chromium never sends loopback traffic through a proxy).
OFFLINE_FLAGS: tuple[str, ...] = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)

MISSING_CHROMIUM = (
    "Chromium is not installed: `apt-get install -y chromium` (Debian's package; `.ci/run` "
    "installs it)"
)

PUBLISH_RESULT_JS = f"""
function publishResult(obj) {{
  let el = document.getElementById({json.dumps(RESULT_ELEMENT_ID)});
  if (el === null) {{
    el = document.createElement("pre");
    el.id = {json.dumps(RESULT_ELEMENT_ID)};
    document.body.appendChild(el);
  }}
  el.textContent = JSON.stringify(obj);
  document.title = {json.dumps(DONE_TITLE)};
}}
"""

_KILL_WAIT_SECONDS = 5.0


class BrowserError(RuntimeError):
    """Chromium could not be run, or the page did not publish a result."""


class PageTimeoutError(TimeoutError):
    """The page did not finish within the timeout; the browser was killed."""


class PortInUseError(RuntimeError):
    """The address that ``serve_page`` must serve on is already taken."""


# --------------------------------------------------------------------------- serving a page


class Mailbox:
    """How a page and the test talk while the page runs, through the page's own server.

    ``POST /report`` with a JSON body queues it, with the (monotonic) time it arrived, for the
    test's ``next_report``.  ``GET /token`` is first reported as ``{"what": "token"}``, then
    answered with the next text the test ``give``s (it waits for one).
    """

    def __init__(self, wait_seconds: float = 60) -> None:
        self.wait_seconds = wait_seconds
        self._reports: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._tokens: queue.Queue[str] = queue.Queue()

    def next_report(self, timeout: float = 30) -> tuple[float, dict[str, Any]]:
        """The next report and when it arrived; ``queue.Empty`` after ``timeout`` seconds."""
        return self._reports.get(timeout=timeout)

    def give(self, token: str) -> None:
        self._tokens.put(token)

    def _report(self, report: dict[str, Any]) -> None:
        self._reports.put((time.monotonic(), report))

    def _next_token(self) -> str:
        self._report({"what": "token"})
        return self._tokens.get(timeout=self.wait_seconds)


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        body: bytes,
        mailbox: Mailbox | None,
    ):
        self.address_family = family
        self.body = body
        self.mailbox = mailbox
        super().__init__(address, _PageHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS lookup (socket.getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        mailbox = self.server.mailbox
        if path == "/token" and mailbox is not None:
            self._answer("text/plain", mailbox._next_token().encode())
        elif path == "/":
            self._answer("text/html; charset=utf-8", self.server.body)
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        mailbox = self.server.mailbox
        if self.path != "/report" or mailbox is None:
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        mailbox._report(json.loads(self.rfile.read(length)))
        self._answer("text/plain", b"")

    def _answer(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _bind_addresses(host: str) -> list[tuple[str, socket.AddressFamily]]:
    """Where to listen so that ``http://<host>:<port>/`` reaches us.

    For ``localhost`` that is both loopback addresses: Chromium may try ``::1`` first, and
    another server already on ``[::1]:<port>`` would otherwise silently get the page load.
    """
    if host == "localhost":
        addresses = [("127.0.0.1", socket.AF_INET)]
        if socket.has_ipv6:
            addresses.append(("::1", socket.AF_INET6))
        return addresses
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return [(host.strip("[]"), family)]


@contextmanager
def serve_page(
    html: str, host: str = "localhost", port: int = 3000, mailbox: Mailbox | None = None
) -> Iterator[str]:
    """Serve ``html`` at ``http://<host>:<port>/`` from a background thread; yield that URL.
    With a ``mailbox``, the page can also report to the test and ask it for tokens.

    The page's origin is then exactly ``http://<host>:<port>`` (by default
    ``http://localhost:3000``, the Next.js app's origin).  Raises ``PortInUseError`` if the port
    is taken (for instance by a running dev server).
    """
    body = html.encode("utf-8")
    servers: list[_PageServer] = []
    threads: list[threading.Thread] = []
    try:
        for address, family in _bind_addresses(host):
            try:
                servers.append(_PageServer((address, port), family, body, mailbox))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(
                        f"cannot serve the test page on {address} port {port}: the port is in "
                        f"use (a dev server on :{port}?). The page must be served from exactly "
                        f"http://{host}:{port}; stop whatever listens there and retry."
                    ) from exc
                if family == socket.AF_INET6 and host == "localhost":
                    continue  # no IPv6 loopback on this machine: 127.0.0.1 alone is enough
                raise
        for server in servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"serve_page:{port}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        yield f"http://{url_host}:{port}/"
    finally:
        for server in servers[: len(threads)]:
            server.shutdown()
        for server in servers:
            server.server_close()
        for thread in threads:
            thread.join(timeout=_KILL_WAIT_SECONDS)


# --------------------------------------------------------------------------- running a page


def find_chromium() -> str | None:
    """Path of Debian's Chromium launcher, or None if it is not installed."""
    found = shutil.which("chromium")
    if found is not None:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class _ResultParser(HTMLParser):
    """Pull ``<title>`` and the text of ``<pre id="result">`` out of the dumped DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.result: str | None = None
        self._in_title = False
        self._result_depth = 0
        self._title_parts: list[str] = []
        self._result_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._result_depth:
            self._result_depth += 1
        elif tag == "title" and self.title is None:
            self._in_title = True
        elif self.result is None and ("id", RESULT_ELEMENT_ID) in attrs:
            self._result_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_title and tag == "title":
            self._in_title = False
            self.title = "".join(self._title_parts).strip()
        elif self._result_depth:
            self._result_depth -= 1
            if not self._result_depth:
                self.result = "".join(self._result_parts)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif self._result_depth:
            self._result_parts.append(data)


def _tail(text: str, lines: int = 15) -> str:
    """Last lines of Chromium's stderr, without its harmless complaints about missing D-Bus."""
    kept = [line for line in text.strip().splitlines() if "dbus/" not in line]
    return "\n".join(kept[-lines:]) or "(nothing but D-Bus noise)"


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the browser's whole process group (renderers, zygotes, crashpad) and reap it."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_KILL_WAIT_SECONDS)


def dump_dom(url: str, timeout: float = 30, flags: Sequence[str] = ()) -> str:
    """Open ``url`` in headless Chromium (with ``flags`` added to ``CHROMIUM_FLAGS``) and return
    the page's DOM once its scripts are idle.

    ``timeout`` (seconds) bounds the whole run, browser start included.  Raises
    ``PageTimeoutError`` when it passes (the browser is killed), and ``BrowserError`` when
    Chromium is missing or fails.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    chromium = find_chromium()
    if chromium is None:
        raise BrowserError(MISSING_CHROMIUM)
    # The virtual clock stands still while fetches are pending, so this budget only limits
    # timers; the wall-clock bound is `timeout` below.
    budget_ms = max(1, int(timeout * 1000))
    with tempfile.TemporaryDirectory(prefix="chromium-profile-", ignore_cleanup_errors=True) as d:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            *flags,
            f"--user-data-dir={d}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # own process group, so every child can be killed at once
        )
        try:
            try:
                dom, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise PageTimeoutError(
                    f"{url} did not finish within {timeout:g}s; the browser was killed"
                ) from None
        finally:
            _kill_group(proc)

    if proc.returncode != 0:
        raise BrowserError(
            f"chromium exited with status {proc.returncode} on {url}:\n{_tail(stderr)}"
        )
    return dom


def run_page(url: str, timeout: float = 30, flags: Sequence[str] = ()) -> dict[str, Any]:
    """Open ``url`` in headless Chromium and return the JSON object the page published.

    Raises what ``dump_dom`` raises, and ``BrowserError`` when the page never set
    ``document.title = "done"`` with a JSON object in ``<pre id="result">``.
    """
    dom = dump_dom(url, timeout, flags)
    parser = _ResultParser()
    parser.feed(dom)
    parser.close()
    if parser.title != DONE_TITLE or parser.result is None:
        raise BrowserError(
            f"{url} did not publish a result (title={parser.title!r}, "
            f"result element {'found' if parser.result is not None else 'missing'}).\n"
            f"DOM: {dom[:2000]}"
        )
    try:
        value = json.loads(parser.result)
    except json.JSONDecodeError as exc:
        raise BrowserError(f"{url} published invalid JSON: {parser.result[:2000]!r}") from exc
    if not isinstance(value, dict):
        raise BrowserError(f"{url} published {type(value).__name__}, not a JSON object")
    return value


async def arun_page(url: str, timeout: float = 30, flags: Sequence[str] = ()) -> dict[str, Any]:  # noqa: ASYNC109
    """``run_page`` for async tests: runs it in a worker thread so the event loop stays free.

    Use this when the API under test is served on the test's own event loop; calling the
    blocking ``run_page`` there would stall the server and end in ``PageTimeoutError``.
    """
    return await asyncio.to_thread(run_page, url, timeout, flags)


# --------------------------------------------------------------------------- the CORS probe page


def _script_json(value: object) -> str:
    """JSON that is safe to embed inside a ``<script>`` element."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


_PROBE_TEMPLATE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>running</title></head>
<body>
<pre id="result"></pre>
<script>
__PUBLISH__
const CFG = __CONFIG__;
(async () => {
  const out = {create_status: null, location: null, get_status: null, etag: null, error: null};
  const headers = {
    "Authorization": "Bearer " + CFG.token,
    "Content-Type": "application/json",
  };
  try {
    const created = await fetch(CFG.createUrl, {
      method: "POST",
      headers,
      body: JSON.stringify({title: "from the browser"}),
    });
    out.create_status = created.status;
    out.location = created.headers.get("Location");
    await created.text();
    if (out.location !== null) {
      const fetched = await fetch(new URL(out.location, CFG.apiBase).href, {headers});
      out.get_status = fetched.status;
      out.etag = fetched.headers.get("ETag");
      await fetched.text();
    }
  } catch (e) {
    out.error = String(e);
  } finally {
    publishResult(out);
  }
})();
</script>
</body>
</html>
"""


def cors_probe_page(api_base: str, token: str) -> str:
    """HTML of a page that exercises the API cross-origin the way the Next.js app does.

    With ``Authorization: Bearer <token>`` and ``Content-Type: application/json`` it POSTs
    ``{"title": "from the browser"}`` to ``<api_base>/api/me/tasks``, then (if the ``Location``
    header was readable) GETs that location resolved against ``api_base``.  It publishes
    ``{"create_status", "location", "get_status", "etag", "error"}``: statuses and header values
    exactly as JavaScript sees them (``null`` when CORS hides a header or a step did not run),
    and ``error`` as ``String(exception)``, e.g. ``"TypeError: Failed to fetch"`` when the
    browser blocks a request.
    """
    base = api_base.rstrip("/")
    config = {"apiBase": base + "/", "createUrl": f"{base}/api/me/tasks", "token": token}
    return _PROBE_TEMPLATE.replace("__PUBLISH__", PUBLISH_RESULT_JS.strip()).replace(
        "__CONFIG__", _script_json(config)
    )


# --------------------------------------------------------------------------- pages with a script


_SCRIPT_PAGE_TEMPLATE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>running</title></head>
<body>
<pre id="result"></pre>
<script>
__PUBLISH__
function report(obj) {
  return fetch("/report", {method: "POST", body: JSON.stringify(obj)});
}
const CFG = __CONFIG__;
__SCRIPT__
</script>
</body>
</html>
"""


def script_page(script: str, config: dict[str, Any]) -> str:
    """HTML of a page that runs ``script`` with ``CFG`` (``config``), ``publishResult(obj)`` and
    ``report(obj)`` (to a ``Mailbox``) defined."""
    return (
        _SCRIPT_PAGE_TEMPLATE.replace("__PUBLISH__", PUBLISH_RESULT_JS.strip())
        .replace("__CONFIG__", _script_json(config))
        .replace("__SCRIPT__", script)
    )
