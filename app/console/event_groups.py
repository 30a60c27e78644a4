"""The history's compact view (Temporal UI's): an activity's, a timer's, a child's or a
workflow task's events as one row each, with the full events a click away; a filter by family.
"""

from __future__ import annotations

from typing import Any

# Which family each event type belongs to (the filter's choices).
FAMILY_PREFIXES = (
    ("ACTIVITY_TASK_", "activity"),
    ("TIMER_", "timer"),
    ("START_CHILD_WORKFLOW_", "child"),
    ("CHILD_WORKFLOW_", "child"),
    ("WORKFLOW_TASK_", "task"),
    ("SIGNAL_EXTERNAL_", "signal"),
    ("EXTERNAL_WORKFLOW_", "signal"),
    ("REQUEST_CANCEL_EXTERNAL_", "signal"),
    ("WORKFLOW_EXECUTION_SIGNALED", "signal"),
    ("WORKFLOW_EXECUTION_CANCEL_REQUESTED", "signal"),
    ("MARKER_", "marker"),
    ("UPSERT_", "marker"),
    ("WORKFLOW_EXECUTION_", "workflow"),
)
FAMILIES = frozenset(f for _, f in FAMILY_PREFIXES)
# Events that open a group, and the attribute by which later events name their opener.
OPENERS = {
    "ACTIVITY_TASK_SCHEDULED": "scheduled_event_id",
    "TIMER_STARTED": "started_event_id",
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED": "initiated_event_id",
    "WORKFLOW_TASK_SCHEDULED": "scheduled_event_id",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": "initiated_event_id",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": "initiated_event_id",
}
# Timeouts the definition interpreter sets when a state gives none: "no limit", not a figure.
SENTINEL_SECONDS = 99_999_999.0


def family(event_type: str) -> str:
    for prefix, name in FAMILY_PREFIXES:
        if event_type.startswith(prefix):
            return name
    return "workflow"


def plain_id(value: Any) -> str:
    """An id as a person reads it: the definition interpreter's internal activity ids
    (`asl:[…]`) are left out."""
    text = "" if value is None else str(value)
    return "—" if text.startswith("asl:") else text


def _title(opener: dict[str, Any]) -> str:
    a, kind = opener["attributes"], opener["event_type"]
    if kind == "ACTIVITY_TASK_SCHEDULED":
        shown = plain_id(a.get("activity_id"))
        return f"Activity {a.get('activity_type')}" + ("" if shown == "—" else f" ({shown})")
    if kind == "TIMER_STARTED":
        return f"Timer {a.get('timer_id')}"
    if kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
        return f"Child {a.get('workflow_id')} ({a.get('workflow_type')})"
    if kind == "WORKFLOW_TASK_SCHEDULED":
        return "Workflow task"
    return f"{kind.replace('_INITIATED', '').replace('_', ' ').capitalize()}"


def _summary(events: list[dict[str, Any]]) -> Any:
    """What a person wants of a group: the outcome's result or failure, a timer's length."""
    last = events[-1]["attributes"]
    for key in ("result", "failure", "cause", "reason"):
        if last.get(key) is not None:
            return {key: last[key]}
    first = events[0]["attributes"]
    if events[0]["event_type"] == "TIMER_STARTED":
        return {"start_to_fire_timeout": first.get("start_to_fire_timeout")}
    if events[0]["event_type"] == "ACTIVITY_TASK_SCHEDULED":
        return {"input": first.get("input")}
    return {k: v for k, v in first.items() if v is not None and v != SENTINEL_SECONDS}


def compact(events: list[dict[str, Any]], only: str | None = None) -> list[dict[str, Any]]:
    """Rows of the compact view, in the order their first events happened: {event_id, family,
    title, state, time, end_time, event_ids, summary}. `only` keeps one family."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for e in events:
        kind, a = e["event_type"], e["attributes"]
        fam = family(kind)
        if kind in OPENERS:
            row = _row(e, fam, _title(e))
            groups[(OPENERS[kind], e["event_id"])] = row
            rows.append(row)
            continue
        joined = None
        for ref in ("scheduled_event_id", "started_event_id", "initiated_event_id"):
            target = a.get(ref)
            if isinstance(target, int) and (ref, target) in groups:
                joined = groups[(ref, target)]
                break
        if joined is not None:
            joined["events"].append(e)
            joined["event_ids"].append(e["event_id"])
            joined["state"] = _state(kind)
            joined["end_time"] = e["event_time"]
            continue
        if kind == "MARKER_RECORDED":
            rows.append(_marker_row(e))
            continue
        rows.append(_row(e, fam, kind.replace("_", " ").capitalize()))
    for row in rows:
        row["summary"] = _summary(row.pop("events"))
    return [r for r in rows if only is None or r["family"] == only]


def _marker_row(e: dict[str, Any]) -> dict[str, Any]:
    """A marker as a person reads it: the definition interpreter's bookkeeping markers
    (`asl.state_entered`, `asl.state_exited`) as the state and its input or output, without
    their internal frame and entry numbers."""
    a = e["attributes"]
    name = str(a.get("marker_name") or "")
    details = a.get("details") if isinstance(a.get("details"), dict) else {}
    if name.startswith("asl.") and details.get("state"):
        verb = "exited" if name.endswith("exited") else "entered"
        row = _row(e, "marker", f"State {details['state']} {verb}")
        row["state"] = verb.upper()
        shown = {k: details[k] for k in ("input", "output", "error") if k in details}
        row["events"] = [{**e, "attributes": shown}]
        return row
    return _row(e, "marker", f"Marker {name}")


def _row(e: dict[str, Any], fam: str, title: str) -> dict[str, Any]:
    return {
        "event_id": e["event_id"],
        "family": fam,
        "title": title,
        "state": _state(e["event_type"]),
        "time": e["event_time"],
        "end_time": None,
        "event_ids": [e["event_id"]],
        "events": [e],
    }


def _state(event_type: str) -> str:
    return event_type.rsplit("_", 1)[-1] if "_" in event_type else event_type
