"""The OpenAPI document: every operation named and documented, bearer auth, typed bodies."""

import pytest

from persistence.domain import RECURRENCE_MAX, TIME_ZONE_MAX


@pytest.fixture(scope="module")
async def openapi(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_operation_has_id_summary_and_documented_errors(openapi):
    operations = [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 15
    for path, method, operation in operations:
        assert operation.get("operationId"), (path, method)
        assert operation.get("summary"), (path, method)
        if path.startswith("/api/"):
            assert operation["security"] == [{"BearerToken": []}]
            assert {"401", "403"} <= operation["responses"].keys(), (path, method)
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"].endswith("/Problem")


async def test_openapi_declares_bearer_auth_and_typed_bodies(openapi):
    assert openapi["openapi"].startswith("3.1")
    assert openapi["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    schemas = openapi["components"]["schemas"]
    assert {"TaskView", "TaskStats", "CreateTask", "PatchTask", "Problem"} <= schemas.keys()
    assert set(schemas["CreateTask"]["required"]) == {"title"}
    create = openapi["paths"]["/api/{user_id}/tasks"]["post"]
    assert {"201", "413", "415", "422"} <= create["responses"].keys()


async def test_interactive_docs_are_served(client):
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("schema", ["CreateTask", "ReplaceTask", "TaskView"])
async def test_openapi_describes_time_zone_and_recurrence_with_examples(openapi, schema):
    properties = openapi["components"]["schemas"][schema]["properties"]
    time_zone, recurrence = properties["time_zone"], properties["recurrence"]

    assert (time_zone["maxLength"], recurrence["maxLength"]) == (TIME_ZONE_MAX, RECURRENCE_MAX)
    assert recurrence["pattern"] == "^(none|daily|weekly|monthly|yearly|RRULE:.+)$"
    assert "Europe/Berlin" in time_zone["examples"]
    assert "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH" in recurrence["examples"]
    assert "IANA" in time_zone["description"]
    assert "RFC 5545" in recurrence["description"]
