"""Models of the stored-definition routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DefinitionName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Definition(BaseModel):
    name: str
    version: int
    language: str = Field(description="`asl`: Amazon States Language (JSONPath mode).")
    digest: str = Field(description="SHA-256 of the canonical JSON of `definition`.")
    created_at: datetime
    definition: dict[str, Any]


class DefinitionPage(BaseModel):
    definitions: list[Definition] = Field(description="The latest version of each name.")
    next_page_token: str | None


class DefinitionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: DefinitionName
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Omitted: the latest version when the run starts."
    )


class MockError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: str
    cause: str | None = None  # omitted: the error has no cause


class Mock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: Any = None
    error: MockError | None = None


class TestStateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any] = Field(description="One state's JSON.")
    input: Any = Field(default_factory=dict)
    state_name: Annotated[str, Field(min_length=1, max_length=80)] = "TestState"
    mock: Mock | None = Field(
        default=None, description="The Task's (or Parallel's, Map's) result or error."
    )


class TestStateAnswer(BaseModel):
    status: str = Field(description="SUCCEEDED, CAUGHT_ERROR, RETRIABLE or FAILED.")
    output: Any = None
    next_state: str | None = None
    error: str | None = None
    cause: str | None = None
    wait_seconds: float | None = None
    retry_delay_seconds: float | None = None
    inspection_data: dict[str, Any] = Field(
        description="input, afterInputPath, afterParameters, result, afterResultSelector, afterResultPath."
    )
