"""Models of the Worker Deployment routes: Temporal's DescribeWorkerDeployment,
ListWorkerDeployments, DescribeWorkerDeploymentVersion, SetWorkerDeploymentCurrentVersion and
SetWorkerDeploymentRampingVersion, in snake_case JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.api.schemas.common import Identity, NameRule
from app.api.schemas.workflows import Body

BuildId = Annotated[str, Field(max_length=255), NameRule]
VersionStatus = Literal["inactive", "current", "ramping", "draining", "drained"]
DrainageStatus = Literal["draining", "drained"]
QueueType = Literal["TASK_QUEUE_TYPE_WORKFLOW", "TASK_QUEUE_TYPE_ACTIVITY"]


class WorkerDeploymentVersion(BaseModel):
    """Temporal's WorkerDeploymentVersion; `build_id` "" names the unversioned workers."""

    deployment_name: str
    build_id: str


class RoutingConfig(BaseModel):
    current_version: WorkerDeploymentVersion = Field(
        description='Where new runs go; build_id "": the unversioned workers.'
    )
    ramping_version: WorkerDeploymentVersion | None = Field(
        description="Where `ramping_version_percentage` % of them go instead; null: no ramp, "
        'build_id "": the unversioned workers ramp.'
    )
    ramping_version_percentage: float
    current_version_changed_time: datetime | None
    ramping_version_changed_time: datetime | None
    revision_number: int = Field(description="Bumped by every routing change.")


class VersionDrainageInfo(BaseModel):
    status: DrainageStatus
    last_changed_time: datetime | None
    last_checked_time: datetime | None


class VersionSummary(BaseModel):
    version: WorkerDeploymentVersion
    status: VersionStatus
    create_time: datetime
    drainage_status: DrainageStatus | None
    drainage_info: VersionDrainageInfo | None
    current_since_time: datetime | None
    ramping_since_time: datetime | None
    routing_update_time: datetime | None
    first_activation_time: datetime | None
    last_deactivation_time: datetime | None
    last_poll_time: datetime | None


class WorkerDeploymentInfo(BaseModel):
    name: str
    create_time: datetime
    routing_config: RoutingConfig
    version_summaries: list[VersionSummary] = Field(description="Oldest first.")
    last_modifier_identity: str | None


class DescribedWorkerDeployment(BaseModel):
    worker_deployment_info: WorkerDeploymentInfo
    conflict_token: str = Field(
        description="Send it with a set-current or set-ramping request: the change is refused "
        "(409 conflict-token-mismatch) if the deployment changed meanwhile."
    )


class WorkerDeploymentSummary(BaseModel):
    name: str
    create_time: datetime
    routing_config: RoutingConfig


class WorkerDeploymentList(BaseModel):
    worker_deployments: list[WorkerDeploymentSummary]
    next_page_token: str | None


class TaskQueueInfo(BaseModel):
    name: str
    type: QueueType


class VersionPoller(BaseModel):
    task_queue: str
    type: QueueType
    last_access_time: datetime | None


class WorkerDeploymentVersionInfo(BaseModel):
    version: WorkerDeploymentVersion
    status: VersionStatus
    create_time: datetime
    current_since_time: datetime | None
    ramping_since_time: datetime | None
    routing_changed_time: datetime | None
    first_activation_time: datetime | None
    last_deactivation_time: datetime | None
    ramp_percentage: float
    drainage_info: VersionDrainageInfo | None
    task_queue_infos: list[TaskQueueInfo]
    workflow_types: list[str] = Field(description="Types its workers completed tasks of.")
    last_poll_time: datetime | None


class OpenRuns(BaseModel):
    PINNED: int
    AUTO_UPGRADE: int


class DescribedWorkerDeploymentVersion(BaseModel):
    worker_deployment_version_info: WorkerDeploymentVersionInfo
    pollers: list[VersionPoller] = Field(
        description="The version's task queues polled in the last 5 minutes."
    )
    open_runs: OpenRuns = Field(description="Open runs on the version, by behaviour.")


class PromotionBody(Body):
    conflict_token: Annotated[str, Field(max_length=100)] | None = Field(
        default=None,
        description="The deployment's conflict_token as read; absent: no check (as Temporal).",
    )
    identity: Identity | None = Field(
        default=None, description="Who makes the change (default: the API key's name)."
    )
    ignore_missing_task_queues: bool = Field(
        default=False,
        description="Skip the check that the version polls every task queue the current "
        "version polls.",
    )
    allow_no_pollers: bool = Field(
        default=False,
        description="Skip the check that a worker of the version polled in the last 5 minutes.",
    )
    ignore_replay_check: bool = Field(
        default=False, description="Skip the replay gate (a passing replay check)."
    )


class SetCurrentVersion(PromotionBody):
    build_id: BuildId = Field(description='"": the unversioned workers (a rollback).')


class SetRampingVersion(PromotionBody):
    build_id: BuildId = Field(
        description='"" with a percentage above 0: ramp the unversioned workers; "" with '
        "0: end the ramp."
    )
    percentage: float = Field(ge=0, le=100, description="0 to 100 (a float).")


class SetCurrentVersionAnswer(BaseModel):
    conflict_token: str
    previous_version: WorkerDeploymentVersion


class SetRampingVersionAnswer(BaseModel):
    conflict_token: str
    previous_version: WorkerDeploymentVersion | None = Field(
        description="The version that ramped before; null: none."
    )
    previous_percentage: float
