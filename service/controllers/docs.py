"""`/`: a person who opens the API's address in a browser lands on its interactive docs."""

from litestar import get
from litestar.response import Redirect

from service.openapi import DOCS_PATH


@get("/", include_in_schema=False, sync_to_thread=False)
def to_the_docs() -> Redirect:
    return Redirect(DOCS_PATH)
