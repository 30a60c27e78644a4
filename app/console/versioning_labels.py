"""How the console writes Worker Versioning for people: a version as Temporal writes it
(`deployment.build_id`, or "unversioned workers"), a ramp share, and a refused routing change
with the runs it names."""

from __future__ import annotations

from typing import Any

from app.errors import PerdureError

UNVERSIONED = "unversioned workers"


def version_label(version: Any) -> str:
    """`{deployment_name, build_id}` as `deployment.build_id` (Temporal's canonical string);
    none, or an empty build id, is the unversioned workers."""
    if not isinstance(version, dict) or not version.get("build_id"):
        return UNVERSIONED
    return f"{version.get('deployment_name')}.{version['build_id']}"


def percent(value: float | None) -> str:
    """A ramp share as people write it: 10 %, 12.5 %."""
    return f"{value or 0:g} %"


def queue_type(value: str | None) -> str:
    """TASK_QUEUE_TYPE_WORKFLOW as people say it: workflow."""
    return (value or "").removeprefix("TASK_QUEUE_TYPE_").lower()


def problem_view(problem: PerdureError) -> dict[str, Any]:
    """A refusal for the confirmation page: its kind, title and detail, and the runs it names
    (a failed replay check lists up to 20 with where each diverged), whatever member holds
    them."""
    runs: list[dict[str, Any]] = []
    for value in problem.extra.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            runs = [v for v in value if v.get("workflow_id")]
            if runs:
                break
    return {"kind": problem.kind, "title": problem.title, "detail": problem.detail, "runs": runs}
