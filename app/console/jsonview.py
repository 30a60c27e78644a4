"""Payloads as a collapsible tree of <details> elements, built on the server within a budget.

A 2 MiB payload must not become a page the browser chokes on: at most MAX_NODES values are
drawn (MAX_ITEMS per object or array), strings are cut at MAX_STRING characters, and past the
budget the rest is summarised.
The browser only opens and closes elements; no script walks the JSON.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

import orjson
from markupsafe import Markup

MAX_NODES = 1500
MAX_ITEMS = 200  # per object or array, so one long list does not use up the whole budget
MAX_STRING = 2000
OPEN_DEPTH = 2


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= MAX_STRING else value[:MAX_STRING]
        more = (
            f'<span class="j-cut"> … {len(value) - MAX_STRING:,} more characters</span>'
            if len(value) > MAX_STRING
            else ""
        )
        return f'<span class="j-str">"{escape(shown)}"</span>{more}'
    if value is None:
        return '<span class="j-null">null</span>'
    if isinstance(value, bool):
        return f'<span class="j-bool">{"true" if value else "false"}</span>'
    return f'<span class="j-num">{escape(str(value))}</span>'


def _encoding(value: Any) -> str | None:
    """The encoding of a payload envelope (`{"metadata": {"encoding": <base64>}, "data":
    <base64>}`, how SDKs send bytes, custom encodings and codec output), else None."""
    if not (isinstance(value, dict) and value.keys() == {"metadata", "data"}):
        return None
    metadata = value["metadata"]
    if not isinstance(metadata, dict) or not isinstance(metadata.get("encoding"), str):
        return None
    try:
        return base64.b64decode(metadata["encoding"], validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _node(value: Any, depth: int, budget: _Budget, out: list[str]) -> None:
    budget.left -= 1
    encoding = _encoding(value)
    if encoding is not None:
        # Not readable as JSON (a codec's, or bytes): say so rather than show base64.
        size = len(str(value["data"])) * 3 // 4
        out.append(
            f'<span class="j-encoded">encoded</span> '
            f'<span class="j-size">{escape(encoding)}, about {size:,} bytes</span>'
        )
        return
    if not isinstance(value, dict | list):
        out.append(_scalar(value))
        return
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    brackets = "{}" if isinstance(value, dict) else "[]"
    if not items:
        out.append(f'<span class="j-punct">{brackets}</span>')
        return
    summary = f"{len(items)} {'keys' if isinstance(value, dict) else 'items'}"
    opened = " open" if depth < OPEN_DEPTH else ""
    out.append(
        f'<details class="j-node"{opened}><summary><span class="j-punct">{brackets[0]}</span>'
        f'<span class="j-size">{summary}</span></summary><ul class="j-list">'
    )
    for index, (key, child) in enumerate(items):
        if budget.left <= 0 or index >= MAX_ITEMS:
            out.append(f'<li class="j-cut">… {len(items) - index:,} more not shown</li>')
            break
        label = (
            f'<span class="j-key">"{escape(str(key))}"</span>: '
            if isinstance(value, dict)
            else f'<span class="j-idx">{key}</span> '
        )
        out.append(f"<li>{label}")
        _node(child, depth + 1, budget, out)
        out.append("</li>")
    out.append(f'</ul><span class="j-punct">{brackets[1]}</span></details>')


def render(value: Any) -> Markup:
    """The value as HTML (escaped), at most MAX_NODES values drawn."""
    out: list[str] = ['<div class="json" tabindex="0">']
    _node(value, 0, _Budget(), out)
    out.append("</div>")
    return Markup("".join(out))


def text(value: Any) -> str:
    """Compact JSON text, for copy buttons and form fields."""
    return orjson.dumps(value).decode()
