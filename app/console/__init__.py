"""The web console: server-rendered pages at /console over the engine and tenancy functions."""
