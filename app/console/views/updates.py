"""A run's Update action: send the workflow an update from the run page and show its answer
(Temporal's Web UI has the same action). The rules are the API's (app/engine/updating.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from app.auth.roles import Permission
from app.console.views.workflows import _run_values
from app.console.web import Console, checked_form, form_json, render, signed_in
from app.engine import updating
from app.engine.payloads import dump_payload
from app.engine.updates import Admission
from app.errors import InvalidArgument
from app.ids import new_id

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
# How long the page waits for the update to complete before showing the stage reached.
CONSOLE_WAIT_SECONDS = 10.0


@router.post("/workflows/{workflow_id}/runs/{run_id}/update")
async def update_run(namespace: str, workflow_id: str, run_id: str, console: Page) -> Response:
    """Send an update (name, arguments as a JSON array, optional update id) to this run and
    show its outcome, or the stage it reached within CONSOLE_WAIT_SECONDS."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    name = str(form.get("update_name", "")).strip()
    if not name:
        raise InvalidArgument("name the update", field="update_name")
    args = form_json(str(form.get("args", "")), "args")
    if args is None:
        args = []
    if not isinstance(args, list):
        raise InvalidArgument('the arguments are a JSON array, e.g. [1, "two"]', field="args")
    request = updating.UpdateRequest(
        namespace_id=ref.id,
        workflow_id=workflow_id,
        run_id=run_id,
        first_execution_run_id=None,
        update=Admission(
            update_id=str(form.get("update_id", "")).strip() or new_id(),
            name=name,
            args_text=dump_payload(args, field="args"),
            header_text=None,
            identity=console.principal.key_name,
        ),
        wait_for_stage="COMPLETED",
    )
    answer = await updating.update_workflow(console.engine, request, CONSOLE_WAIT_SECONDS)
    values = await _run_values(console, namespace, workflow_id, run_id)
    return render(
        console.request, "run.html", console, title=workflow_id, update_answer=answer, **values
    )
