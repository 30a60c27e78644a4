"""OIDC sign-in for the console, through Authlib: authorization code flow with PKCE (S256).

The issuer's discovery document names its endpoints and JWKS. The ID token is verified
(signature from the JWKS, issuer, audience, expiry, nonce) with joserfc, Authlib's JOSE
library; its claims name the tenant, the role and the namespaces (claim names are settings).
The user then acts as a principal of that tenant and role, checked exactly as an API key is.
When the tokens expire the session renews them with the refresh token and reads the claims
again; if the issuer refuses, the session ends.
"""

from __future__ import annotations

import secrets
import time
import warnings
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.auth import sessions
from app.auth.roles import Role
from app.context import ServerContext
from app.db.tables import console_sign_ins
from app.errors import InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from app.tenancy.tenants import get_tenant_by_name

with warnings.catch_warnings():
    # Authlib 1.9 asks for its `httpx2` extra; its httpx integration, which we use, works as is.
    # (Importing `authlib.deprecate` turns its warnings on: silence this one after that.)
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

DISCOVERY_TTL = 300.0
SIGN_IN_SECONDS = 600
_cache: dict[str, tuple[float, Any]] = {}


async def _cached_json(url: str) -> Any:
    hit = _cache.get(url)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    async with httpx.AsyncClient() as http:
        try:
            answer = await http.get(url, timeout=10)
            answer.raise_for_status()
        except Exception as exc:  # noqa: BLE001 - any failure of the issuer is one answer
            raise Unavailable(f"the identity provider did not answer: {exc}") from None
    _cache[url] = (time.monotonic() + DISCOVERY_TTL, answer.json())
    return answer.json()


async def discovery(ctx: ServerContext) -> dict[str, Any]:
    issuer = (ctx.settings.oidc_issuer or "").rstrip("/")
    return await _cached_json(f"{issuer}/.well-known/openid-configuration")


def _client(ctx: ServerContext, redirect_uri: str | None = None) -> AsyncOAuth2Client:
    s = ctx.settings
    return AsyncOAuth2Client(
        client_id=s.oidc_client_id,
        client_secret=s.oidc_client_secret,
        scope=s.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=10,
    )


async def authorization_url(ctx: ServerContext, redirect_uri: str, next_path: str) -> str:
    """Where to send the browser; the state, PKCE verifier and nonce stay in the database."""
    config = await discovery(ctx)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    now = ctx.clock.now()
    async with ctx.db.write() as conn:
        await conn.execute(
            sa.insert(console_sign_ins).values(
                state=state,
                code_verifier=verifier,
                nonce=nonce,
                next_path=next_path,
                expires_at=now + timedelta(seconds=SIGN_IN_SECONDS),
            )
        )
    async with _client(ctx, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            config["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    return url


async def _claims(ctx: ServerContext, id_token: str, nonce: str | None) -> dict[str, Any]:
    config = await discovery(ctx)
    keys = KeySet.import_key_set(await _cached_json(config["jwks_uri"]))
    try:
        token = jwt.decode(id_token, keys)
        rules: dict[str, Any] = {
            "iss": {"essential": True, "value": config["issuer"]},
            "aud": {"essential": True, "value": ctx.settings.oidc_client_id},
            "exp": {"essential": True},
        }
        if nonce is not None:
            rules["nonce"] = {"essential": True, "value": nonce}
        # Wall-clock time: the provider's tokens know nothing of a time-skipping clock.
        jwt.JWTClaimsRegistry(**rules).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise Unauthenticated(f"the identity provider's ID token was refused: {exc}") from None
    return token.claims


def _role_and_namespaces(ctx: ServerContext, claims: dict[str, Any]) -> tuple[Role, list | None]:
    s = ctx.settings
    try:
        role = Role(str(claims.get(s.oidc_role_claim, "")))
    except ValueError:
        raise PermissionDenied(
            f"the identity provider gave no valid role in claim '{s.oidc_role_claim}'"
        ) from None
    spaces = claims.get(s.oidc_namespaces_claim)
    if spaces is not None and not (
        isinstance(spaces, list) and all(isinstance(n, str) for n in spaces)
    ):
        raise PermissionDenied(f"claim '{s.oidc_namespaces_claim}' must be a list of names")
    return role, spaces


def _expiry(ctx: ServerContext, token: dict[str, Any]) -> datetime:
    return ctx.clock.now() + timedelta(seconds=float(token.get("expires_in") or 300))


async def finish_sign_in(
    ctx: ServerContext, redirect_uri: str, code: str, state: str
) -> tuple[str, str]:
    """Exchange the code (with the PKCE verifier) for tokens, check the ID token, map its
    claims and open a session: (cookie secret, where to go next)."""
    now = ctx.clock.now()
    async with ctx.db.write() as conn:
        pending = (
            await conn.execute(sa.select(console_sign_ins).where(console_sign_ins.c.state == state))
        ).one_or_none()
        await conn.execute(sa.delete(console_sign_ins).where(console_sign_ins.c.state == state))
    if pending is None or pending.expires_at <= now:
        raise InvalidArgument("this sign-in is unknown or expired; start again", field="state")
    config = await discovery(ctx)
    async with _client(ctx, redirect_uri) as client:
        try:
            token = await client.fetch_token(
                config["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
        except Exception as exc:  # noqa: BLE001 - the provider's refusal, whatever its shape
            raise Unauthenticated(f"the identity provider refused the sign-in: {exc}") from None
    claims = await _claims(ctx, token["id_token"], pending.nonce)
    tenant_name = claims.get(ctx.settings.oidc_tenant_claim)
    if not isinstance(tenant_name, str):
        raise PermissionDenied(f"the ID token has no '{ctx.settings.oidc_tenant_claim}' claim")
    role, spaces = _role_and_namespaces(ctx, claims)
    async with ctx.db.write() as conn:
        try:
            tenant = await get_tenant_by_name(conn, tenant_name)
        except Exception:  # NotFound: say it as a refusal of this user, not a missing page
            raise PermissionDenied(f"no tenant '{tenant_name}' for this user") from None
        secret = await sessions.open_session(
            conn,
            tenant_id=tenant.id,
            display_name=str(claims.get("email") or claims.get("name") or claims["sub"]),
            now=now,
            lifetime_seconds=ctx.settings.console_session_seconds,
            oidc_subject=str(claims["sub"]),
            role=role,
            namespaces=spaces,
            refresh_token=token.get("refresh_token"),
            tokens_expire_at=_expiry(ctx, token),
        )
    return secret, pending.next_path


async def refresh(ctx: ServerContext, session: sessions.Session) -> None:
    """Renew an OIDC session's tokens and re-read its claims (role and namespaces may have
    changed). A refusal ends the session: Unauthenticated."""
    if not session.refresh_token:
        await _end(ctx, session, "the sign-in expired and cannot be renewed")
    config = await discovery(ctx)
    async with _client(ctx) as client:
        try:
            token = await client.refresh_token(
                config["token_endpoint"], refresh_token=session.refresh_token
            )
        except Exception:  # noqa: BLE001
            await _end(ctx, session, "the identity provider refused to renew the sign-in")
    if token.get("id_token"):
        claims = await _claims(ctx, token["id_token"], None)
    else:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(
                config["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {token['access_token']}"},
            )
        if answer.status_code != 200:
            await _end(ctx, session, "the identity provider refused the renewed sign-in")
        claims = answer.json()
    role, spaces = _role_and_namespaces(ctx, claims)
    async with ctx.db.write() as conn:
        await sessions.refresh_oidc_session(
            conn,
            session.id,
            role=role,
            namespaces=spaces,
            refresh_token=token.get("refresh_token") or session.refresh_token,
            tokens_expire_at=_expiry(ctx, token),
        )


async def _end(ctx: ServerContext, session: sessions.Session, why: str) -> None:
    async with ctx.db.write() as conn:
        await sessions.end_session_by_id(conn, session.id)
    raise Unauthenticated(why)
