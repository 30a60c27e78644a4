"""A run's versioning: its override, what it inherited, what its workers declared, and the
effective behaviour and version that route its tasks (Temporal's
WorkflowExecutionVersioningInfo).

`workflow_runs.versioning_behavior`, `deployment_name` and `build_id` hold the effective
state: an override wins; else what the worker of the last completed workflow task declared;
else what the run inherited at start. A PINNED run's tasks carry its version
(`tasks.pinned_version`); every other task is routed at claim time (routing.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from app.db.hot import hot
from app.db.tables import tasks, worker_deployment_task_queues, worker_deployment_versions
from app.engine.payloads import dump, load
from app.engine.versioning import routing
from app.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from app.engine.transition import Run, Transition

PINNED = "PINNED"
AUTO_UPGRADE = "AUTO_UPGRADE"
BEHAVIORS = (PINNED, AUTO_UPGRADE)
MAX_WORKFLOW_TYPES = 1000  # per version (what a replay check samples)
MAX_NAME_LENGTH = 255

# (namespace, deployment, build) -> workflow types this process knows the version has.
_known_types: dict[tuple[str, str, str], set[str]] = {}
MAX_KNOWN_VERSIONS = 10_000


def validate_version(value: Any, field: str) -> tuple[str, str]:
    """(deployment_name, build_id) of a `{"deployment_name", "build_id"}` object; InvalidArgument
    naming `field` otherwise. Temporal's rules: both non-empty, at most 255 characters, and
    no '.' in the deployment name (the canonical string's delimiter)."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be an object", field=field)
    name, build = value.get("deployment_name"), value.get("build_id")
    for key, text in (("deployment_name", name), ("build_id", build)):
        if not isinstance(text, str) or not text or len(text) > MAX_NAME_LENGTH:
            raise InvalidArgument(
                f"{field}.{key} must be a string of 1 to {MAX_NAME_LENGTH} characters",
                field=f"{field}.{key}",
            )
    assert isinstance(name, str) and isinstance(build, str)
    if routing.VERSION_DELIMITER in name:
        raise InvalidArgument(
            f"{field}.deployment_name may not contain '{routing.VERSION_DELIMITER}'",
            field=f"{field}.deployment_name",
        )
    return name, build


def parse_override(value: Any, field: str = "versioning_override") -> dict[str, Any] | None:
    """The override as stored, from its wire shape: `{"pinned": {"behavior": "PINNED",
    "version": {...}}}` or `{"auto_upgrade": true}` (Temporal's VersioningOverride); None
    stays None. InvalidArgument for anything else."""
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"auto_upgrade"}:
        if value["auto_upgrade"] is not True:
            raise InvalidArgument(f"{field}.auto_upgrade must be true", field=field)
        return {"auto_upgrade": True}
    if isinstance(value, dict) and set(value) == {"pinned"} and isinstance(value["pinned"], dict):
        pinned = value["pinned"]
        if pinned.get("behavior", PINNED) != PINNED or not set(pinned) <= {"behavior", "version"}:
            raise InvalidArgument(
                f"{field}.pinned.behavior must be PINNED", field=f"{field}.pinned.behavior"
            )
        name, build = validate_version(pinned.get("version"), f"{field}.pinned.version")
        return {
            "pinned": {
                "behavior": PINNED,
                "version": {"deployment_name": name, "build_id": build},
            }
        }
    raise InvalidArgument(
        f"{field} must be {{'pinned': {{'behavior': 'PINNED', 'version': {{...}}}}}} "
        "or {'auto_upgrade': true}",
        field=field,
    )


def _pinned_version(override: dict[str, Any] | None) -> tuple[str, str] | None:
    if override is None or "pinned" not in override:
        return None
    version = override["pinned"]["version"]
    return version["deployment_name"], version["build_id"]


@dataclass
class VersioningStart:
    """What a new run starts with: an override (stored shape) and what it inherited
    (Temporal's `inherited_pinned_version` and `inherited_auto_upgrade_info`)."""

    override: dict[str, Any] | None = None
    inherited_pinned_version: dict[str, str] | None = None
    inherited_auto_upgrade_info: dict[str, Any] | None = None

    @property
    def inherited(self) -> dict[str, Any] | None:
        if self.inherited_pinned_version is not None:
            return {"pinned_version": self.inherited_pinned_version}
        if self.inherited_auto_upgrade_info is not None:
            return {"auto_upgrade_info": self.inherited_auto_upgrade_info}
        return None

    def columns(self) -> dict[str, Any]:
        """The new run's versioning columns."""
        behavior, version = effective(self.override, None, self.inherited)
        return {
            "versioning_override": dump(self.override) if self.override is not None else None,
            "versioning_inherited": dump(self.inherited) if self.inherited is not None else None,
            "declared_versioning": None,
            "versioning_behavior": behavior,
            "deployment_name": version[0] if version else None,
            "build_id": version[1] if version else None,
        }

    def started_attributes(self) -> dict[str, Any]:
        """WORKFLOW_EXECUTION_STARTED members (only those set, so unversioned starts record
        what they always did)."""
        attributes: dict[str, Any] = {}
        if self.override is not None:
            attributes["versioning_override"] = self.override
        if self.inherited_pinned_version is not None:
            attributes["inherited_pinned_version"] = self.inherited_pinned_version
        if self.inherited_auto_upgrade_info is not None:
            attributes["inherited_auto_upgrade_info"] = self.inherited_auto_upgrade_info
        return attributes


NO_VERSIONING = VersioningStart()


def effective(
    override: dict[str, Any] | None,
    declared: dict[str, Any] | None,
    inherited: dict[str, Any] | None,
) -> tuple[str | None, tuple[str, str] | None]:
    """(behaviour, version) that route a run: an override wins; else what the worker of its
    last completed workflow task declared (`{"behavior", "version"}`; a run's first task
    fixes it); else what it inherited; else unversioned (None, None)."""
    declared_version = _version_tuple(declared.get("version")) if declared else None
    if override is not None:
        pinned = _pinned_version(override)
        if pinned is not None:
            return PINNED, pinned
        return AUTO_UPGRADE, declared_version
    if declared is not None:
        behavior = declared.get("behavior")
        return (behavior, declared_version) if behavior in BEHAVIORS else (None, None)
    if inherited is not None and "pinned_version" in inherited:
        return PINNED, _version_tuple(inherited["pinned_version"])
    if inherited is not None:
        return AUTO_UPGRADE, None
    return None, None


def _version_tuple(value: dict[str, str] | None) -> tuple[str, str] | None:
    return (value["deployment_name"], value["build_id"]) if value else None


async def _set_effective(tx: Transition, run: Run, **changed: Any) -> None:
    """Set the run's versioning columns in `changed` and its effective state; a change of the
    version it is pinned to re-pins its queued tasks."""
    state = {
        "versioning_override": run.versioning_override,
        "declared_versioning": run.declared_versioning,
        **changed,
    }
    behavior, version = effective(
        load(state["versioning_override"]),
        load(state["declared_versioning"]),
        load(run.versioning_inherited),
    )
    before = pinned_version_of(run)
    run.set(
        **changed,
        versioning_behavior=behavior,
        deployment_name=version[0] if version else None,
        build_id=version[1] if version else None,
    )
    after = pinned_version_of(run)
    if after != before:
        await tx.conn.execute(REPIN_TASKS_OF_RUN, {"of_run": run.id, "new_pin": after})


REPIN_TASKS_OF_RUN = hot(
    sa.update(tasks)
    .where(tasks.c.run_id == sa.bindparam("of_run"))
    .values(pinned_version=sa.bindparam("new_pin"))
)


def pinned_version_of(run: Run) -> str | None:
    """The canonical version a run's tasks are pinned to, None when they are routed."""
    if run.data.get("versioning_behavior") != PINNED or not run.data.get("deployment_name"):
        return None
    return routing.canonical(run.deployment_name, run.build_id)


# -- completion of a workflow task -----------------------------------------------------------


async def on_workflow_task_completed(
    tx: Transition, run: Run, worker: tuple[str, str] | None, behavior: str | None
) -> dict[str, Any]:
    """Record what the completing worker declared (`worker`: its version, None when
    unversioned; `behavior`: PINNED, AUTO_UPGRADE or UNSPECIFIED/None) before the task's
    commands create tasks, so that they carry the run's new routing. Returns the members the
    WORKFLOW_TASK_COMPLETED event records ({} for an unversioned worker). An unversioned run
    completed by an unversioned worker costs nothing."""
    if worker is None:
        if run.declared_versioning is None and run.versioning_behavior is None:
            return {}
        declared: dict[str, Any] = {"behavior": None, "version": None}
    else:
        version = {"deployment_name": worker[0], "build_id": worker[1]}
        declared = {"behavior": behavior if behavior in BEHAVIORS else None, "version": version}
        await _learn_workflow_type(tx, run.namespace_id, worker, run.workflow_type)
    text = dump(declared)
    if text != run.declared_versioning:
        await _set_effective(tx, run, declared_versioning=text)
    if worker is None:
        return {}
    return {
        "versioning_behavior": behavior or "UNSPECIFIED",
        "worker_deployment_version": declared["version"],
    }


async def _learn_workflow_type(
    tx: Transition, namespace_id: str, worker: tuple[str, str], workflow_type: str
) -> None:
    """Add the type to the version's `workflow_types` (at most MAX_WORKFLOW_TYPES): written
    once per type and process, not per task."""
    key = (namespace_id, *worker)
    known = _known_types.get(key)
    if known is not None and workflow_type in known:
        return
    where = (
        worker_deployment_versions.c.namespace_id == namespace_id,
        worker_deployment_versions.c.deployment_name == worker[0],
        worker_deployment_versions.c.build_id == worker[1],
    )
    stored = await tx.conn.scalar(
        sa.select(worker_deployment_versions.c.workflow_types).where(*where)
    )
    types = set(stored or [])
    if workflow_type not in types and len(types) < MAX_WORKFLOW_TYPES:
        types.add(workflow_type)
        await tx.conn.execute(
            sa.update(worker_deployment_versions).where(*where).values(workflow_types=sorted(types))
        )
    if len(_known_types) >= MAX_KNOWN_VERSIONS:
        _known_types.clear()
    _known_types[key] = types


async def target_changed(tx: Transition, run: Run) -> bool:
    """Whether a pinned run's deployment now routes it (by its ramp bucket) to a version other
    than the one it is pinned to (Temporal's target_worker_deployment_version_changed: the
    worker's `is_target_worker_deployment_version_changed()`)."""
    found = await routing.read_routing(tx.conn, run.namespace_id, run.deployment_name)
    if found is None:
        return False
    target: str = found.target(routing.ramp_bucket(run.workflow_id))
    return bool(target != run.build_id)


# -- overrides on a running run --------------------------------------------------------------


async def update_override(tx: Transition, run: Run, override: dict[str, Any] | None) -> None:
    """Replace the run's override (None removes it); its tasks follow at once."""
    await _set_effective(
        tx, run, versioning_override=dump(override) if override is not None else None
    )


def versioning_info(row: Any) -> dict[str, Any] | None:
    """A run's `versioning_info` (Temporal's WorkflowExecutionVersioningInfo): `{behavior,
    deployment_version, versioning_override}`; None for an unversioned run."""
    behavior = row["versioning_behavior"]
    override = load(row["versioning_override"])
    if behavior is None and override is None:
        return None
    version = (
        {"deployment_name": row["deployment_name"], "build_id": row["build_id"]}
        if row["deployment_name"]
        else None
    )
    return {
        "behavior": behavior or "UNSPECIFIED",
        "deployment_version": version,
        "versioning_override": override,
    }


# -- inheritance (child, continue-as-new, retry, cron) ---------------------------------------


async def _queue_belongs(
    tx: Transition, namespace_id: str, version: tuple[str, str], task_queue: str
) -> bool:
    """Whether the version's workers poll `task_queue` for workflow tasks."""
    found = await tx.conn.scalar(
        sa.select(worker_deployment_task_queues.c.task_queue).where(
            worker_deployment_task_queues.c.namespace_id == namespace_id,
            worker_deployment_task_queues.c.deployment_name == version[0],
            worker_deployment_task_queues.c.build_id == version[1],
            worker_deployment_task_queues.c.task_queue == task_queue,
            worker_deployment_task_queues.c.kind == "workflow",
        )
    )
    return found is not None


async def inherit(
    tx: Transition,
    source: Run,
    task_queue: str,
    how: str,
    initial_behavior: str | None = None,
) -> VersioningStart:
    """What a run started from `source` inherits (Temporal's rules; `how`: 'child',
    'continue_as_new', 'retry' or 'cron'; `initial_behavior`: a continue-as-new's
    `initial_versioning_behavior`). A child or continued run of a pinned run keeps its version
    only if `task_queue` belongs to that version, and of an auto-upgrade run starts
    auto-upgrade; a continue-as-new asked to AUTO_UPGRADE starts auto-upgrade; a cron run never
    inherits; a retry inherits what the retried run inherited. A pinned override passes on
    when `task_queue` belongs to its version, an auto-upgrade one always (cron excepted)."""
    if how == "cron" or (
        source.versioning_behavior is None
        and source.versioning_override is None
        and source.versioning_inherited is None
    ):
        return NO_VERSIONING
    start = VersioningStart()
    override = load(source.versioning_override)
    if override is not None:
        pinned = _pinned_version(override)
        if pinned is None or await _queue_belongs(tx, source.namespace_id, pinned, task_queue):
            start.override = override
    if how == "retry":
        inherited = load(source.versioning_inherited) or {}
        start.inherited_pinned_version = inherited.get("pinned_version")
        start.inherited_auto_upgrade_info = inherited.get("auto_upgrade_info")
        return start
    version = (source.deployment_name, source.build_id) if source.deployment_name else None
    if source.versioning_behavior == PINNED and initial_behavior != AUTO_UPGRADE:
        if version is not None and await _queue_belongs(
            tx, source.namespace_id, version, task_queue
        ):
            start.inherited_pinned_version = {"deployment_name": version[0], "build_id": version[1]}
    elif source.versioning_behavior in BEHAVIORS:
        start.inherited_auto_upgrade_info = {
            "source_deployment_version": (
                {"deployment_name": version[0], "build_id": version[1]} if version else None
            ),
        }
    return start


async def may_take_next_task(tx: Transition, run: Run, worker: tuple[str, str] | None) -> bool:
    """Whether the completing worker (`worker`: its version, None unversioned) may be handed
    the run's next workflow task at once (return_new_workflow_task): only where a poll of it
    would be routed. An unversioned run on an unversioned queue costs no statement."""
    pinned = pinned_version_of(run)
    if pinned is not None:
        return worker is not None and routing.canonical(*worker) == pinned
    route = await routing.route_for(tx.conn, run.namespace_id, "workflow", run.task_queue, worker)
    if route is None:
        return worker is None
    return route.admits(None, routing.ramp_bucket(run.workflow_id))


async def update_options(
    tx: Transition,
    namespace_id: str,
    workflow_id: str,
    run_id: str | None,
    override: dict[str, Any] | None,
    identity: str,
) -> dict[str, Any]:
    """Temporal's UpdateWorkflowExecutionOptions for `versioning_override`: set (or, with
    None, remove) the open run's override; its queued tasks follow at once and its next
    workflow task goes where the new effective behaviour routes it. FailedPrecondition when
    the run is closed. Returns `{"versioning_override": ...}` as it now stands."""
    run = await tx.find_run(namespace_id, workflow_id, run_id)
    if not run.is_open:
        raise FailedPrecondition(
            f"workflow '{run.workflow_id}' run '{run.id}' is {run.status}, not running",
            run_status=run.status,
        )
    await update_override(tx, run, override)
    tx.note(
        logging.INFO,
        "workflow options updated",
        run,
        versioning_override=dump(override) if override is not None else None,
        identity=identity,
    )
    return {"versioning_override": override}
