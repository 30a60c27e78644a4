"""A short-lived in-process cache of authenticated keys and resolved namespaces.

Every request would otherwise cost two reads before any work. Entries live a few seconds
(`PERDURE_AUTH_CACHE_SECONDS`); revoking a key or deleting a namespace drops them at once in
this process, and other replicas see the change when their entries expire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.auth.keys import hash_api_key
from app.auth.principal import NamespaceRef, Principal

MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Entry:
    value: object
    expires: float


class AuthCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._keys: dict[str, _Entry] = {}
        self._namespaces: dict[tuple[str, str], _Entry] = {}

    def principal(self, key: str) -> Principal | None:
        entry = self._keys.get(hash_api_key(key))
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry.value  # type: ignore[return-value]  # entries of each map hold that map's value type

    def remember_principal(self, key: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._keys) >= MAX_ENTRIES:
            self._keys.clear()
        self._keys[hash_api_key(key)] = _Entry(principal, time.monotonic() + self.ttl)

    def namespace(self, tenant_id: str, name: str) -> NamespaceRef | None:
        entry = self._namespaces.get((tenant_id, name))
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry.value  # type: ignore[return-value]  # entries of each map hold that map's value type

    def remember_namespace(self, ref: NamespaceRef) -> None:
        if self.ttl <= 0:
            return
        if len(self._namespaces) >= MAX_ENTRIES:
            self._namespaces.clear()
        self._namespaces[(ref.tenant_id, ref.name)] = _Entry(ref, time.monotonic() + self.ttl)

    def forget_key(self, key_id: str) -> None:
        self._keys = {h: e for h, e in self._keys.items() if e.value.key_id != key_id}  # type: ignore[attr-defined]  # the key map's values are principals

    def forget_tenant(self, tenant_id: str) -> None:
        self._keys = {h: e for h, e in self._keys.items() if e.value.tenant_id != tenant_id}  # type: ignore[attr-defined]  # the key map's values are principals

    def forget_namespace(self, tenant_id: str, name: str) -> None:
        self._namespaces.pop((tenant_id, name), None)
