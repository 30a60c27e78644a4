"""The OpenAPI document as committed in `openapi.json`."""

from __future__ import annotations

import json

from app.api.app import create_app
from app.settings import Settings


def render_openapi() -> str:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
