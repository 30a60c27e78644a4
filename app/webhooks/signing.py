"""Standard Webhooks signatures: `whsec_` secrets and the `webhook-*` headers of a message."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_valid_secret(value: str) -> bool:
    if not value.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        return False
    return 24 <= len(key) <= 64


def signature_headers(
    message_id: str, sent_at: datetime, body: bytes, secrets_: list[str]
) -> dict[str, str]:
    """Headers of one message signed with every given secret (space-separated `v1,` values),
    so a receiver that knows either the old or the new secret accepts it during a rotation."""
    text = body.decode()
    at = sent_at.astimezone(UTC)
    signatures = [Webhook(secret).sign(message_id, at, text) for secret in secrets_]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
