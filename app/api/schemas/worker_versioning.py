"""Worker Versioning members of the worker and workflow routes (Temporal's names): a poller's
deployment options, a run's versioning override and versioning info, and the update-options
route's body."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas.common import NameRule, RunId

VersionName = Annotated[str, Field(min_length=1, max_length=255), NameRule]


class WorkerVersioningMode(StrEnum):
    VERSIONED = "VERSIONED"
    UNVERSIONED = "UNVERSIONED"


class VersioningBehavior(StrEnum):
    PINNED = "PINNED"
    AUTO_UPGRADE = "AUTO_UPGRADE"
    UNSPECIFIED = "UNSPECIFIED"


class DeploymentVersion(BaseModel):
    """A Worker Deployment Version (canonical string `deployment_name.build_id`)."""

    model_config = ConfigDict(extra="forbid")
    deployment_name: VersionName = Field(description="May not contain '.'.")
    build_id: VersionName


class DeploymentOptions(BaseModel):
    """Temporal's WorkerDeploymentOptions: the poller's version. UNVERSIONED polls as an
    unversioned worker (as does a poll without them)."""

    model_config = ConfigDict(extra="forbid")
    deployment_name: VersionName = Field(description="May not contain '.'.")
    build_id: VersionName
    worker_versioning_mode: WorkerVersioningMode = WorkerVersioningMode.VERSIONED


class PinnedOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    behavior: Literal["PINNED"] = "PINNED"
    version: DeploymentVersion


class VersioningOverride(BaseModel):
    """Temporal's VersioningOverride: exactly one of `pinned` (every task of the run goes to
    this version's workers) and `auto_upgrade` (the run follows its deployment's current or
    ramping version), whatever behaviour its workflow type declares."""

    model_config = ConfigDict(extra="forbid")
    pinned: PinnedOverride | None = None
    auto_upgrade: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VersioningOverride:
        if (self.pinned is None) == (self.auto_upgrade is None):
            raise ValueError("set exactly one of pinned and auto_upgrade")
        return self

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class VersioningInfo(BaseModel):
    """Temporal's WorkflowExecutionVersioningInfo (null for an unversioned run)."""

    behavior: VersioningBehavior = Field(
        description="The effective behaviour: the override's, else what the run's workers "
        "declared (the first completed task of a run on a versioned worker fixes it)."
    )
    deployment_version: DeploymentVersion | None = Field(
        description="Pinned: the version it is pinned to; auto-upgrade: the version of its "
        "last completed workflow task."
    )
    versioning_override: dict[str, Any] | None


class WorkflowExecutionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    versioning_override: VersioningOverride | None = None


class UpdateWorkflowOptions(BaseModel):
    """Temporal's UpdateWorkflowExecutionOptions: the fields named in `update_mask` are set
    from `workflow_execution_options` (an absent or null override removes it)."""

    model_config = ConfigDict(extra="forbid")
    run_id: RunId | None = Field(default=None, description="Default: the latest run.")
    workflow_execution_options: WorkflowExecutionOptions
    update_mask: Literal["versioning_override"] = "versioning_override"
    identity: Annotated[str, Field(max_length=1000), NameRule] | None = None


class WorkflowOptions(BaseModel):
    workflow_execution_options: dict[str, Any] = Field(
        description="The run's options after the update: `{versioning_override}`."
    )
