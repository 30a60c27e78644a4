"""Alembic migration chain; one chain for SQLite and PostgreSQL (batch mode on SQLite)."""
