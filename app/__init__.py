"""Perdure: a REST-first, multi-tenant durable-execution service."""

__version__ = "0.1.0"
