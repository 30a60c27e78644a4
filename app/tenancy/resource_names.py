"""Rules for names chosen by users."""

from __future__ import annotations

import re

from app.errors import InvalidArgument

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_name(value: str, *, field: str = "name") -> str:
    if not NAME_PATTERN.match(value):
        raise InvalidArgument(
            f"{field} must be 1-200 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field=field,
        )
    return value
