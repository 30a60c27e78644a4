"""Worker Versioning in the SDK (Temporal's names): versions, behaviours, overrides, a worker's
deployment configuration, and what they become on the wire (docs/deploying.md). Re-exported
by `perdure.common`, `perdure.worker` and `perdure.workflow` where temporalio has them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class VersioningBehavior(IntEnum):
    """When a run may move from one version's workers to another's (temporalio.common's)."""

    UNSPECIFIED = 0
    PINNED = 1  # every task of the run goes to the version it started on
    AUTO_UPGRADE = 2  # the run moves to its deployment's current version at its next task


class ContinueAsNewVersioningBehavior(IntEnum):
    """The first task's behaviour of a continued run (temporalio.workflow's):
    AUTO_UPGRADE starts it on the deployment's current version instead of the pinned one."""

    UNSPECIFIED = 0
    AUTO_UPGRADE = 1


@dataclass(frozen=True)
class WorkerDeploymentVersion:
    """A version of a Worker Deployment; the deployment name may not contain '.'."""

    deployment_name: str
    build_id: str

    def to_canonical_string(self) -> str:
        """`deployment_name.build_id`."""
        return f"{self.deployment_name}.{self.build_id}"

    @staticmethod
    def from_canonical_string(canonical: str) -> WorkerDeploymentVersion:
        """The version of `deployment_name.build_id` (split at the first '.')."""
        name, dot, build = canonical.partition(".")
        if not dot:
            raise ValueError(
                f"Cannot parse version string: {canonical}, must be in format "
                "<deployment_name>.<build_id>"
            )
        return WorkerDeploymentVersion(name, build)

    def to_json(self) -> dict[str, str]:
        return {"deployment_name": self.deployment_name, "build_id": self.build_id}


class VersioningOverride(ABC):
    """A run's override of its workers' versioning behaviour."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The override's wire shape."""


@dataclass(frozen=True)
class PinnedVersioningOverride(VersioningOverride):
    """Every task of the run goes to this version's workers."""

    version: WorkerDeploymentVersion

    def to_json(self) -> dict[str, Any]:
        return {"pinned": {"behavior": "PINNED", "version": self.version.to_json()}}


@dataclass(frozen=True)
class AutoUpgradeVersioningOverride(VersioningOverride):
    """The run follows its deployment's current (or ramping) version."""

    def to_json(self) -> dict[str, Any]:
        return {"auto_upgrade": True}


def override_of(raw: dict[str, Any] | None) -> VersioningOverride | None:
    """The override of its wire shape (None stays None)."""
    if not raw:
        return None
    if "pinned" in raw:
        version = raw["pinned"]["version"]
        return PinnedVersioningOverride(
            WorkerDeploymentVersion(version["deployment_name"], version["build_id"])
        )
    return AutoUpgradeVersioningOverride()


@dataclass(frozen=True)
class VersioningInfo:
    """A run's versioning (Temporal's WorkflowExecutionVersioningInfo): its effective
    behaviour, the version it is on, and its override."""

    behavior: VersioningBehavior
    deployment_version: WorkerDeploymentVersion | None
    versioning_override: VersioningOverride | None

    @staticmethod
    def from_raw(raw: dict[str, Any] | None) -> VersioningInfo | None:
        if raw is None:
            return None
        version = raw.get("deployment_version")
        return VersioningInfo(
            behavior=VersioningBehavior[raw.get("behavior") or "UNSPECIFIED"],
            deployment_version=(
                WorkerDeploymentVersion(version["deployment_name"], version["build_id"])
                if version
                else None
            ),
            versioning_override=override_of(raw.get("versioning_override")),
        )


@dataclass(frozen=True)
class WorkerDeploymentConfig:
    """A worker's version (temporalio.worker's). With `use_worker_versioning` the worker
    polls as that version and takes only the tasks routed to it; each workflow type's
    behaviour is its `@workflow.defn(versioning_behavior=...)`, else
    `default_versioning_behavior`."""

    version: WorkerDeploymentVersion
    use_worker_versioning: bool
    default_versioning_behavior: VersioningBehavior = VersioningBehavior.UNSPECIFIED

    def check(self, workflows: Iterable[Any]) -> None:
        """temporalio's rules at worker construction: a default only with versioning on, and a
        versioned worker without a default refuses a workflow type that declares none."""
        unspecified = VersioningBehavior.UNSPECIFIED
        if not self.use_worker_versioning:
            if self.default_versioning_behavior != unspecified:
                raise ValueError(
                    "default_versioning_behavior must be UNSPECIFIED when "
                    "use_worker_versioning is False"
                )
            return
        if self.default_versioning_behavior != unspecified:
            return
        for definition in workflows:
            if (definition.versioning_behavior or unspecified) == unspecified:
                raise ValueError(
                    f"Workflow {definition.name} must specify a versioning behavior using the "
                    "`versioning_behavior` argument to `@workflow.defn`"
                )

    def options(self) -> dict[str, Any]:
        """The `deployment_options` member of polls and completions ({} when unversioned)."""
        if not self.use_worker_versioning:
            return {}
        return {
            "deployment_options": {
                **self.version.to_json(),
                "worker_versioning_mode": "VERSIONED",
            }
        }

    def completion(self, definition: Any) -> dict[str, Any]:
        """The members a workflow task completion of `definition`'s type adds."""
        if not self.use_worker_versioning:
            return {}
        behavior = VersioningBehavior(
            definition.versioning_behavior or self.default_versioning_behavior
        )
        return {"versioning_behavior": behavior.name, **self.options()}


# A worker without a deployment configuration: polls and completes as it always did.
UNVERSIONED = WorkerDeploymentConfig(WorkerDeploymentVersion("", ""), use_worker_versioning=False)
