"""The OpenAPI document as committed in `openapi.json`."""

from __future__ import annotations

import json
import tempfile

from app.server import create_server
from app.settings import Environment, Settings


def render_openapi() -> str:
    # Creating engines opens nothing, but SQLite needs a directory that exists.
    scratch = tempfile.mkdtemp(prefix="perdure-openapi-")
    # Development: no secret key is needed to describe the API.
    app = create_server(
        Settings(
            database_url=f"sqlite+aiosqlite:///{scratch}/unused.db",
            environment=Environment.DEVELOPMENT,
        )
    )
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
