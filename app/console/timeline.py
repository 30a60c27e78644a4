"""A run's timeline: its history grouped as Temporal's Web UI groups it, laid out as SVG bars.

One row per activity (scheduled → started → closed: the wait, back-offs included, is the light
part of the bar, the last attempt the dark part), per timer (started → fired or canceled), per
child workflow (initiated → closed), and one row of signals as marks. Open items reach "now".

Drawn in pages of ROWS rows, so that a 5,000-event history costs a page, not the history: a
page reads the ROWS events that begin its rows, the events that refer to those, and the
signals in between; the next page starts at the event that begins its first row. The time
axis is the whole run's on every page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db.connection import Connection
from app.engine import reads

WIDTH = 960
LABEL_WIDTH = 240
ROW_HEIGHT = 22
AXIS_HEIGHT = 24
ROWS = 100  # rows per page
MAX_MARKS = 200

_CLOSE_STATE = {
    "ACTIVITY_TASK_COMPLETED": "completed",
    "ACTIVITY_TASK_FAILED": "failed",
    "ACTIVITY_TASK_TIMED_OUT": "failed",
    "ACTIVITY_TASK_CANCELED": "canceled",
    "TIMER_FIRED": "completed",
    "TIMER_CANCELED": "canceled",
    "CHILD_WORKFLOW_EXECUTION_COMPLETED": "completed",
    "CHILD_WORKFLOW_EXECUTION_FAILED": "failed",
    "CHILD_WORKFLOW_EXECUTION_CANCELED": "canceled",
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT": "failed",
    "CHILD_WORKFLOW_EXECUTION_TERMINATED": "failed",
    "START_CHILD_WORKFLOW_EXECUTION_FAILED": "failed",
}


_BEGIN = ("ACTIVITY_TASK_SCHEDULED", "TIMER_STARTED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
# The events that move a row on after it began (the others, workflow tasks above all, are
# never read for a timeline).
_FOLLOWERS = [*_CLOSE_STATE, "ACTIVITY_TASK_STARTED", "CHILD_WORKFLOW_EXECUTION_STARTED"]


@dataclass
class Group:
    kind: str  # activity | timer | child
    label: str
    first_event_id: int
    start: datetime
    started: datetime | None = None
    end: datetime | None = None
    state: str = "running"
    attempt: int = 1
    event_ids: list[int] = field(default_factory=list)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def group_events(events: list[dict[str, Any]]) -> tuple[list[Group], list[tuple[datetime, str]]]:
    """(groups in the order they began, signals as (time, name))."""
    groups: dict[int, Group] = {}
    signals: list[tuple[datetime, str]] = []
    for e in events:
        kind, a, when = e["event_type"], e["attributes"] or {}, _time(e["event_time"])
        if kind == "ACTIVITY_TASK_SCHEDULED":
            label = f"{a.get('activity_type', '?')} · {a.get('activity_id', '')}"
            groups[e["event_id"]] = Group("activity", label, e["event_id"], when)
        elif kind == "TIMER_STARTED":
            groups[e["event_id"]] = Group(
                "timer", f"timer · {a.get('timer_id', '')}", e["event_id"], when
            )
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            label = f"child · {a.get('workflow_id', '')}"
            groups[e["event_id"]] = Group("child", label, e["event_id"], when)
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            signals.append((when, str(a.get("signal_name", ""))))
        ref = (
            a.get("scheduled_event_id") or a.get("started_event_id") or a.get("initiated_event_id")
        )
        group = groups.get(ref) if isinstance(ref, int) else None
        if group is None:
            continue
        group.event_ids.append(e["event_id"])
        if kind in ("ACTIVITY_TASK_STARTED", "CHILD_WORKFLOW_EXECUTION_STARTED"):
            group.started = when
            group.attempt = int(a.get("attempt") or 1)
        elif kind in _CLOSE_STATE:
            group.end = when
            group.state = _CLOSE_STATE[kind]
    return sorted(groups.values(), key=lambda g: g.first_event_id), signals


async def page_events(
    conn: Connection, run_id: str, after_event_id: int
) -> tuple[list[dict[str, Any]], int | None]:
    """The events one page draws: the first ROWS events that begin a row after
    `after_event_id`, the events that refer to them (started, closed), and the signals in
    between; and the cursor of the next page (None on the last). Bounded by ROWS, not by the
    history's length."""
    begins = await reads.history_page(
        conn,
        run_id,
        after_event_id=after_event_id,
        up_to_event_id=None,
        page_size=ROWS + 1,
        event_types=list(_BEGIN),
    )
    following = begins[ROWS]["event_id"] - 1 if len(begins) > ROWS else None
    begins = begins[:ROWS]
    followers = await reads.events_referring_to(
        conn, run_id, [e["event_id"] for e in begins], event_types=_FOLLOWERS
    )
    signals = await reads.history_page(
        conn,
        run_id,
        after_event_id=after_event_id,
        up_to_event_id=following,
        page_size=MAX_MARKS,
        event_types=["WORKFLOW_EXECUTION_SIGNALED"],
    )
    events = sorted([*begins, *followers, *signals], key=lambda e: e["event_id"])
    return events, following


def layout(events: list[dict[str, Any]], run_start: datetime, run_end: datetime) -> dict[str, Any]:
    """What the template draws: rows of bars in SVG units, axis ticks, and the size."""
    groups, signals = group_events(events)
    shown = groups[:ROWS]
    span = max((run_end - run_start).total_seconds(), 0.001)
    scale = (WIDTH - LABEL_WIDTH - 10) / span

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + max(0.0, (moment - run_start).total_seconds()) * scale, 1)

    rows = []
    for index, g in enumerate(shown):
        end = g.end or run_end
        y = AXIS_HEIGHT + index * ROW_HEIGHT
        bars = []
        if g.started is not None and g.started > g.start:
            bars.append({"x": x(g.start), "w": max(x(g.started) - x(g.start), 1), "cls": "wait"})
        begin = g.started or g.start
        bars.append({"x": x(begin), "w": round(max(x(end) - x(begin), 2), 1), "cls": g.state})
        title = f"{g.label}: {g.state}, {(end - g.start).total_seconds():.3f} s" + (
            f", attempt {g.attempt}" if g.kind == "activity" else ""
        )
        rows.append(
            {
                "label": g.label,
                "y": y,
                "bars": bars,
                "title": title,
                "event_id": g.first_event_id,
            }
        )
    marks_y = AXIS_HEIGHT + len(rows) * ROW_HEIGHT
    marks = [{"x": x(when), "title": f"signal {name}"} for when, name in signals[:MAX_MARKS]]
    ticks = [
        {"x": LABEL_WIDTH + i * (WIDTH - LABEL_WIDTH - 10) / 4, "label": f"{span * i / 4:.1f} s"}
        for i in range(5)
    ]
    height = marks_y + (ROW_HEIGHT if marks else 0) + 6
    return {
        "width": WIDTH,
        "height": height,
        "label_width": LABEL_WIDTH,
        "rows": rows,
        "marks": marks,
        "marks_y": marks_y,
        "ticks": ticks,
        "row_height": ROW_HEIGHT,
    }
