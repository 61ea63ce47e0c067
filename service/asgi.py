"""The ASGI application built from the environment: `uvicorn service.asgi:app`, and what
`taskapi` preloads. Importing it once means the CLI and the server share one app."""

from service.app import create_app

app = create_app()
