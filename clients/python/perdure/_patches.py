"""Patching (`workflow.patched`, `workflow.deprecate_patch`) with Temporal's replay rules.

A patch is recorded as a `core_patch` marker: `RECORD_MARKER` with
`{"marker_name": "core_patch", "details": {"patch_id": …, "deprecated": …}}`, followed by an
upsert of `TemporalChangeVersion` (every patch id the run has recorded, sorted). The server
infers nothing: any client that records the same marker implements `patched`
(docs/deploying.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perdure._operations import Command

PATCH_MARKER = "core_patch"
CHANGE_VERSION = "TemporalChangeVersion"
# Temporal's default limit on one search-attribute value (limit.searchAttributeValueSize):
# a change-version list past it is not upserted (with a warning), the marker still is. Bytes.
MAX_CHANGE_VERSION_BYTES = 2048

log = logging.getLogger("perdure.workflow")


def patch_marker(patch_id: str, deprecated: bool) -> dict[str, Any]:
    """The attributes of a patch's `RECORD_MARKER` command."""
    return {
        "marker_name": PATCH_MARKER,
        "details": {"patch_id": patch_id, "deprecated": deprecated},
    }


def marker_patch(event: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(patch id, deprecated) of a `MARKER_RECORDED` patch event; None for any other event."""
    if event.get("event_type") != "MARKER_RECORDED":
        return None
    attributes = event.get("attributes") or {}
    details = attributes.get("details")
    if attributes.get("marker_name") != PATCH_MARKER or not isinstance(details, dict):
        return None
    return str(details.get("patch_id")), bool(details.get("deprecated"))


def is_change_version_upsert(attributes: Mapping[str, Any]) -> bool:
    """An upsert that sets only `TemporalChangeVersion` (what recording a patch adds)."""
    return set((attributes.get("search_attributes") or {}).keys()) == {CHANGE_VERSION}


class Patches:
    """One run's patch state: the answers given (memoised for the whole run, as Temporal's
    SDK does), the ids the history holds for the workflow task being replayed, and the ids
    recorded so far (the value of `TemporalChangeVersion`)."""

    def __init__(self) -> None:
        self.memo: dict[str, bool] = {}
        self.notified: set[str] = set()
        self.recorded: set[str] = set()

    def notify(self, upcoming: Iterable[Mapping[str, Any]]) -> None:
        """Before replaying a workflow task: the patch markers among its recorded commands
        (Temporal's core notifies the SDK of them the same way)."""
        for event in upcoming:
            if event.get("event_type") == "WORKFLOW_TASK_STARTED":
                break
            found = marker_patch(event)
            if found is not None:
                self.notified.add(found[0])

    def decide(self, patch_id: str, *, replaying: bool) -> tuple[bool, bool]:
        """(the answer of `patched`, whether a marker must be recorded now).

        Temporal's rules: an id answered before keeps its answer for the whole run (a run
        that started on the old code stays on the old branch, also in loop iterations first
        executed by new code); a first call on new history answers True and records the
        marker; a first call while replaying answers True only if the history holds the
        marker in this workflow task."""
        known = self.memo.get(patch_id)
        if known is not None:
            return known, False
        use_patch = not replaying or patch_id in self.notified
        self.memo[patch_id] = use_patch
        if use_patch:
            self.recorded.add(patch_id)
        return use_patch, use_patch

    def change_version(self) -> dict[str, Any] | None:
        """The `TemporalChangeVersion` upsert after a new marker, or None when the value would
        pass the search-attribute size limit (skipped with a warning)."""
        value = sorted(self.recorded)
        if len(json.dumps(value).encode()) > MAX_CHANGE_VERSION_BYTES:
            return None
        return {"search_attributes": {CHANGE_VERSION: value}}


def same_patch(command: Command, patch: tuple[str, bool] | None) -> bool:
    """Whether a recorded command matches the event at hand as far as patches go: a patch
    marker command matches only the marker of the same patch id; anything else matches."""
    if (
        command.command_type != "RECORD_MARKER"
        or command.attributes.get("marker_name") != PATCH_MARKER
    ):
        return True
    return patch is not None and command.attributes["details"]["patch_id"] == patch[0]
