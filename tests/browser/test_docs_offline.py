"""The interactive docs at /schema render in a real browser that can reach nothing but the API:
their scripts and styles come from the API itself."""

import re

from service.app import create_app
from tests.browser.harness import OFFLINE_FLAGS, PUBLISH_RESULT_JS, dump_dom, run_page, serve_page
from tests.helpers import free_port, live_server

# Swagger UI renders each operation as a block naming its method and path.
OPERATION = re.compile(r'class="opblock opblock-(\w+)[^"]*".*?data-path="([^"]+)"', re.DOTALL)

REACH_THE_INTERNET = """<!doctype html><title>running</title><script>
__PUBLISH__
fetch("https://cdn.jsdelivr.net/npm/swagger-ui-dist/package.json")
  .then((response) => publishResult({reached: true, status: response.status}))
  .catch((error) => publishResult({reached: false, error: String(error)}));
</script>"""


def operations_rendered(dom: str) -> set[tuple[str, str]]:
    return {(method.upper(), path) for method, path in OPERATION.findall(dom)}


def test_the_docs_render_every_operation_with_no_internet_access(settings, engine):
    app = create_app(settings)
    documented = {
        (method.upper(), path)
        for path, item in app.openapi_schema.to_schema()["paths"].items()
        for method in item
    }
    with live_server(app) as api:
        dom = dump_dom(f"{api}/schema", flags=OFFLINE_FLAGS)
    assert operations_rendered(dom) == documented, dom[:3000]


def test_the_browser_in_that_test_cannot_reach_the_internet():
    page = REACH_THE_INTERNET.replace("__PUBLISH__", PUBLISH_RESULT_JS)
    with serve_page(page, host="127.0.0.1", port=free_port()) as url:
        result = run_page(url, flags=OFFLINE_FLAGS)
    assert result["reached"] is False, result
