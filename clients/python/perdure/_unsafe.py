"""`workflow.unsafe`: Temporal's escape hatches from its workflow sandbox. Perdure runs workflow
code without a sandbox (determinism is the code's duty, as with Temporal's
`sandboxed=False`), so the sandbox switches are accepted and change nothing; `is_replaying`
reads the run's state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import IntFlag
from typing import Any

from perdure._workflow_context import _Runtime


class SandboxImportNotificationPolicy(IntFlag):
    """Temporal's choices of warning about imports inside its sandbox (no effect here)."""

    SILENT = 1
    WARN_ON_DYNAMIC_IMPORT = 2
    WARN_ON_UNINTENTIONAL_PASSTHROUGH = 4
    RAISE_ON_UNINTENTIONAL_PASSTHROUGH = 8


def is_replaying() -> bool:
    """True while the workflow re-runs past history (side effects must be skipped)."""
    return bool(_Runtime.current().replaying)


def is_replaying_history_events() -> bool:
    """True while history events are being replayed (the same as `is_replaying` here: queries
    never run workflow code on the loop)."""
    return is_replaying()


def is_read_only() -> bool:
    """True while a query handler runs (it must not change the workflow)."""
    return bool(_Runtime.current().read_only)


def in_sandbox() -> bool:
    """Always False: Perdure has no workflow sandbox."""
    return False


def is_sandbox_unrestricted() -> bool:
    """Always True: nothing is restricted without a sandbox."""
    return True


def is_imports_passed_through() -> bool:
    """Always True: every import is the process's own module without a sandbox."""
    return True


@contextlib.contextmanager
def sandbox_unrestricted() -> Iterator[None]:
    """Temporal's way out of sandbox restrictions; without a sandbox, nothing to lift."""
    yield


@contextlib.contextmanager
def imports_passed_through() -> Iterator[None]:
    """Temporal's `with workflow.unsafe.imports_passed_through(): import ...`: imports inside
    are ordinary imports here (there is no sandbox to re-import them)."""
    yield


@contextlib.contextmanager
def sandbox_import_notification_policy(
    policy: SandboxImportNotificationPolicy,
) -> Iterator[None]:
    """Accepted for Temporal's code; no sandbox, no import notifications."""
    yield


def current_import_notification_policy_override() -> Any:
    """None: no sandbox policy is ever in force."""
    return None
