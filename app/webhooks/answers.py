"""What a receiver's answer means for the activity attempt it carried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from app.webhooks.outbound import Answer

EXCERPT_CHARS = 2000
MAX_RETRY_AFTER = 24 * 3600.0
# Client errors that say "not now" rather than "never".
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # 'completed', 'accepted' or 'failed'
    result: Any = None
    failure: dict[str, Any] | None = None
    retry_after: float | None = None  # seconds the next attempt must wait at least
    disable_reason: str | None = None  # the endpoint is switched off


def excerpt(body: bytes) -> str:
    return body[: EXCERPT_CHARS * 4].decode(errors="replace")[:EXCERPT_CHARS]


def failure(message: str, kind: str, *, non_retryable: bool, **details: Any) -> dict[str, Any]:
    return {"message": message, "type": kind, "non_retryable": non_retryable, "details": details}


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        seconds = (at - now).total_seconds()
    if seconds != seconds or seconds <= 0:  # NaN or already past
        return None
    return min(seconds, MAX_RETRY_AFTER)


def classify(answer: Answer, *, retry_client_errors: bool, now: datetime) -> Outcome:
    code = answer.status_code
    details = {"status_code": code, "body": excerpt(answer.body)}
    if answer.truncated:
        return Outcome(
            "failed",
            failure=failure(
                "the webhook's answer is larger than the server reads",
                "WebhookResponseTooLarge",
                non_retryable=True,
                status_code=code,
            ),
        )
    if code == 202:
        return Outcome("accepted")
    if 200 <= code < 300:
        if not answer.body.strip():
            return Outcome("completed", result=None)
        try:
            return Outcome("completed", result=orjson.loads(answer.body))
        except orjson.JSONDecodeError:
            return Outcome(
                "failed",
                failure=failure(
                    f"the webhook answered {code} with a body that is not JSON",
                    "WebhookInvalidResponse",
                    non_retryable=True,
                    **details,
                ),
            )
    if 300 <= code < 400:
        return Outcome(
            "failed",
            failure=failure(
                f"the webhook answered with a redirect ({code}); redirects are not followed, update its URL",
                "WebhookRedirected",
                non_retryable=True,
                location=answer.headers.get("location"),
                **details,
            ),
        )
    retry_after = retry_after_seconds(answer.headers.get("retry-after"), now)
    if code == 410:
        return Outcome(
            "failed",
            failure=failure(
                "the webhook answered 410 Gone; the endpoint was disabled",
                "WebhookGone",
                non_retryable=False,
                **details,
            ),
            disable_reason="the receiver answered 410 Gone",
        )
    client_error = 400 <= code < 500
    non_retryable = client_error and code not in RETRYABLE_CLIENT_ERRORS and not retry_client_errors
    return Outcome(
        "failed",
        failure=failure(
            f"the webhook answered {code}",
            "WebhookHttpError",
            non_retryable=non_retryable,
            **details,
        ),
        retry_after=retry_after,
    )
