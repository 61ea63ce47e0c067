"""Live updates in a real browser: `EventSource` pages on the allowed origin, the token in the
query string, as the Next.js app would hold them."""

import asyncio
import re
import time

import httpx

from service.app import create_app
from tests.browser.harness import Mailbox, arun_page, find_chromium, script_page, serve_page
from tests.helpers import PROJECT_ROOT, bearer, live_server, make_token

WITHIN = 1.0  # seconds from a write's answer to the pages hearing of it, as the contract says


def require_chromium() -> None:
    assert find_chromium() is not None, "Chromium is missing: apt-get install -y chromium"


def readme_snippet() -> str:
    """The README's `watchTasks`, as a plain script."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    snippet = re.search(r"```js\n(.*?export function watchTasks.*?)```", readme, re.DOTALL)
    assert snippet, "the README has no watchTasks snippet"
    return snippet.group(1).replace("export function", "function")


# Reports when it is connected and each change it hears; publishes them all once it has heard
# of the task titled CFG.last.
LISTENING_PAGE = """
const name = new URLSearchParams(location.search).get("name");
const query = new URLSearchParams({access_token: CFG.token});
const source = new EventSource(`${CFG.api}/api/me/events?${query}`);
const seen = [];
source.addEventListener("open", () => report({what: "open", name}));
source.addEventListener("change", (event) => {
  const change = JSON.parse(event.data);
  seen.push(change);
  report({what: "change", name, id: change.id});
  if (change.task && change.task.title === CFG.last) {
    source.close();
    publishResult({seen});
  }
});
"""

# The README snippet, with tokens from the test: publishes every change it heard once it has
# heard of the task titled CFG.last.
README_PAGE = """
__SNIPPET__
const seen = [];
const stop = watchTasks(CFG.api, async () => (await fetch("/token")).text(), (change) => {
  seen.push(change);
  report({what: "change", op: change.op, id: change.id});
  if (change.task && change.task.title === CFG.last) {
    stop();
    publishResult({seen});
  }
});
"""


def next_report(mailbox: Mailbox, what: str) -> tuple[float, dict]:
    while True:
        arrived, report = mailbox.next_report(timeout=60)
        if report["what"] == what:
            return arrived, report


async def test_a_task_created_through_the_api_appears_in_two_pages_within_a_second(
    settings, engine, user
):
    require_chromium()
    mailbox = Mailbox()
    with live_server(create_app(settings)) as api:
        config = {"api": api, "token": make_token(user), "last": "seen everywhere"}
        with serve_page(script_page(LISTENING_PAGE, config), mailbox=mailbox) as page:
            pages = [asyncio.create_task(arun_page(f"{page}?name={n}", 60)) for n in "ab"]
            opened = {(await asyncio.to_thread(next_report, mailbox, "open"))[1]["name"]}
            opened.add((await asyncio.to_thread(next_report, mailbox, "open"))[1]["name"])
            assert opened == {"a", "b"}
            async with httpx.AsyncClient() as http:
                created = await http.post(
                    f"{api}/api/me/tasks", json={"title": config["last"]}, headers=bearer(user)
                )
            answered = time.monotonic()
            heard = [await asyncio.to_thread(next_report, mailbox, "change") for _ in "ab"]
            results = await asyncio.gather(*pages)
    task = created.json()
    assert {report["name"] for _, report in heard} == {"a", "b"}
    delays = [arrived - answered for arrived, _ in heard]
    assert max(delays) < WITHIN, delays
    print("from the write's answer to each page:", [f"{delay * 1000:.0f} ms" for delay in delays])
    for result in results:
        assert result["seen"] == [{"op": "upsert", "id": task["id"], "task": task}]


async def test_the_readme_snippet_catches_up_after_its_token_expires(settings, engine, user):
    require_chromium()
    mailbox = Mailbox()
    headers = bearer(user)
    with live_server(create_app(settings)) as api:
        async with httpx.AsyncClient(base_url=api) as http:

            async def write(method: str, path: str = "", **body: object) -> dict:
                response = await http.request(
                    method, f"/api/me/tasks{path}", json=body or None, headers=headers
                )
                assert response.status_code in {200, 201, 204}, response.text
                return response.json() if response.content else {}

            first, second = await write("POST", title="a"), await write("POST", title="b")
            config = {"api": api, "last": "caught up"}
            html = script_page(README_PAGE.replace("__SNIPPET__", readme_snippet()), config)
            with serve_page(html, mailbox=mailbox) as page:
                browsing = asyncio.create_task(arun_page(page, 90))
                await asyncio.to_thread(next_report, mailbox, "token")
                mailbox.give(make_token(user, ttl=4))  # ends the first stream in 4 seconds
                heard = [await asyncio.to_thread(next_report, mailbox, "change") for _ in "ab"]
                # Reports reach the test by separate requests, in any order; the order the
                # page saw them in is checked on `seen` below.
                assert sorted(report["id"] for _, report in heard) == [first["id"], second["id"]]

                # The stream ended, the browser's own retry was refused: it asks for a token.
                await asyncio.to_thread(next_report, mailbox, "token")
                await write("PATCH", f"/{first['id']}", title="A")
                await write("DELETE", f"/{second['id']}")
                last = await write("POST", title=config["last"])
                mailbox.give(make_token(user))
                result = await browsing
    assert [(change["op"], change["id"]) for change in result["seen"]] == [
        ("upsert", first["id"]),
        ("upsert", second["id"]),
        ("upsert", first["id"]),
        ("delete", second["id"]),
        ("upsert", last["id"]),
    ]
    assert result["seen"][2]["task"]["title"] == "A"
