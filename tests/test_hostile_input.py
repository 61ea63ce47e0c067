"""Whatever a client sends, the answer is a success or a 4xx problem: never a 5xx."""

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import bearer, other_user

EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = ["title", "description", "completed", "priority", "tags", "due_date", "recurrence", "id"]

text = st.text(st.characters(codec="utf-8"), max_size=40)  # NUL and surrogates' neighbours too
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | text, json_values, max_size=6) | json_values
deep = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)


def assert_not_a_server_error(response) -> None:
    """A success, or a problem body. (Leak markers are not looked for: a 422 names the fields
    the client sent, whatever they are called.)"""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


async def first_task(client, user: str) -> int:
    created = await client.post(f"/api/{user}/tasks", json={"title": "x"}, headers=bearer(user))
    return created.json()["id"]


@EXAMPLES
@given(body=bodies)
async def test_any_json_body_on_any_write_is_answered_without_a_5xx(client, body):
    user = other_user()
    task_id = await first_task(client, user)
    raw = json.dumps(body)
    for method, path in [
        ("POST", f"/api/{user}/tasks"),
        ("PUT", f"/api/{user}/tasks/{task_id}"),
        ("PATCH", f"/api/{user}/tasks/{task_id}"),
        ("PATCH", f"/api/{user}/tasks/{task_id}/complete"),
    ]:
        response = await client.request(
            method,
            path,
            content=raw,
            headers=bearer(user) | {"Content-Type": "application/json"},
        )
        assert_not_a_server_error(response)


@EXAMPLES
@given(raw=st.binary(max_size=200) | deep.map(str.encode))
async def test_bytes_that_are_not_json_are_a_422(client, raw):
    user = other_user()
    response = await client.post(
        f"/api/{user}/tasks",
        content=raw,
        headers=bearer(user) | {"Content-Type": "application/json"},
    )
    assert_not_a_server_error(response)


QUERY_NAMES = [
    "status",
    "priority",
    "tag",
    "q",
    "due_before",
    "due_after",
    "sort",
    "order",
    "limit",
    "offset",
    "x",
]


@EXAMPLES
@given(params=st.lists(st.tuples(st.sampled_from(QUERY_NAMES), text), max_size=6))
async def test_any_query_string_on_the_list_is_answered_without_a_5xx(client, params):
    user = other_user()
    response = await client.get(f"/api/{user}/tasks", params=params, headers=bearer(user))
    assert_not_a_server_error(response)


@EXAMPLES
@given(segment=text.filter(lambda s: s not in ("", ".", "..")))
async def test_any_task_id_in_the_path_is_answered_without_a_5xx(client, segment):
    user = other_user()
    response = await client.get(
        f"/api/{user}/tasks/{quote(segment, safe='')}", headers=bearer(user)
    )
    assert_not_a_server_error(response)
