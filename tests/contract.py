"""Every JSON answer the suite's servers send matches its route's documented response: each
body is validated against the schema the app's OpenAPI document (`openapi.json`) gives for its
path, method and status (JSON Schema 2020-12, as OpenAPI 3.1 defines it), so clients generated
from `openapi.json` (the TypeScript client) can trust it.

`PERDURE_CONTRACT=report` writes mismatches to `test-artifacts/contract.jsonl` instead of
failing, for surveying a change."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

REPORT = os.environ.get("PERDURE_CONTRACT", "") == "report"
REPORT_FILE = Path(__file__).resolve().parents[1] / "test-artifacts" / "contract.jsonl"
# Mismatches seen by any of the suite's servers; the suite fails the test that caused one.
BROKEN: list[str] = []


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    template: str
    operations: dict[str, dict[str, Any]]


class ResponseContract:
    """The documented responses of an OpenAPI document, looked up by request."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:perdure:openapi", Resource.opaque(document)
        )
        self.routes = [
            _Route(_pattern(template), template, operations)
            for template, operations in document.get("paths", {}).items()
        ]
        # Literal segments first, so /workflows/count is not taken for /workflows/{id}.
        self.routes.sort(key=lambda r: r.template.count("{"))
        self._validators: dict[tuple[str, str, str], Draft202012Validator | None] = {}

    def schema_for(self, method: str, path: str, status: int) -> Draft202012Validator | None:
        """The validator of the JSON body documented for this answer, None when the route or
        status documents none (a 204, a problem answered by the edge, a non-JSON page)."""
        for route in self.routes:
            if route.pattern.fullmatch(path):
                operation = route.operations.get(method.lower())
                if operation is None:
                    return None
                key = (route.template, method, str(status))
                if key not in self._validators:
                    self._validators[key] = self._validator(operation, status)
                return self._validators[key]
        return None

    def _validator(self, operation: dict[str, Any], status: int) -> Draft202012Validator | None:
        responses = operation.get("responses", {})
        answer = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if answer is None:
            return None
        media = answer.get("content", {})
        schema = (media.get("application/json") or media.get("application/problem+json") or {}).get(
            "schema"
        )
        if not schema:
            return None
        rooted = _root_refs(schema)
        return Draft202012Validator(rooted, registry=self.registry)

    def check(self, method: str, path: str, status: int, body: bytes) -> str | None:
        """Validate one JSON answer against its documented schema: None when it matches (or
        documents nothing), else where and how it does not."""
        validator = self.schema_for(method, path, status)
        if validator is None:
            return None
        try:
            document = json.loads(body)
        except ValueError:
            return f"{method} {path} → {status}: the body is not JSON"
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(body)"
        return f"{method} {path} → {status}: {where}: {first.message[:300]}"


class ContractChecked:
    """ASGI middleware for the suite's servers: every JSON answer they send is checked against
    the contract, whoever asked (a test's httpx client, the SDK, a worker); mismatches are kept
    in `broken` for the suite to fail on (a check must not change what the client receives)."""

    def __init__(self, app: Any, contract: ResponseContract) -> None:
        self.app = app
        self.contract = contract

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {"status": 0, "json": False, "body": []}

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
                answer["json"] = bool(types) and types[0].split(b";")[0].strip() in (
                    b"application/json",
                    b"application/problem+json",
                )
            elif message["type"] == "http.response.body" and answer["json"]:
                answer["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._check(scope, answer)
            await send(message)

        await self.app(scope, receive, watch)

    def _check(self, scope: dict[str, Any], answer: dict[str, Any]) -> None:
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        found = self.contract.check(
            scope["method"], path, answer["status"], b"".join(answer["body"])
        )
        if found is None:
            return
        if REPORT:
            REPORT_FILE.parent.mkdir(exist_ok=True)
            with REPORT_FILE.open("a") as out:
                out.write(json.dumps({"broken": found}) + "\n")
            return
        BROKEN.append(found)


_contract: ResponseContract | None = None


def checked(app: Any) -> ContractChecked:
    """`app` behind the contract check (the contract read once per test process)."""
    global _contract
    if _contract is None:
        _contract = ResponseContract(app.openapi())
    return ContractChecked(app, _contract)


def _pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex over the raw (percent-encoded) path: a parameter is one
    segment, except a trailing `{…:path}`."""
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        ("(.+)" if part.endswith(":path}") else "([^/]+)")
        if part.startswith("{")
        else re.escape(part)
        for part in parts
    )
    return re.compile(regex)


def _root_refs(node: Any) -> Any:
    """The schema with its local `#/components/…` references pointed at the whole document."""
    if isinstance(node, dict):
        return {
            k: (f"urn:perdure:openapi{v}" if k == "$ref" and v.startswith("#") else _root_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_root_refs(item) for item in node]
    return node
