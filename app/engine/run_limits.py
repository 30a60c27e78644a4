"""Defaults and limits (DESIGN.md: Temporal's, unless a reason says otherwise)."""

from __future__ import annotations

MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
MAX_HISTORY_EVENTS = 51_200
MAX_HISTORY_BYTES = 50 * 1024 * 1024
MAX_PENDING_ACTIVITIES = 2_000
MAX_PENDING_CHILDREN = 2_000
MAX_SIGNALS = 2_000
MAX_ID_LENGTH = 1_000

DEFAULT_TASK_TIMEOUT = 10.0
MAX_TASK_TIMEOUT = 120.0
MAX_POLL_WAIT = 60.0
MAX_HISTORY_WAIT = 30.0
# Activity tasks one batch poll may take, and completions one batch may carry.
MAX_TASK_BATCH = 100
HISTORY_PAGE_SIZE = 1_000
# Workflow tasks that keep failing are retried with a growing pause so that a broken worker
# does not grow a history without bound (the first retry is immediate, as in Temporal).
WFT_RETRY_MAX_BACKOFF = 600.0

# Request bodies (app/strict_json.py): JSON nests at most this many arrays and objects deep
# (serde_json's default recursion limit), and integers fit in 64 bits (signed), the range every
# JSON library with 64-bit integers reads exactly.
MAX_JSON_DEPTH = 128
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**63 - 1
# Event ids, attempts and versions are 32-bit columns on PostgreSQL.
MAX_COUNTER = 2**31 - 1
# Every duration a caller gives (timeouts, intervals, delays): at most ten years, in seconds.
MAX_DURATION = 10 * 365 * 86400
# Workflow Update (Temporal's namespace defaults: history.maxInFlightUpdates, maxTotalUpdates,
# maxInFlightUpdatePayloads; WORKFLOW_TASK_STARTED suggests continue-as-new at 90 % of the total).
# These are the defaults of the namespace settings named below (app/engine/updates.py).
MAX_UPDATES_IN_FLIGHT = 10
MAX_UPDATES_PER_RUN = 2_000
MAX_UPDATE_BYTES_IN_FLIGHT = 20 * 1024 * 1024
UPDATES_IN_FLIGHT_SETTING = "max_in_flight_updates"
UPDATES_PER_RUN_SETTING = "max_total_updates"
UPDATE_BYTES_IN_FLIGHT_SETTING = "max_in_flight_update_payload_bytes"


def suggest_continue_as_new_at(max_total: int) -> int:
    """The updates a run has taken from which its workflow tasks suggest continue-as-new: 90 %
    of its total (Temporal's history.maxTotalUpdates.suggestContinueAsNewThreshold, 0.9), and
    at least one (a run that took no update has no reason to continue for updates)."""
    return max(1, max_total * 9 // 10)
