"""Integrations with other libraries (Temporal's `temporalio.contrib`)."""
