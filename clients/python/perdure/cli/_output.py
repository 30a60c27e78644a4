"""What commands print, in Temporal CLI's `--output` forms: `text` for people (aligned fields,
tables), `json` one document (an array for lists), `jsonl` one object a line, `none` nothing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

FORMATS = ("text", "json", "jsonl", "none")
# A table column: its heading and how to read it from an item.
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    """A column reader for a top-level (`a`) or nested (`a.b`) key."""

    def read(item: dict[str, Any]) -> Any:
        value: Any = item
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    return read


def compact(value: Any) -> str:
    """A value on one line: strings as they are, the rest as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Output:
    """Prints a command's answers in the chosen form."""

    def __init__(self, form: str) -> None:
        self.form = form

    @property
    def text(self) -> bool:
        return self.form == "text"

    def say(self, line: str = "") -> None:
        """A line for people, only in the text form."""
        if self.text:
            print(line, flush=True)

    def document(self, value: Any, text: Callable[[Any], None] | None = None) -> None:
        """One answer: `text` prints it for people (default: its fields, aligned)."""
        if self.form in ("json", "jsonl"):
            indent = 2 if self.form == "json" else None
            print(json.dumps(value, indent=indent, ensure_ascii=False), flush=True)
        elif self.text:
            (text or self.fields)(value)

    def fields(self, value: Any, skip: Sequence[str] = ()) -> None:
        """A mapping as `name  value` lines, nested mappings as `outer.inner`."""
        if not isinstance(value, dict):
            print(compact(value), flush=True)
            return
        rows = list(_flatten(value, skip))
        width = max((len(name) for name, _ in rows), default=0)
        for name, item in rows:
            print(f"  {name.ljust(width)}  {compact(item)}".rstrip(), flush=True)

    def items(self, pages: Iterable[list[dict[str, Any]]], columns: Sequence[Column]) -> int:
        """The items of a list route: a table per page in text (headings once), a JSON array
        of all of them, or one line each; the number printed."""
        collected: list[dict[str, Any]] = []
        count = 0
        for page in pages:
            count += len(page)
            if self.form == "json":
                collected += page
            elif self.form == "jsonl":
                for item in page:
                    print(json.dumps(item, ensure_ascii=False), flush=True)
            elif self.text and page:
                self.table(page, columns, headings=count == len(page))
        if self.form == "json":
            print(json.dumps(collected, indent=2, ensure_ascii=False), flush=True)
        return count

    def table(
        self, rows: list[dict[str, Any]], columns: Sequence[Column], headings: bool = True
    ) -> None:
        """Rows under column headings, each column as wide as its longest cell."""
        cells = [[compact(read(row)) for _, read in columns] for row in rows]
        names = [name for name, _ in columns]
        widths = [max(len(c) for c in column) for column in zip(names, *cells, strict=False)]
        lines = ([names] if headings else []) + cells
        for line in lines:
            text = "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
            print("  " + text.rstrip(), flush=True)


def _flatten(
    value: dict[str, Any], skip: Sequence[str], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if name in skip:
            continue
        if isinstance(item, dict) and item:
            yield from _flatten(item, skip, f"{name}.")
        else:
            yield name, item


def error_line(message: str) -> None:
    print(f"perdure: {message}", file=sys.stderr, flush=True)
