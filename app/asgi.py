"""ASGI entry point for `perdure serve` (a uvicorn factory): the server app/server.py builds."""

from __future__ import annotations

from fastapi import FastAPI

from app.observability.logs import configure_logging
from app.server import create_server
from app.settings import get_settings


def create() -> FastAPI:
    """The app of one `perdure serve` process, logging in the configured format."""
    configure_logging(get_settings())
    return create_server()
