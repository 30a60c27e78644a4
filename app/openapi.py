"""The OpenAPI document as committed in `openapi.json`."""

from __future__ import annotations

import json
import tempfile

from app.api.app import create_app
from app.settings import Settings


def render_openapi() -> str:
    # Creating engines opens nothing, but SQLite needs a directory that exists.
    scratch = tempfile.mkdtemp(prefix="perdure-openapi-")
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{scratch}/unused.db"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
