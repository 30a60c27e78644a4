"""Models of the stored-definition routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.engine.run_limits import MAX_COUNTER

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


AliasName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]


class DefinitionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: DefinitionName
    version: Annotated[int, Field(ge=1, le=MAX_COUNTER)] | None = Field(
        default=None, description="Omitted: the latest version when the run starts."
    )
    alias: AliasName | None = Field(
        default=None,
        description="Start through this alias: the version is drawn from its routing "
        "(Step Functions' alias ARN). Not with `version`.",
    )

    @model_validator(mode="after")
    def _version_or_alias(self) -> DefinitionRef:
        if self.version is not None and self.alias is not None:
            raise ValueError("set at most one of version and alias")
        if self.alias is not None and self.alias.isdigit():
            raise ValueError("an alias name is never all digits (that names a version)")
        return self


class AliasRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[int, Field(ge=1, le=MAX_COUNTER)]
    weight: Annotated[int, Field(ge=0, le=100)] = Field(description="Percent of new runs")


class AliasPut(BaseModel):
    """AWS CreateStateMachineAlias / UpdateStateMachineAlias."""

    model_config = ConfigDict(extra="forbid")
    routing: list[AliasRoute] = Field(
        min_length=1,
        max_length=2,
        description="One version (weight 100), or two whose integer weights sum to 100.",
    )
    description: Annotated[str, Field(max_length=256)] = ""


class Alias(BaseModel):
    name: str = Field(description="The definition's name")
    alias: str
    description: str
    routing: list[AliasRoute]
    created_at: datetime
    updated_at: datetime


class AliasList(BaseModel):
    aliases: list[Alias]


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
