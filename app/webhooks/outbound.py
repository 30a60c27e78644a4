"""Outbound safety: which addresses a webhook may reach, and a POST pinned to the checked one.

The host is resolved once per delivery and the connection goes to the address that was
checked (the URL carries the IP; `Host` and TLS SNI carry the name), so a DNS answer that
changes between the check and the connect cannot steer a delivery into the private network.
Redirects are never followed and response bodies are read only up to a cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
# Cloud instance metadata services: never a webhook, whatever the namespace allows.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

# Names of metadata services, refused as written (other names are checked when resolved).
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be called: the reason says why (never retried)."""


class TargetUnreachable(Exception):
    """The host did not resolve, or the connection failed or timed out (retried)."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_private: bool  # the namespace's `allow_private_network_targets`
    allow_loopback: bool  # development mode


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    latency_ms: float


def check_url(url: str) -> str | None:
    """Why a URL cannot be a webhook target as written, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "the URL must start with http:// or https://"
    if not parts.hostname:
        return "the URL must name a host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; use `headers`"
    if parts.fragment:
        return "the URL must not have a #fragment"
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_HOSTS:
        return f"{host} is a cloud metadata service"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    return None


def refusal(address: IPAddress, policy: TargetPolicy) -> str | None:
    """Why the address may not be reached under the policy, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not a unicast address"
    if address.is_loopback:
        if policy.allow_loopback or policy.allow_private:
            return None
        return f"{address} is a loopback address; allow private network targets in the namespace settings"
    if not address.is_global:  # private, link-local, shared (CGNAT), reserved, documentation
        if policy.allow_private:
            return None
        return f"{address} is not a public address; allow private network targets in the namespace settings"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetUnreachable(f"cannot resolve {host}: {exc}") from None
    found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not found:
        raise TargetUnreachable(f"{host} has no address")
    return found


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: TargetPolicy,
    seconds: float,
) -> Answer:
    """POST to the URL if every address of its host is allowed; raise TargetRefused or
    TargetUnreachable otherwise."""
    reason = check_url(url)
    if reason:
        raise TargetRefused(reason)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    for address in addresses:  # all of them: a name must not smuggle in one private answer
        why = refusal(address, policy)
        if why:
            raise TargetRefused(f"{host} resolves to {why}")
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    request_headers = {**headers, "host": host_header, "content-type": "application/json"}
    began = time.monotonic()
    try:
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=seconds
        ) as client:
            request = client.build_request(
                "POST",
                pinned,
                content=body,
                headers=request_headers,
                extensions={"sni_hostname": host},
            )
            response = await client.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        truncated = True
                        break
            finally:
                await response.aclose()
    except httpx.TimeoutException:
        raise TargetUnreachable(f"no answer within {seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise TargetUnreachable(f"{type(exc).__name__}: {exc}") from None
    return Answer(
        status_code=response.status_code,
        headers=response.headers,
        body=b"".join(chunks)[:MAX_RESPONSE_BYTES],
        truncated=truncated,
        latency_ms=(time.monotonic() - began) * 1000,
    )
