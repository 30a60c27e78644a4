"""Stored workflow definitions in the Amazon States Language, run by the server's own decider."""
