"""Signing in (API key, or OIDC when an issuer is configured) and out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import sessions
from app.console import oidc
from app.console.web import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Console,
    checked_form,
    context_of,
    render,
    secure_cookies,
    signed_in,
)
from app.errors import InvalidArgument, PermissionDenied, Unauthenticated
from app.tenancy import namespaces
from app.tenancy.tenants import DEFAULT_NAMESPACE

router = APIRouter()
# Where a sign-in without a `next` goes: the home page, which sends the signed-in principal on
# to its landing page (see `home`), so key and single sign-on sessions land alike.
HOME = "/console/"


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return HOME


def set_session_cookie(response: Response, request: Request, token: str, seconds: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(seconds),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


async def landing_path(console: Console) -> str:
    """The page a sign-in lands on: the workflows list of the tenant's namespace "default"
    (made with every tenant) when the principal sees it, else of the first namespace it sees
    by name; Temporal's UI likewise opens on its default namespace's workflows. The
    namespaces page when it sees none, where an administrator can create one."""
    async with console.ctx.db.read() as conn:
        name = await namespaces.first_namespace_name(
            conn, console.principal, preferred=DEFAULT_NAMESPACE
        )
    if name is None:
        return "/console/namespaces"
    return f"/console/n/{quote(name, safe='')}/workflows"


@router.get("/")
async def home(console: Annotated[Console, Depends(signed_in)]) -> RedirectResponse:
    return RedirectResponse(await landing_path(console), status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None, error: str | None = None):  # noqa: A002
    ctx, _ = context_of(request)
    # Sign-in has no session yet: its form is protected by a double-submit token.
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "sign_in.html",
        None,
        title="Sign in",
        sign_in_token=token,
        next=safe_next(next),
        error=error,
        oidc=bool(ctx.settings.oidc_issuer),
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.post("/sign-in")
async def sign_in_with_key(
    request: Request,
    api_key: Annotated[str, Form(max_length=300)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=2000)] = "",  # noqa: A002
) -> Response:
    ctx, _ = context_of(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        raise PermissionDenied("the sign-in form expired; reload the page and try again")
    now = ctx.clock.now()
    try:
        async with ctx.db.write() as conn:
            token = await sessions.open_key_session(
                conn, api_key.strip(), now, ctx.settings.console_session_seconds
            )
    except Unauthenticated as exc:
        return render(
            request,
            "sign_in.html",
            None,
            status_code=401,
            title="Sign in",
            sign_in_token=expected,
            next=safe_next(next),
            error=exc.detail,
            oidc=bool(ctx.settings.oidc_issuer),
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, request, token, ctx.settings.console_session_seconds)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/oidc/sign-in")
async def oidc_sign_in(request: Request, next: str | None = None) -> Response:  # noqa: A002
    ctx, _ = context_of(request)
    if not ctx.settings.oidc_issuer:
        raise InvalidArgument("single sign-on is not configured on this server")
    redirect_uri = str(request.url_for("oidc_callback"))
    url = await oidc.authorization_url(ctx, redirect_uri, safe_next(next))
    return RedirectResponse(url, status_code=303)


@router.get("/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request, code: str | None = None, state: str = "", error: str | None = None
) -> Response:
    ctx, _ = context_of(request)
    try:
        if error or not code:
            raise Unauthenticated(
                f"the identity provider did not sign you in ({error or 'no code'})"
            )
        secret, next_path = await oidc.finish_sign_in(
            ctx, str(request.url_for("oidc_callback")), code, state
        )
    except Unauthenticated as exc:
        return render(request, "error.html", None, status_code=401, error=exc, title=exc.title)
    # A page that moves on by itself rather than a redirect: this request came from the
    # identity provider's site, and a SameSite=Strict cookie is not sent along a redirect chain
    # that started on another site.
    target = safe_next(next_path)
    response = render(request, "signed_in.html", None, title="Signed in", target=target)
    set_session_cookie(response, request, secret, ctx.settings.console_session_seconds)
    return response


@router.post("/sign-out")
async def sign_out(console: Annotated[Console, Depends(signed_in)]) -> Response:
    await checked_form(console)
    async with console.ctx.db.write() as conn:
        await sessions.end_session_by_id(conn, console.session.id)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
