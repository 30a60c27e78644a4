"""`workflow.logger`: Temporal's adapter adding the run's details to each record, silent while
the run replays history (so a log line is written once, not at every replay)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from perdure._workflow_context import _Runtime


def logger_details(info: Any) -> dict[str, Any]:
    """What a workflow's log records carry (Temporal's keys)."""
    return {
        "attempt": info.attempt,
        "namespace": info.namespace,
        "run_id": info.run_id,
        "task_queue": info.task_queue,
        "workflow_id": info.workflow_id,
        "workflow_type": info.workflow_type,
    }


class LoggerAdapter(logging.LoggerAdapter):
    """Appends the run's details to each message and puts them on the record as
    `temporal_workflow`; skips records while replaying unless `log_during_replay`."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        super().__init__(logger, extra or {})
        self.workflow_info_on_message = True
        self.workflow_info_on_extra = True
        self.full_workflow_info_on_extra = False
        self.log_during_replay = False

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        inst = _Runtime.maybe_current()
        if inst is None or inst.info is None:
            return msg, kwargs
        details = logger_details(inst.info)
        extra: dict[str, Any] = {}
        if self.workflow_info_on_extra:
            extra["temporal_workflow"] = details
        if self.full_workflow_info_on_extra:
            extra["workflow_info"] = inst.info
        # The caller's extra wins over ours (Temporal's merge), and is never changed.
        kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
        if self.workflow_info_on_message:
            msg = f"{msg} ({details})"
        return msg, kwargs

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        inst = _Runtime.maybe_current()
        if inst is not None and inst.replaying and not self.log_during_replay:
            return False
        return self.logger.isEnabledFor(level)

    @property
    def base_logger(self) -> logging.Logger:
        """The logger underneath (to add handlers or formatters)."""
        return self.logger

    def unsafe_disable_sandbox(self, value: bool = True) -> None:
        """Accepted for Temporal's code: there is no sandbox to disable."""


logger = LoggerAdapter(logging.getLogger("perdure.workflow"), None)
