"""Which characters ids, names and free text may hold: one rule for every route.

Ids and names (workflow ids, types, task queues, activity ids, signal and query names,
namespaces, keys, webhooks, identities, run ids, …) hold any Unicode text except control
characters (U+0000–U+001F, U+007F–U+009F): they are compared, logged, put in headers and stored
in plain text columns, where PostgreSQL refuses NUL. Free text (reasons, descriptions, failure
messages) may also hold tab, line feed and carriage return. Payloads are JSON values stored as
JSON text and may hold any string JSON can carry.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

NAME_RULE = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
TEXT_RULE = "must not contain control characters other than tab, line feed and carriage return"


def name_problem(value: str) -> str | None:
    """Why `value` cannot be an id or a name, or None when it can."""
    found = _CONTROL.search(value)
    return None if found is None else f"{NAME_RULE}; found U+{ord(found.group()):04X}"


def check_name(value: str) -> str:
    """A pydantic validator: the id or name unchanged, or ValueError saying why not."""
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def text_problem(value: str) -> str | None:
    """Why `value` cannot be free text, or None when it can."""
    found = _CONTROL_IN_TEXT.search(value)
    return None if found is None else f"{TEXT_RULE}; found U+{ord(found.group()):04X}"


def check_text(value: str) -> str:
    """A pydantic validator for free text (reasons, descriptions, messages)."""
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value
