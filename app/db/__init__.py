"""Storage: table definitions, engines for SQLite and PostgreSQL, and migrations."""
