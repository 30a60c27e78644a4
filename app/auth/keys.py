"""API key secrets: generated once, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "pdk_"
SECRET_BYTES = 32


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters, kept so that an admin can tell keys apart without the secret."""
    return key[: len(KEY_PREFIX) + 6]


def looks_like_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 16 <= len(value) <= 200 and value.isascii()
