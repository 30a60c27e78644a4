"""ASGI entry point for `perdure serve` with several worker processes (uvicorn factory)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.app import create_app


def create() -> FastAPI:
    return create_app()
