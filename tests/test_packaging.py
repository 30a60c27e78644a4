"""The image and the Helm chart say what an operator relies on: a multi-stage, non-root image
that runs `perdure serve`; API and loop Deployments with probes, the restricted Pod Security
level, no service-account token, disruption budgets, and external PostgreSQL by its parts.

The chart is rendered with a real `helm` (installed by `.ci/packaging`, which CI runs first)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "perdure"


def _helm() -> str | None:
    candidates = [
        os.environ.get("PERDURE_HELM", ""),
        str(Path(os.environ.get("PERDURE_TOOLS", Path.home() / ".cache/perdure-ci")) / "helm/helm"),
        shutil.which("helm") or "",
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


HELM = _helm()
needs_helm = pytest.mark.skipif(
    HELM is None, reason="helm not installed: run .ci/packaging (CI does) to install it"
)


def render(values_file: str) -> list[dict[str, Any]]:
    assert HELM is not None
    out = subprocess.run(
        [HELM, "template", "perdure", str(CHART), "-f", str(CHART / "ci" / values_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@needs_helm
def test_default_values_render_api_and_loop_deployments_with_probes_and_budgets():
    docs = render("default-values.yaml")

    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"perdure-api", "perdure-loops"}
    loops_flag = {
        name: env_of(d["spec"]["template"]["spec"]["containers"][0])["PERDURE_RUN_BACKGROUND_LOOPS"]
        for name, d in deployments.items()
    }
    assert loops_flag == {"perdure-api": "false", "perdure-loops": "true"}
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert container["args"] == ["serve"]
        assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["metadata"]["annotations"]["checksum/config"]
        assert pod["spec"]["topologySpreadConstraints"][0]["topologyKey"] == (
            "kubernetes.io/hostname"
        )
    assert set(by_kind(docs, "PodDisruptionBudget")) == {"perdure-api", "perdure-loops"}
    assert (
        by_kind(docs, "Service")["perdure"]["spec"]["selector"]["app.kubernetes.io/component"]
        == "api"
    )
    assert "PERDURE_ADMIN_TOKEN" in by_kind(docs, "Secret")["perdure"]["stringData"]
    assert not by_kind(docs, "Ingress") and not by_kind(docs, "ServiceMonitor")


@needs_helm
def test_every_pod_meets_the_restricted_pod_security_level_without_a_token():
    docs = render("production-values.yaml")
    pods = [d["spec"]["template"]["spec"] for d in by_kind(docs, "Deployment").values()]
    pods.append(by_kind(docs, "Job")["perdure-migrate"]["spec"]["template"]["spec"])

    for pod in pods:
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"] and container["resources"]["limits"]
    assert by_kind(docs, "ServiceAccount")["perdure"]["automountServiceAccountToken"] is False


@needs_helm
def test_production_values_use_external_postgresql_by_parts_with_the_password_from_a_secret():
    docs = render("production-values.yaml")

    api = by_kind(docs, "Deployment")["perdure-api"]
    env = env_of(api["spec"]["template"]["spec"]["containers"][0])
    assert env["PERDURE_DATABASE_URL"] == (
        "postgresql+psycopg://perdure@db.internal.example:5432/perdure?sslmode=verify-full"
    )
    assert env["PERDURE_DATABASE_PASSWORD"] == {
        "secretKeyRef": {"name": "perdure-db", "key": "password"}
    }
    assert "PERDURE_DATABASE_URL" not in by_kind(docs, "Secret")["perdure"]["stringData"]
    assert "replicas" not in api["spec"]  # the HPA owns it
    assert by_kind(docs, "HorizontalPodAutoscaler")["perdure-api"]["spec"]["maxReplicas"] == 12
    assert by_kind(docs, "Ingress")["perdure"]["spec"]["tls"][0]["secretName"] == "perdure-tls"
    assert by_kind(docs, "ServiceMonitor")["perdure"]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_the_image_is_multi_stage_non_root_and_serves_by_default():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    stages: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)

    assert len(stages) >= 2
    final = {i["instruction"]: i["value"] for i in stages[-1]}
    assert final["USER"].split(":")[0] not in {"0", "root"}
    assert final["ENTRYPOINT"] == '["perdure"]' and final["CMD"] == '["serve"]'
    final_runs = " ".join(i["value"] for i in stages[-1] if i["instruction"] == "RUN")
    assert not any(tool in final_runs for tool in ("gcc", "build-essential", "pip install"))
    copied = [i["value"] for i in stages[-1] if i["instruction"] == "COPY"]
    assert copied and all(c.startswith("--from=") for c in copied)


def test_database_password_setting_goes_into_the_url_and_not_the_url_text_of_the_chart():
    from app.settings import Settings

    settings = Settings(
        database_url="postgresql+psycopg://perdure@db:5432/perdure?sslmode=require",
        database_password="p@ss:w/rd",
    )

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    assert url.password == "p@ss:w/rd" and url.username == "perdure" and url.host == "db"
    assert url.query == {"sslmode": "require"}


@needs_helm
def test_the_service_monitor_scrapes_the_metrics_port_which_every_pod_and_service_expose():
    docs = render("production-values.yaml")

    endpoint = by_kind(docs, "ServiceMonitor")["perdure"]["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    for name in ("perdure-api", "perdure-loops"):
        container = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == 9464 and ports["http"] != ports["metrics"]
        assert env_of(container)["PERDURE_METRICS_PORT"] == "9464"
    for service in by_kind(docs, "Service").values():
        assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}[
            "metrics"
        ] == "metrics"
    # The ingress routes to the API port only: metrics never leave the cluster through it.
    backends = [
        path["backend"]["service"]["port"]
        for rule in by_kind(docs, "Ingress")["perdure"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert all(
        port.get("name", "http") == "http" and port.get("number") != 9464 for port in backends
    )
