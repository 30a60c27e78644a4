"""Pieces shared by many request and response models."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
PageToken = Annotated[
    str | None, Query(max_length=2000, description="`next_page_token` of the previous page")
]
DEFAULT_PAGE = DEFAULT_PAGE_SIZE
