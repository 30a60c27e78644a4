"""Pydantic models as workflow and activity values (Temporal's `contrib.pydantic`).

Perdure's JSON converter already writes models with `model_dump(mode="json")` and reads them
back with `model_validate` against the type hints, so these are the default converter under
Temporal's names."""

from __future__ import annotations

from perdure.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)


class PydanticJSONPlainPayloadConverter(DefaultPayloadConverter):
    """The JSON converter, which handles pydantic models (Temporal's name)."""


class PydanticPayloadConverter(DefaultPayloadConverter):
    """The default converter, pydantic-aware (Temporal's name)."""


pydantic_data_converter = DataConverter(payload_converter_class=PydanticPayloadConverter)
"""Temporal's `pydantic_data_converter`: pass it as `Client.connect(data_converter=...)`."""

__all__ = [
    "CompositePayloadConverter",
    "EncodingPayloadConverter",
    "JSONPlainPayloadConverter",
    "PydanticJSONPlainPayloadConverter",
    "PydanticPayloadConverter",
    "pydantic_data_converter",
]
