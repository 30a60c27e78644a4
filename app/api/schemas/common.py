"""Pieces shared by many request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, Field

from app.allowed_characters import check_name, check_text
from app.engine.bounds import TIME_RANGE, in_utc
from app.engine.run_limits import MAX_ID_LENGTH
from app.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# Ids and names hold no control characters, free text no control characters but tab and line
# breaks (app/allowed_characters.py); path and query parameters get the same rule from app/api/edge.py.
NameRule = AfterValidator(check_name)
TextRule = AfterValidator(check_text)
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), NameRule]
Identity = Annotated[str, Field(max_length=1000), NameRule]
RunId = Annotated[str, Field(max_length=64), NameRule]

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
PageToken = Annotated[
    str | None, Query(max_length=2000, description="`next_page_token` of the previous page")
]
DEFAULT_PAGE = DEFAULT_PAGE_SIZE


def as_utc(moment: datetime) -> datetime:
    """In UTC (a time without an offset is taken as UTC); out-of-range times are refused, as
    converting "9999-12-31T23:59:59-23:59" to UTC overflows (app/engine/bounds.py)."""
    found = in_utc(moment)
    if found is None:
        raise ValueError(f"the time must lie {TIME_RANGE} once converted to UTC")
    return found


Moment = Annotated[datetime, AfterValidator(as_utc)]
# A time a caller gives with its UTC offset, kept in UTC and within the range of times.
Instant = Annotated[AwareDatetime, AfterValidator(as_utc)]
