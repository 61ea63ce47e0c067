"""Every task route over HTTP, with every status code the contract lists for it."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import SINGLE_TASK_ROUTES, assert_problem, error_fields, stats_body

MAX_BODY_BYTES = 64 * 1024
DEFAULTS = {
    "description": None,
    "completed": False,
    "completed_at": None,
    "priority": "medium",
    "tags": [],
    "due_date": None,
    "time_zone": "UTC",
    "recurrence": "none",
}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["items"]]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def after_a_write(task: dict, response_body: dict, **changes: object) -> dict:
    """`task` as one write that changed `changes` leaves it: its version one up, its
    `updated_at` whatever the server chose (`response_body` says; a test checks it moved)."""
    return {
        **task,
        **changes,
        "version": task["version"] + 1,
        "updated_at": response_body["updated_at"],
    }


# --- create and read ----------------------------------------------------------------------


async def test_post_creates_with_defaults_and_location(client, tasks_url, headers, user):
    response = await client.post(tasks_url, json={"title": "Buy milk"}, headers=headers)

    assert response.status_code == 201
    task = response.json()
    assert task == {
        "id": task["id"],
        "user_id": user,
        "title": "Buy milk",
        **DEFAULTS,
        "version": 1,
        "created_at": task["created_at"],
        "updated_at": task["updated_at"],
    }
    assert response.headers["location"] == f"{tasks_url}/{task['id']}"
    again = await client.get(response.headers["location"], headers=headers)
    assert again.status_code == 200
    assert again.json() == task


async def test_post_under_me_gives_a_location_that_resolves(client, user, headers):
    response = await client.post("/api/me/tasks", json={"title": "mine"}, headers=headers)

    assert response.status_code == 201
    task = response.json()
    assert task["user_id"] == user
    location = response.headers["location"]
    assert location.endswith(f"/tasks/{task['id']}")
    again = await client.get(location, headers=headers)
    assert again.status_code == 200
    assert again.json() == task


async def test_get_one_returns_the_task_with_its_version_as_etag(
    client, tasks_url, headers, create
):
    task = await create(title="read me", tags=["a"])

    response = await client.get(f"{tasks_url}/{task['id']}", headers=headers)

    assert response.status_code == 200
    assert response.json() == task
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("style", ["explicit", "me"])
async def test_every_route_works_under_explicit_id_and_me(client, user, headers, style):
    base = f"/api/{user if style == 'explicit' else 'me'}/tasks"

    created = await client.post(base, json={"title": "first"}, headers=headers)
    assert created.status_code == 201
    task_id = created.json()["id"]
    one = f"{base}/{task_id}"
    assert (await client.get(one, headers=headers)).json()["user_id"] == user
    assert (await client.patch(one, json={"priority": "high"}, headers=headers)).status_code == 200
    replaced = await client.put(one, json={"title": "second"}, headers=headers)
    assert replaced.json()["title"] == "second"
    completed = await client.patch(f"{one}/complete", headers=headers)
    assert completed.json()["completed"] is True
    assert ids(await client.get(base, headers=headers)) == [task_id]
    stats = await client.get(f"{base}/stats", headers=headers)
    assert stats.json()["completed"] == 1
    assert (await client.delete(one, headers=headers)).status_code == 204
    assert (await client.get(one, headers=headers)).status_code == 404


# --- replace and patch --------------------------------------------------------------------


async def test_put_resets_fields_left_out_and_bumps_version(client, tasks_url, headers, create):
    task = await create(
        title="full",
        description="text",
        priority="high",
        tags=["x"],
        due_date="2030-01-01T00:00:00Z",
        recurrence="weekly",
        completed=True,
    )

    response = await client.put(
        f"{tasks_url}/{task['id']}", json={"title": "bare"}, headers=headers
    )

    assert response.status_code == 200
    replaced = response.json()
    assert replaced == after_a_write(task, replaced, **DEFAULTS, title="bare")
    assert response.headers["etag"] == '"2"'
    assert utc(replaced["updated_at"]) > utc(task["updated_at"])


async def test_patch_changes_only_the_fields_sent(client, tasks_url, headers, create):
    task = await create(title="keep", description="keep too", tags=["a"], priority="low")

    response = await client.patch(
        f"{tasks_url}/{task['id']}", json={"priority": "high"}, headers=headers
    )

    assert response.status_code == 200
    patched = response.json()
    assert patched == after_a_write(task, patched, priority="high")
    assert response.headers["etag"] == '"2"'
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == patched


async def test_patch_null_clears_description_and_due_date(client, tasks_url, headers, create):
    task = await create(description="soon gone", due_date="2030-01-01T00:00:00Z")

    response = await client.patch(
        f"{tasks_url}/{task['id']}",
        json={"description": None, "due_date": None},
        headers=headers,
    )

    assert response.status_code == 200
    patched = response.json()
    assert patched == after_a_write(task, patched, description=None, due_date=None)


async def test_patch_accepts_merge_patch_content_type(client, tasks_url, headers, create):
    task = await create(title="before")

    response = await client.patch(
        f"{tasks_url}/{task['id']}",
        content=b'{"title": "after"}',
        headers={**headers, "Content-Type": "application/merge-patch+json"},
    )

    assert response.status_code == 200
    assert response.json()["title"] == "after"


# --- completion ---------------------------------------------------------------------------


async def test_complete_without_body_toggles(client, tasks_url, headers, create):
    task = await create()
    url = f"{tasks_url}/{task['id']}/complete"

    first = await client.patch(url, headers=headers)
    assert first.status_code == 200
    assert first.json()["completed"] is True
    assert first.json()["completed_at"] is not None
    assert first.json()["version"] == 2
    assert first.headers["etag"] == '"2"'

    second = await client.patch(url, headers=headers)
    assert second.status_code == 200
    assert second.json()["completed"] is False
    assert second.json()["completed_at"] is None
    assert second.json()["version"] == 3


@pytest.mark.parametrize("completed", [True, False])
async def test_complete_with_body_sets_instead_of_toggling(
    client, tasks_url, headers, create, completed
):
    task = await create(completed=completed)
    url = f"{tasks_url}/{task['id']}/complete"

    response = await client.patch(url, json={"completed": completed}, headers=headers)

    assert response.status_code == 200
    assert response.json()["completed"] is completed
    assert (response.json()["completed_at"] is not None) is completed
    flipped = await client.patch(url, json={"completed": not completed}, headers=headers)
    assert flipped.json()["completed"] is not completed


@pytest.mark.parametrize(
    ("recurrence", "time_zone", "due_date", "next_due_date"),
    [
        ("daily", "UTC", "2030-01-31T09:00:00Z", "2030-02-01T09:00:00Z"),
        ("weekly", "UTC", "2030-01-31T09:00:00Z", "2030-02-07T09:00:00Z"),
        ("monthly", "UTC", "2030-01-31T09:00:00Z", "2030-02-28T09:00:00Z"),
        ("yearly", "UTC", "2028-02-29T09:00:00Z", "2029-02-28T09:00:00Z"),
        # 09:00 local, before and after the clocks go forward (Berlin 2030-03-31, New York
        # 2030-03-10); the last Friday of February and of March 2030.
        ("daily", "Europe/Berlin", "2030-03-30T08:00:00Z", "2030-03-31T07:00:00Z"),
        (
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
            "America/New_York",
            "2030-02-22T14:00:00Z",
            "2030-03-29T13:00:00Z",
        ),
    ],
)
async def test_completing_a_recurring_task_lists_its_next_occurrence(
    client, tasks_url, headers, create, recurrence, time_zone, due_date, next_due_date
):
    task = await create(
        title="water plants",
        description="all of them",
        priority="high",
        tags=["home"],
        due_date=due_date,
        time_zone=time_zone,
        recurrence=recurrence,
    )

    done = await client.patch(f"{tasks_url}/{task['id']}/complete", headers=headers)

    assert done.json()["completed"] is True
    page = (await client.get(tasks_url, params={"status": "pending"}, headers=headers)).json()
    assert page["total"] == 1
    follow_up = page["items"][0]
    assert follow_up["id"] != task["id"]
    assert follow_up["due_date"] == next_due_date
    assert follow_up["completed"] is False
    same = ("title", "description", "priority", "tags", "time_zone", "recurrence")
    assert {name: follow_up[name] for name in same} == {name: task[name] for name in same}


async def test_creating_a_recurring_task_already_completed_lists_its_next_occurrence(
    client, tasks_url, headers, create
):
    task = await create(completed=True, due_date="2030-01-31T09:00:00Z", recurrence="weekly")

    page = (await client.get(tasks_url, params={"status": "pending"}, headers=headers)).json()
    assert [(item["id"] != task["id"], item["due_date"]) for item in page["items"]] == [
        (True, "2030-02-07T09:00:00Z")
    ]


@pytest.mark.parametrize(
    "fields",
    [{"recurrence": "daily"}, {"due_date": "2030-01-01T00:00:00Z"}],
    ids=["recurring-without-due-date", "due-date-without-recurrence"],
)
async def test_completing_a_task_that_does_not_recur_adds_nothing(
    client, tasks_url, headers, create, fields
):
    task = await create(**fields)

    await client.patch(f"{tasks_url}/{task['id']}/complete", headers=headers)

    assert ids(await client.get(tasks_url, headers=headers)) == [task["id"]]


async def test_completing_a_recurring_task_at_the_end_of_the_calendar_is_not_a_crash(
    client, tasks_url, headers, create
):
    task = await create(due_date="9999-12-31T12:00:00Z", recurrence="daily")

    response = await client.patch(f"{tasks_url}/{task['id']}/complete", headers=headers)

    assert response.status_code in {200, 422}, response.text
    if response.status_code == 422:
        assert_problem(response, 422)


# --- delete -------------------------------------------------------------------------------


async def test_delete_then_gone(client, tasks_url, headers, create):
    task = await create()
    url = f"{tasks_url}/{task['id']}"

    response = await client.delete(url, headers=headers)

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(url, headers=headers), 404)
    assert_problem(await client.delete(url, headers=headers), 404)
    assert ids(await client.get(tasks_url, headers=headers)) == []


# --- stats --------------------------------------------------------------------------------


async def test_stats_of_a_new_user_are_all_zero(client, tasks_url, headers):
    response = await client.get(f"{tasks_url}/stats", headers=headers)

    assert response.status_code == 200
    assert response.json() == stats_body()


async def test_stats_count_by_state_due_date_and_priority(client, tasks_url, headers, create):
    now = datetime.now(UTC)
    start_of_today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    long_ago = (now - timedelta(days=3)).isoformat()
    await create(priority="high", completed=True, due_date=long_ago)  # done: not overdue
    await create(priority="low", due_date=long_ago)  # overdue
    await create(priority="low", due_date=start_of_today.isoformat())  # due today, overdue too
    await create(due_date=(now + timedelta(days=3)).isoformat())  # later

    response = await client.get(f"{tasks_url}/stats", headers=headers)

    assert response.status_code == 200
    assert response.json() == stats_body(
        total=4, completed=1, pending=3, overdue=2, due_today=1, low=2, medium=1, high=1
    )


# --- list ---------------------------------------------------------------------------------


@pytest.fixture
async def seeded(create) -> dict[str, int]:
    """Three tasks, created oldest first: milk, report, call."""
    milk = await create(
        title="buy milk",
        description="2% fat",
        priority="high",
        tags=["home", "shopping"],
        due_date="2030-01-10T09:00:00Z",
    )
    report = await create(
        title="Write report",
        description="Quarterly numbers",
        priority="low",
        tags=["work"],
        due_date="2030-03-01T09:00:00Z",
        completed=True,
    )
    call = await create(title="Call mom", description="About the trip", tags=["home"])
    return {"milk": milk["id"], "report": report["id"], "call": call["id"]}


async def test_list_page_shape_and_defaults(client, tasks_url, headers, seeded):
    response = await client.get(tasks_url, headers=headers)

    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"items", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (3, 20, 0)
    assert [task["id"] for task in page["items"]] == [
        seeded["call"],
        seeded["report"],
        seeded["milk"],
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("status", "all")], ["call", "report", "milk"]),
        ([("status", "pending")], ["call", "milk"]),
        ([("status", "completed")], ["report"]),
        ([("priority", "high")], ["milk"]),
        ([("priority", "high"), ("priority", "low")], ["report", "milk"]),
        ([("tag", "home")], ["call", "milk"]),
        ([("tag", "home"), ("tag", "shopping")], ["milk"]),
        ([("tag", "work"), ("tag", "home")], []),
        ([("tag", " HOME ")], ["call", "milk"]),
        ([("q", "MILK")], ["milk"]),
        ([("q", "trip")], ["call"]),
        ([("q", "%")], ["milk"]),
        ([("q", "_")], []),
        ([("due_before", "2030-02-01T00:00:00Z")], ["milk"]),
        ([("due_after", "2030-02-01T00:00:00Z")], ["report"]),
        (
            [("due_after", "2030-01-01T00:00:00Z"), ("due_before", "2030-12-31T00:00:00Z")],
            ["report", "milk"],
        ),
        ([("due_before", "2030-01-10T10:30:00+01:00")], ["milk"]),
        ([("due_before", "2030-01-10T09:30:00+01:00")], []),
        ([("status", "pending"), ("tag", "home"), ("priority", "medium")], ["call"]),
    ],
)
async def test_list_filters(client, tasks_url, headers, seeded, params, expected):
    response = await client.get(tasks_url, params=params, headers=headers)

    assert ids(response) == [seeded[name] for name in expected]
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("sort", "created")], ["call", "report", "milk"]),
        ([("sort", "created"), ("order", "asc")], ["milk", "report", "call"]),
        ([("sort", "title")], ["milk", "call", "report"]),
        ([("sort", "title"), ("order", "desc")], ["report", "call", "milk"]),
        ([("sort", "priority")], ["milk", "call", "report"]),
        ([("sort", "priority"), ("order", "asc")], ["report", "call", "milk"]),
        ([("sort", "due_date")], ["milk", "report", "call"]),
        ([("sort", "due_date"), ("order", "desc")], ["report", "milk", "call"]),
    ],
)
async def test_list_sorts(client, tasks_url, headers, seeded, params, expected):
    response = await client.get(tasks_url, params=params, headers=headers)

    assert ids(response) == [seeded[name] for name in expected]


async def test_list_sorts_by_updated_newest_first(client, tasks_url, headers, seeded):
    await client.patch(f"{tasks_url}/{seeded['milk']}", json={"title": "oat"}, headers=headers)

    response = await client.get(tasks_url, params={"sort": "updated"}, headers=headers)

    assert ids(response)[0] == seeded["milk"]


async def test_list_pages_cover_every_task_once(client, tasks_url, headers, seeded):
    pages = []
    for offset in (0, 2, 4):
        params = {"sort": "created", "order": "asc", "limit": 2, "offset": offset}
        response = await client.get(tasks_url, params=params, headers=headers)
        page = response.json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 2, offset)
        pages.append(ids(response))

    assert pages == [[seeded["milk"], seeded["report"]], [seeded["call"]], []]


# --- 404 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"), SINGLE_TASK_ROUTES.values(), ids=SINGLE_TASK_ROUTES.keys()
)
@pytest.mark.parametrize("task_id", ["9223372036854775807", "0", "-1", "9" * 30, "abc", "1.5"])
async def test_unknown_task_id_is_404(client, tasks_url, headers, method, suffix, body, task_id):
    response = await client.request(
        method, f"{tasks_url}/{task_id}{suffix}", json=body, headers=headers
    )

    assert_problem(response, 404)


@pytest.mark.parametrize(
    "spell",
    [
        lambda n: f"0_{n}",
        lambda n: f"+{n}",
        lambda n: f"%20{n}",
        lambda n: "".join(chr(0x0660 + int(d)) for d in str(n)),  # Arabic-Indic digits
        lambda n: "".join(chr(0xFF10 + int(d)) for d in str(n)),  # fullwidth digits
    ],
    ids=["underscore", "plus-sign", "leading-space", "arabic-indic", "fullwidth"],
)
async def test_task_id_that_is_not_plain_digits_is_404(client, tasks_url, headers, create, spell):
    task = await create()

    response = await client.get(f"{tasks_url}/{spell(task['id'])}", headers=headers)

    assert_problem(response, 404)


@pytest.mark.parametrize(
    "path", ["/nope", "/api", "/api/{user}/nope", "/api/{user}/tasks/1/nope", "/api/{user}"]
)
async def test_unknown_route_is_404(client, headers, user, path):
    response = await client.get(path.format(user=user), headers=headers)

    assert_problem(response, 404)


# --- 405 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("DELETE", ""),
        ("PUT", ""),
        ("PATCH", ""),
        ("POST", "/{id}"),
        ("GET", "/{id}/complete"),
        ("POST", "/stats"),
        ("DELETE", "/stats"),
    ],
)
async def test_method_not_allowed_is_405(client, tasks_url, headers, create, method, suffix):
    task = await create()

    response = await client.request(
        method, tasks_url + suffix.format(id=task["id"]), json={"title": "x"}, headers=headers
    )

    assert_problem(response, 405)
    assert ids(await client.get(tasks_url, headers=headers)) == [task["id"]]


# --- 413 ----------------------------------------------------------------------------------


def json_body_of(size: int) -> bytes:
    body = b'{"title": "' + b"a" * (size - len(b'{"title": ""}')) + b'"}'
    assert len(body) == size
    return body


@pytest.mark.parametrize(("method", "on_task"), [("POST", False), ("PUT", True), ("PATCH", True)])
async def test_body_over_64_kib_is_413(client, tasks_url, headers, create, method, on_task):
    task = await create(title="small")
    url = f"{tasks_url}/{task['id']}" if on_task else tasks_url

    response = await client.request(
        method,
        url,
        content=json_body_of(MAX_BODY_BYTES + 1),
        headers={**headers, "Content-Type": "application/json"},
    )

    assert_problem(response, 413)
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


async def test_body_of_exactly_64_kib_is_read(client, tasks_url, headers):
    response = await client.post(
        tasks_url,
        content=json_body_of(MAX_BODY_BYTES),
        headers={**headers, "Content-Type": "application/json"},
    )

    assert error_fields(response) == ["title"]  # read and judged, not refused for its size


# --- 415 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "content_type", "content"),
    [
        ("POST", "", "text/plain", b'{"title": "x"}'),
        ("POST", "", "application/x-www-form-urlencoded", b"title=x"),
        ("POST", "", None, b'{"title": "x"}'),
        ("PUT", "/{id}", "text/plain", b'{"title": "x"}'),
        ("PATCH", "/{id}", "application/x-www-form-urlencoded", b"title=x"),
        ("PATCH", "/{id}/complete", "text/plain", b"true"),
    ],
)
async def test_body_that_is_not_json_is_415(
    client, tasks_url, headers, create, method, suffix, content_type, content
):
    task = await create(title="untouched")
    request_headers = dict(headers)
    if content_type:
        request_headers["Content-Type"] = content_type

    response = await client.request(
        method, tasks_url + suffix.format(id=task["id"]), content=content, headers=request_headers
    )

    assert_problem(response, 415)
    assert ids(await client.get(tasks_url, headers=headers)) == [task["id"]]
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


async def test_complete_with_no_body_and_no_content_type_is_fine(
    client, tasks_url, headers, create
):
    task = await create()

    response = await client.patch(f"{tasks_url}/{task['id']}/complete", headers=headers)

    assert "content-type" not in response.request.headers
    assert response.status_code == 200
    assert response.json()["completed"] is True


# --- 422: bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"title": "a",}',
        b"{'title': 'a'}",
        b"",
        b"[]",
        b'[{"title": "a"}]',
        b'"a task"',
        b"42",
        b"null",
        b'{"title": "\xff"}',
    ],
    ids=[
        "truncated",
        "trailing-comma",
        "single-quotes",
        "empty",
        "empty-array",
        "array",
        "string",
        "number",
        "null",
        "invalid-utf8",
    ],
)
async def test_post_body_that_is_not_a_json_object_is_422(client, tasks_url, headers, content):
    response = await client.post(
        tasks_url, content=content, headers={**headers, "Content-Type": "application/json"}
    )

    assert error_fields(response) == ["body"]
    assert ids(await client.get(tasks_url, headers=headers)) == []


@pytest.mark.parametrize("suffix", ["", "/complete"])
@pytest.mark.parametrize(
    "content", [b"{", b"1[", b"[]"], ids=["malformed", "malformed-after-a-value", "array"]
)
async def test_patch_body_that_is_not_a_json_object_is_422(
    client, tasks_url, headers, create, suffix, content
):
    task = await create()

    response = await client.patch(
        f"{tasks_url}/{task['id']}{suffix}",
        content=content,
        headers={**headers, "Content-Type": "application/json"},
    )

    assert error_fields(response) == ["body"]
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


# --- 422: query parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": ""}, "status"),
        ({"priority": "urgent"}, "priority"),
        ([("priority", "low"), ("priority", "urgent")], "priority"),
        ({"sort": "nope"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"due_before": "not-a-date"}, "due_before"),
        ({"due_before": "1900000000"}, "due_before"),  # not read as a Unix timestamp
        ({"tag": " "}, "tag"),
        ({"due_after": "2030-13-01T00:00:00Z"}, "due_after"),
        ({"due_before": "2030-01-01T00:00:00"}, "due_before"),
        ({"due_after": "2030-01-01T00:00:00"}, "due_after"),
    ],
)
async def test_bad_query_parameter_is_422_naming_it(client, tasks_url, headers, params, field):
    response = await client.get(tasks_url, params=params, headers=headers)

    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "a\x00b"}, "q"),
        ({"tag": "a\x00b"}, "tag"),
        ({"due_before": "9999-12-31T23:59:59-01:00"}, "due_before"),
    ],
    ids=["nul-in-q", "nul-in-tag", "date-past-year-9999-in-utc"],
)
async def test_query_value_the_database_cannot_hold_is_422_not_500(
    client, tasks_url, headers, params, field
):
    response = await client.get(tasks_url, params=params, headers=headers)

    assert error_fields(response) == [field]


async def test_limit_and_offset_bounds_are_accepted(client, tasks_url, headers, create):
    await create()

    for params in ({"limit": 1}, {"limit": 100}, {"offset": 0}):
        response = await client.get(tasks_url, params=params, headers=headers)
        assert response.status_code == 200, (params, response.text)
        assert response.json()["total"] == 1


async def test_fetching_the_openapi_document_does_not_change_validation(client, tasks_url, headers):
    assert (await client.get("/schema/openapi.json")).status_code == 200
    response = await client.get(f"{tasks_url}?limit=0", headers=headers)
    assert error_fields(response) == ["limit"]
