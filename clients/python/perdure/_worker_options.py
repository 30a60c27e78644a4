"""Temporal's worker options that Perdure accepts with no effect of their own: poller behaviours
(Perdure keeps the maximum of long polls open; an idle poll costs the server almost nothing),
workflow runners and sandbox settings (Perdure has no sandbox), and the process-pool state
manager (the worker relays heartbeats itself). Re-exported by `perdure.worker`."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class PollerBehaviorSimpleMaximum:
    """Keep `maximum` long polls open (Temporal's poller behaviour)."""

    maximum: int = 5


@dataclass(frozen=True)
class PollerBehaviorAutoscaling:
    """Temporal's autoscaling pollers: Perdure keeps `maximum` long polls open (an idle poll
    costs the server almost nothing)."""

    minimum: int = 1
    maximum: int = 100
    initial: int = 5


PollerBehavior = PollerBehaviorSimpleMaximum | PollerBehaviorAutoscaling


class WorkflowRunner:
    """Temporal's base of workflow runners (accepted; Perdure runs workflows one way)."""


class UnsandboxedWorkflowRunner(WorkflowRunner):
    """Temporal's runner without a sandbox: how Perdure always runs workflow code."""


@dataclass(frozen=True)
class SandboxRestrictions:
    """Temporal's sandbox settings (accepted, no effect: Perdure has no sandbox)."""

    passthrough_modules: frozenset[str] = frozenset()
    default: ClassVar[SandboxRestrictions]

    def with_passthrough_modules(self, *modules: str) -> SandboxRestrictions:
        return SandboxRestrictions(self.passthrough_modules | set(modules))

    def with_passthrough_all_modules(self) -> SandboxRestrictions:
        return self


SandboxRestrictions.default = SandboxRestrictions()


@dataclass(frozen=True)
class SandboxedWorkflowRunner(WorkflowRunner):
    """Temporal's sandboxed runner (accepted: workflow code still runs unsandboxed here)."""

    restrictions: SandboxRestrictions = field(default_factory=SandboxRestrictions)
    runner_class: type[WorkflowRunner] = UnsandboxedWorkflowRunner


class SharedStateManager:
    """Temporal's bridge for process-pool activities' heartbeats and cancellation. Perdure's
    worker relays them from its own loop, so this only carries Temporal's constructor."""

    @staticmethod
    def create_from_multiprocessing(
        mgr: Any, queue_poller_executor: concurrent.futures.Executor | None = None
    ) -> SharedStateManager:
        """Temporal's factory (the manager is not needed here)."""
        return SharedStateManager()
