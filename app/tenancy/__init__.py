"""Tenants, their namespaces and their API keys."""
