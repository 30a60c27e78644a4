"""What every console page shares: the signed-in session, the namespace check, CSRF, templates.

Authorization is the API's: the session yields the same `Principal`, namespaces are resolved
with `resolve_namespace` (another tenant's or an out-of-scope namespace is 404) and each view
states the permission it needs, which `Principal.require` checks exactly as the API does.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.auth import sessions
from app.auth.principal import NamespaceRef, Principal, resolve_namespace
from app.auth.roles import Permission
from app.console import jsonview, versioning_labels
from app.context import ServerContext
from app.engine.service import Engine
from app.errors import InvalidArgument, PermissionDenied

M = TypeVar("M", bound=BaseModel)
SESSION_COOKIE = "perdure_console"
SIGN_IN_COOKIE = "perdure_console_sign_in"
COOKIE_PATH = "/console"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: datetime | str | None) -> str:
    """A time with its zone: UTC as written; the page's zone toggle (console.js) rewrites
    every `<time>` in the browser's zone from its `datetime`."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return Markup(f'<time datetime="{value.isoformat()}">{text} UTC</time>')


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration
templates.env.filters["jsonview"] = jsonview.render
templates.env.filters["jsontext"] = jsonview.text
templates.env.filters["version_label"] = versioning_labels.version_label
templates.env.filters["percent"] = versioning_labels.percent
templates.env.filters["queue_type"] = versioning_labels.queue_type


@dataclass
class Console:
    """One request of a signed-in user."""

    request: Request
    ctx: ServerContext
    engine: Engine
    session: sessions.Session

    @property
    def principal(self) -> Principal:
        return self.session.principal

    def can(self, permission: str) -> bool:
        return self.principal.can(Permission(permission))

    async def namespace(self, name: str, permission: Permission) -> NamespaceRef:
        """The caller's namespace, checked as the API checks it: visibility first (404),
        then the role (403)."""
        async with self.ctx.db.read() as conn:
            ref = await resolve_namespace(conn, self.principal, name)
        self.principal.require(permission)
        return ref

    def now(self) -> datetime:
        return self.ctx.clock.now()


def context_of(request: Request) -> tuple[ServerContext, Engine]:
    return request.app.state.ctx, request.app.state.engine


async def signed_in(request: Request) -> Console:
    """The dependency of every page behind sign-in. Unauthenticated sends the browser to the
    sign-in page (see app.console.app's error handler)."""
    ctx, engine = context_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    now = ctx.clock.now()
    async with ctx.db.read() as conn:
        session, stale = await sessions.load_session(
            conn, token, now, ctx.settings.console_idle_seconds
        )
    if session.oidc and session.tokens_expire_at is not None and session.tokens_expire_at <= now:
        from app.console import oidc

        await oidc.refresh(ctx, session)
        async with ctx.db.read() as conn:
            session, stale = await sessions.load_session(
                conn, token, now, ctx.settings.console_idle_seconds
            )
    if stale:
        async with ctx.db.write() as conn:
            await sessions.touch_session(conn, session.id, now)
    return Console(request=request, ctx=ctx, engine=engine, session=session)


async def checked_form(console: Console) -> FormData:
    """The posted form, after its CSRF token matched the session's (forms send it as a field,
    scripts as the X-CSRF-Token header). A mismatch is refused and changes nothing."""
    form = await console.request.form()
    sent = str(form.get("csrf_token") or console.request.headers.get("x-csrf-token") or "")
    if not hmac.compare_digest(sent.encode(), console.session.csrf_token.encode()):
        raise PermissionDenied("the form's CSRF token is missing or wrong; reload the page")
    return form


def render(
    request: Request,
    template: str,
    console: Console | None = None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"console": console, "request": request, **values},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https"


def form_json(text: str, field: str) -> Any:
    """A form's JSON field (blank: None); InvalidArgument naming the field when it is not JSON."""
    if not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{field} is not valid JSON: {exc}", field=field) from None


def form_moment(value: str | None, field: str) -> datetime | None:
    """A `datetime-local` field (blank: None), read as UTC when it has no offset."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{field} is not a date and time", field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def validated(model: type[M], value: dict[str, Any]) -> M:
    """`value` checked by the API's request model, so that a console form is held to exactly
    the rules of the route it mirrors; the first complaint as InvalidArgument."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidArgument(f"{where}: {first.get('msg')}", field=where) from None
