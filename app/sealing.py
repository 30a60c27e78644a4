"""Secrets at rest: values the server must use again (webhook signing secrets, credential
header values) are stored sealed with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`),
keyed by PERDURE_SECRET_KEY. Keys named in PERDURE_PREVIOUS_SECRET_KEYS still open what they
sealed (MultiFernet), so a key can be rotated: `perdure rotate-secrets` (and every server
start) seals again with the current key whatever an older key sealed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.settings import Environment, Settings

SEALED_PREFIX = "sealed:v1:"
# Development without PERDURE_SECRET_KEY (the test suite): a fixed key, refused in production.
DEVELOPMENT_KEY = "perdure-development-only-secret-key"
MIN_KEY_LENGTH = 32


class SecretKeyMissing(RuntimeError):
    """Production refuses to start without PERDURE_SECRET_KEY."""


def _fernet(secret_key: str) -> Fernet:
    # Any string of enough entropy is a key: HKDF turns it into Fernet's 32 bytes.
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"perdure secrets at rest v1"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


class Sealer:
    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        self._current = _fernet(current)
        self._any = MultiFernet([self._current, *(_fernet(k) for k in previous)])

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The server's sealer; raises SecretKeyMissing in production without a key."""
        key = settings.secret_key
        if not key:
            if settings.environment == Environment.PRODUCTION:
                raise SecretKeyMissing(
                    "PERDURE_SECRET_KEY is required in production: it seals webhook secrets "
                    f"at rest (at least {MIN_KEY_LENGTH} random characters, e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
            key = DEVELOPMENT_KEY
        return cls(key, settings.previous_secret_keys)

    def seal(self, value: str) -> str:
        return SEALED_PREFIX + self._current.encrypt(value.encode()).decode()

    def open(self, stored: str) -> str:
        """The value; one stored before sealing existed (no prefix) is returned as it is."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        try:
            return self._any.decrypt(stored[len(SEALED_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a stored secret cannot be opened with PERDURE_SECRET_KEY or any of "
                "PERDURE_PREVIOUS_SECRET_KEYS (was the key changed without keeping the old one?)"
            ) from exc

    def is_current(self, stored: str) -> bool:
        """Sealed with the current key (nothing to do on rotation)."""
        if not stored.startswith(SEALED_PREFIX):
            return False
        try:
            self._current.decrypt(stored[len(SEALED_PREFIX) :].encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, stored: str) -> str:
        return stored if self.is_current(stored) else self.seal(self.open(stored))
