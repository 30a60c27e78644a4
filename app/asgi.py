"""ASGI entry point for `perdure serve` with several worker processes (uvicorn factory)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.app import create_app
from app.observability.logs import configure_logging
from app.settings import get_settings


def create() -> FastAPI:
    """The app of one `perdure serve` process, logging in the configured format."""
    configure_logging(get_settings())
    return create_app()
