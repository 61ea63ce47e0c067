"""The Task field rules, one by one, at each boundary and one step past it."""

import pytest

from tests.helpers import error_fields

SERVER_OWNED = {
    "id": 1,
    "user_id": "someone-else",
    "created_at": "2030-01-01T00:00:00Z",
    "updated_at": "2030-01-01T00:00:00Z",
    "completed_at": "2030-01-01T00:00:00Z",
    "version": 7,
}


@pytest.fixture
def post(client, tasks_url, headers):
    async def post(**fields: object):
        return await client.post(tasks_url, json=fields, headers=headers)

    return post


@pytest.fixture
def write(client, tasks_url, headers, create):
    """Send `fields` with POST, PUT or PATCH (the latter two to a fresh task)."""

    async def write(method: str, **fields: object):
        if method == "POST":
            return await client.post(tasks_url, json=fields, headers=headers)
        task = await create(title="original")
        return await client.request(
            method, f"{tasks_url}/{task['id']}", json=fields, headers=headers
        )

    return write


@pytest.fixture
def listed(client, tasks_url, headers):
    async def listed() -> list[dict]:
        response = await client.get(tasks_url, headers=headers)
        assert response.status_code == 200
        return response.json()["items"]

    return listed


# --- title --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("a", "a"),
        ("t" * 200, "t" * 200),
        ("   " + "t" * 200 + "  \t", "t" * 200),
        ("  a  ", "a"),
        ("é" * 200, "é" * 200),
    ],
    ids=["1-char", "200-chars", "200-chars-padded", "1-char-padded", "200-non-ascii"],
)
async def test_title_within_limits_is_stored_trimmed(post, sent, stored):
    response = await post(title=sent)

    assert response.status_code == 201, response.text
    assert response.json()["title"] == stored


@pytest.mark.parametrize(
    "title",
    ["", " ", " \t\n ", "t" * 201, " " + "t" * 201 + " ", 5, ["a"], "a\x00b"],
    ids=["empty", "space", "whitespace", "201-chars", "201-padded", "number", "list", "nul"],
)
async def test_bad_title_is_rejected_on_post(post, listed, title):
    assert error_fields(await post(title=title)) == ["title"]
    assert await listed() == []


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "title", ["", "   ", "t" * 201, None], ids=["empty", "whitespace", "201-chars", "null"]
)
async def test_bad_title_is_rejected_on_update(write, listed, method, title):
    assert error_fields(await write(method, title=title)) == ["title"]
    [task] = await listed()
    assert (task["title"], task["version"]) == ("original", 1)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_title_is_trimmed_on_update(write, method):
    response = await write(method, title="  " + "u" * 200 + " ")

    assert response.status_code == 200, response.text
    assert response.json()["title"] == "u" * 200


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_missing_title_is_422_naming_title(write, listed, method):
    assert error_fields(await write(method, description="no title")) == ["title"]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


# --- description --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("description", ["d", "d" * 1000, "é" * 1000, None])
async def test_description_up_to_1000_or_null_is_accepted(write, method, description):
    fields = {"description": description}
    if method != "PATCH":
        fields["title"] = "t"

    response = await write(method, **fields)

    assert response.status_code == (201 if method == "POST" else 200), response.text
    assert response.json()["description"] == description


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize(
    "description", ["d" * 1001, 42, "a\x00b"], ids=["1001-chars", "number", "nul"]
)
async def test_bad_description_is_rejected(write, listed, method, description):
    response = await write(method, title="changed", description=description)

    assert error_fields(response) == ["description"]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


# --- tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ([], []),
        ([f"tag{n}" for n in range(10)], [f"tag{n}" for n in range(10)]),
        (["t" * 32], ["t" * 32]),
        (["  " + "T" * 32 + " "], ["t" * 32]),
        (["  Work ", "WORK", "home", "work"], ["work", "home"]),
    ],
    ids=["none", "10-tags", "32-chars", "32-chars-padded", "trimmed-lowered-deduplicated"],
)
async def test_tags_are_normalised(post, sent, stored):
    response = await post(title="t", tags=sent)

    assert response.status_code == 201, response.text
    assert response.json()["tags"] == stored


async def test_tags_are_normalised_on_patch(client, tasks_url, headers, create):
    task = await create(tags=["old"])

    response = await client.patch(
        f"{tasks_url}/{task['id']}", json={"tags": [" New", "NEW", "x"]}, headers=headers
    )

    assert response.status_code == 200
    assert response.json()["tags"] == ["new", "x"]


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        ([f"tag{n}" for n in range(11)], "tags"),
        (["t" * 33], "tags"),
        (["  " + "t" * 33 + "  "], "tags"),
        ([""], "tags"),
        (["ok", "   "], "tags"),
        (["a\x00b"], "tags"),
        ("home", "tags"),
        (None, "tags"),
        ([1], "tags[0]"),
        (["ok", None], "tags[1]"),
    ],
    ids=[
        "11-tags",
        "33-chars",
        "33-chars-padded",
        "empty",
        "blank",
        "nul",
        "not-a-list",
        "null",
        "number-item",
        "null-item",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_bad_tags_are_rejected(write, listed, method, tags, field):
    response = await write(method, title="changed", tags=tags)

    assert error_fields(response) == [field]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


# --- priority, recurrence and time zone ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", "low"),
        ("priority", "medium"),
        ("priority", "high"),
        ("recurrence", "none"),
        ("recurrence", "daily"),
        ("recurrence", "weekly"),
        ("recurrence", "monthly"),
        ("recurrence", "yearly"),
        ("recurrence", "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
        ("recurrence", "RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20301231T235959Z"),
        ("recurrence", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;COUNT=5"),
        ("recurrence", "RRULE:FREQ=DAILY;BYMONTHDAY=" + "1," * 85 + "10"),  # 200 characters
        ("time_zone", "UTC"),
        ("time_zone", "Europe/Berlin"),
        ("time_zone", "America/Argentina/Buenos_Aires"),
    ],
)
async def test_each_allowed_choice_is_accepted(post, field, value):
    response = await post(title="t", **{field: value})

    assert response.status_code == 201, response.text
    assert response.json()[field] == value


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", "urgent"),
        ("priority", "HIGH"),
        ("priority", ""),
        ("priority", 1),
        ("priority", None),
        ("recurrence", "hourly"),
        ("recurrence", "Daily"),
        ("recurrence", None),
        ("recurrence", "rrule:FREQ=DAILY"),
        ("recurrence", "RRULE:FREQ=HOURLY"),
        ("recurrence", "RRULE:FREQ=DAILY;BYSETPOS=1"),
        ("recurrence", "RRULE:FREQ=DAILY;COUNT=0"),
        ("recurrence", "RRULE:FREQ=DAILY;BYMONTHDAY=" + "1," * 85 + "1,1"),  # 201 characters
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "europe/berlin"),
        ("time_zone", ""),
        ("time_zone", None),
        ("time_zone", "+02:00"),
        ("time_zone", "A" * 65),
    ],
)
async def test_other_choices_are_rejected(write, listed, method, field, value):
    response = await write(method, title="changed", **{field: value})

    assert error_fields(response) == [field]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("RRULE:FREQ=SECONDLY", "FREQ=SECONDLY"),
        ("RRULE:FREQ=WEEKLY;WKST=SU", "WKST"),
        ("RRULE:FREQ=WEEKLY;BYDAY=2MO", "BYDAY"),
        ("RRULE:FREQ=DAILY;COUNT=2;UNTIL=20300101", "COUNT and UNTIL"),
    ],
)
async def test_a_rejected_rule_names_the_part_not_supported(post, rule, named):
    response = await post(title="t", recurrence=rule)

    assert error_fields(response) == ["recurrence"]
    assert named in response.json()["errors"][0]["message"]


async def test_every_bad_field_is_named_with_a_bad_rule(post):
    response = await post(title="", time_zone="Nowhere", recurrence="RRULE:FREQ=HOURLY")

    assert sorted(error_fields(response)) == ["recurrence", "time_zone", "title"]


# --- due_date -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2030-01-01T10:00:00+02:00", "2030-01-01T08:00:00Z"),
        ("2030-01-01T23:30:00-05:00", "2030-01-02T04:30:00Z"),
        ("2030-01-01T08:00:00Z", "2030-01-01T08:00:00Z"),
        ("2030-01-01T08:00:00.250+00:00", "2030-01-01T08:00:00.250000Z"),
        (None, None),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_due_date_comes_back_in_utc(write, method, sent, stored):
    response = await write(method, title="t", due_date=sent)

    assert response.status_code == (201 if method == "POST" else 200), response.text
    assert response.json()["due_date"] == stored


@pytest.mark.parametrize(
    "due_date",
    [
        "2030-01-01T10:00:00",
        "2030-01-01",
        "tomorrow",
        "2030-02-30T10:00:00Z",
        "",
        0,
        1_900_000_000,
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:30:00+01:00",
    ],
    ids=[
        "naive",
        "date-only",
        "words",
        "no-such-day",
        "empty",
        "number-zero",
        "unix-timestamp",
        "past-9999-in-utc",
        "before-year-1-in-utc",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_bad_due_date_is_rejected(write, listed, method, due_date):
    response = await write(method, title="changed", due_date=due_date)

    assert error_fields(response) == ["due_date"]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


# --- completed ----------------------------------------------------------------------------


@pytest.mark.parametrize("completed", [True, False])
async def test_completed_takes_a_boolean(post, completed):
    response = await post(title="t", completed=completed)

    assert response.status_code == 201, response.text
    assert response.json()["completed"] is completed
    assert (response.json()["completed_at"] is not None) is completed


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("completed", ["yes", "true", 1, 0, None, [True]])
async def test_completed_that_is_not_a_boolean_is_rejected(write, listed, method, completed):
    response = await write(method, title="changed", completed=completed)

    assert error_fields(response) == ["completed"]
    tasks = await listed()
    assert [task["title"] for task in tasks] == ([] if method == "POST" else ["original"])
    assert [task["completed"] for task in tasks] == ([] if method == "POST" else [False])


@pytest.mark.parametrize("completed", ["true", 1, None, "yes"])
async def test_complete_route_body_that_is_not_a_boolean_is_rejected(
    client, tasks_url, headers, create, completed
):
    task = await create()

    response = await client.patch(
        f"{tasks_url}/{task['id']}/complete", json={"completed": completed}, headers=headers
    )

    assert error_fields(response) == ["completed"]
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


# --- fields the client may not send -------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("field", list(SERVER_OWNED))
async def test_server_owned_field_in_body_is_422_naming_it(write, listed, method, field):
    response = await write(method, title="changed", **{field: SERVER_OWNED[field]})

    assert error_fields(response) == [field]
    tasks = await listed()
    assert [task["title"] for task in tasks] == ([] if method == "POST" else ["original"])
    assert [task["version"] for task in tasks] == ([] if method == "POST" else [1])


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("field", ["colour", "Title", "owner"])
async def test_unknown_field_is_422_naming_it(write, listed, method, field):
    response = await write(method, title="changed", **{field: "x"})

    assert error_fields(response) == [field]
    assert [task["title"] for task in await listed()] == ([] if method == "POST" else ["original"])


async def test_unknown_field_on_complete_route_is_422_naming_it(client, tasks_url, headers, create):
    task = await create()

    response = await client.patch(
        f"{tasks_url}/{task['id']}/complete", json={"done": True}, headers=headers
    )

    assert error_fields(response) == ["done"]


# --- rejected requests write nothing ------------------------------------------------------


async def test_a_burst_of_rejected_posts_leaves_the_list_empty(client, tasks_url, headers, listed):
    for body in (
        {},
        {"title": ""},
        {"title": "t", "tags": ["x"] * 11},
        {"title": "t", "priority": "urgent"},
        {"title": "t", "due_date": "2030-01-01T00:00:00"},
        {"title": "t", "id": 1},
    ):
        response = await client.post(tasks_url, json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)

    assert await listed() == []
    stats = await client.get(f"{tasks_url}/stats", headers=headers)
    assert stats.json()["total"] == 0


async def test_rejected_patch_leaves_every_field_unchanged(client, tasks_url, headers, create):
    task = await create(title="keep", tags=["a"], priority="low")

    response = await client.patch(
        f"{tasks_url}/{task['id']}",
        json={"title": "changed", "priority": "high", "tags": ["t" * 33]},
        headers=headers,
    )

    assert error_fields(response) == ["tags"]
    assert (await client.get(f"{tasks_url}/{task['id']}", headers=headers)).json() == task


@pytest.mark.parametrize(
    ("method", "body", "fields"),
    [
        ("POST", {"title": " ", "priority": "urgent"}, {"title", "priority"}),
        ("POST", {"id": 1, "version": 2, "title": 5}, {"id", "version", "title"}),
        ("POST", {"priority": "urgent", "tags": ["ok", 3]}, {"title", "priority", "tags[1]"}),
        ("PUT", {"title": "x" * 201, "due_date": "2030-01-01T00:00:00"}, {"title", "due_date"}),
        (
            "PATCH",
            {"title": None, "completed": "yes", "tags": [" "]},
            {"title", "completed", "tags"},
        ),
    ],
)
async def test_every_bad_field_is_named_at_once(
    client, create, tasks_url, headers, method, body, fields
):
    url = tasks_url if method == "POST" else f"{tasks_url}/{(await create())['id']}"
    response = await client.request(method, url, json=body, headers=headers)
    assert set(error_fields(response)) == fields
