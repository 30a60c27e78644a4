"""Schedules (Temporal's): start a workflow at the times a spec names, each nominal time at most
once, fired by the engine's deadline table."""
