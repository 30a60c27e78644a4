"""Search attributes read back in Temporal's untyped form (temporalio's `SearchAttributes`,
`Mapping[str, list[value]]`): every value a list, a single value a one-element list, the
values of a `Datetime` attribute as aware `datetime`s (temporalio.converter
`decode_search_attributes`). The server's JSON keeps the values as they were given; the types
come from the namespace's registered attributes (`GET …/search-attributes`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

DATETIME = "Datetime"


def _moment(value: Any) -> Any:
    """An RFC 3339 string as an aware datetime (anything else as it is)."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return value
    return value


def untyped(raw: Mapping[str, Any] | None, types: Mapping[str, str]) -> dict[str, list[Any]]:
    """`raw` (name → value or list of values, as the server stores them) in Temporal's
    untyped form; `types` is name → type name (`Keyword`, `Datetime`, …), names it lacks
    keep their values as they are."""
    answer: dict[str, list[Any]] = {}
    for name, value in (raw or {}).items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        if types.get(name) == DATETIME:
            values = [_moment(v) for v in values]
        answer[name] = values
    return answer


class TypeCache:
    """The namespace's search attribute types, fetched once and again only when a name is
    not known yet (a registered attribute's type never changes: the server refuses that)."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}

    async def for_names(self, http: Any, names: Any) -> dict[str, str]:
        """The types, fetched first when any of `names` is not known."""
        if any(name not in self.types for name in names):
            answer = (await http.call("GET", "/search-attributes")).json()
            self.types.update(answer.get("system_attributes") or {})
            self.types.update(answer.get("custom_attributes") or {})
        return self.types


async def started_types(instance: Any, events: list[dict[str, Any]], client: Any) -> None:
    """Give a workflow instance the types of the search attributes its run started with, so
    `workflow.info().search_attributes` reads Datetime values as datetimes (Temporal's)."""
    for event in events:
        if event.get("event_type") == "WORKFLOW_EXECUTION_STARTED":
            names = (event.get("attributes") or {}).get("search_attributes") or {}
            if names:
                cache = client.search_attribute_types
                instance.search_attribute_types = await cache.for_names(client.http, names)
