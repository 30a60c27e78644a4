"""Limits between tenants at the API edge: fair admission, request rates, long-poll caps."""
