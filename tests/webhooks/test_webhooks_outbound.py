"""Outbound safety and answer rules of webhook deliveries, one rule per test, without a server."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.webhooks.answers import classify, retry_after_seconds
from app.webhooks.outbound import (
    Answer,
    TargetPolicy,
    TargetRefused,
    check_url,
    post,
    refusal,
)

STRICT = TargetPolicy(allow_private=False, allow_loopback=False)
DEVELOPMENT = TargetPolicy(allow_private=False, allow_loopback=True)
PRIVATE_ALLOWED = TargetPolicy(allow_private=True, allow_loopback=False)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "::1",
        "fc00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused_by_default(address):
    assert refusal(ipaddress.ip_address(address), STRICT) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert refusal(ipaddress.ip_address(address), STRICT) is None


def test_development_mode_allows_loopback_but_not_the_private_network():
    assert refusal(ipaddress.ip_address("127.0.0.1"), DEVELOPMENT) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), DEVELOPMENT) is not None


def test_a_namespace_that_allows_private_targets_reaches_them():
    assert refusal(ipaddress.ip_address("10.0.0.1"), PRIVATE_ALLOWED) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), PRIVATE_ALLOWED) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254"])
def test_cloud_metadata_addresses_are_always_refused(address):
    assert refusal(ipaddress.ip_address(address), PRIVATE_ALLOWED) is not None


async def test_a_name_that_resolves_to_loopback_is_refused_before_connecting():
    with pytest.raises(TargetRefused, match="loopback"):
        await post("http://localhost:9/hook", b"{}", {}, policy=STRICT, seconds=1)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http:///nohost", "https://user:pw@example.com/", "http://x:99999/"],
)
def test_urls_that_cannot_be_targets_are_named(url):
    assert check_url(url) is not None


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)

    assert retry_after_seconds("120", NOW) == 120
    assert retry_after_seconds(later, NOW) == pytest.approx(90)
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None


def answer(status: int, body: bytes = b"", **headers: str) -> Answer:
    return Answer(status, httpx.Headers(headers), body, truncated=False, latency_ms=1.0)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_not_now_answers_fail_the_attempt_retryably(status):
    outcome = classify(answer(status), retry_client_errors=False, now=NOW)

    assert outcome.state == "failed"
    assert outcome.failure is not None and outcome.failure["non_retryable"] is False


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_fail_for_good_unless_the_endpoint_retries_them(status):
    strict = classify(answer(status), retry_client_errors=False, now=NOW)
    lenient = classify(answer(status), retry_client_errors=True, now=NOW)

    assert strict.failure is not None and strict.failure["non_retryable"] is True
    assert lenient.failure is not None and lenient.failure["non_retryable"] is False


def test_an_empty_2xx_completes_with_null_and_a_non_json_one_fails():
    assert classify(answer(204), retry_client_errors=False, now=NOW).result is None
    garbled = classify(answer(200, b"<html>"), retry_client_errors=False, now=NOW)
    assert garbled.state == "failed"
    assert garbled.failure is not None and garbled.failure["type"] == "WebhookInvalidResponse"
