"""Liveness, readiness, Prometheus metrics, and the problem answers for unknown routes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.db.migrate import head_revision
from tests.tenancy_helpers import assert_problem


def request_count(metrics_text: str, method: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "perdure_http_requests":
            continue
        for sample in family.samples:
            if sample.name == "perdure_http_requests_total" and sample.labels == {
                "method": method,
                "route": route,
                "status": status,
            }:
                return sample.value
    return 0.0


def route_labels(metrics_text: str) -> set[str]:
    return {
        sample.labels["route"]
        for family in text_string_to_metric_families(metrics_text)
        if family.name == "perdure_http_requests"
        for sample in family.samples
        if "route" in sample.labels
    }


async def test_healthz_answers_ok(http):
    response = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_ready_with_the_schema_revision(http, server):
    response = await http.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["schema_revision"] == head_revision()
    assert body["database"] == (
        "sqlite" if server.database_url.startswith("sqlite") else "postgresql"
    )


async def test_metrics_count_requests_by_route_template(http, tenant):
    before = request_count((await http.get("/metrics")).text, "GET", "/api/v1/me", "200")

    assert (await tenant.client.get("/api/v1/me")).status_code == 200

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "perdure_http_requests_total" in response.text
    assert request_count(response.text, "GET", "/api/v1/me", "200") == before + 1


async def test_metrics_label_namespaced_requests_with_the_template_not_the_path(http, tenant):
    assert (await tenant.client.get(tenant.ns())).status_code == 200

    labels = route_labels((await http.get("/metrics")).text)

    assert "/api/v1/namespaces/{namespace}" in labels
    assert tenant.ns() not in labels


async def test_unknown_route_is_a_404_problem(http):
    response = await http.get("/api/v1/no-such-thing")

    assert_problem(response, 404, "not-found")


async def test_wrong_method_is_a_405_problem_naming_the_allowed_methods(http):
    response = await http.delete("/api/v1/me")

    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]
