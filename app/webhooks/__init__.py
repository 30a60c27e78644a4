"""Webhook activities: endpoints that receive activity tasks as signed HTTP POSTs, the loop
that delivers them, and the delivery log."""
