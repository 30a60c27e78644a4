"""Temporal's converter objects over Perdure's plain-JSON payloads: `Payload`, the encoding
converters, `PayloadCodec`, and `DataConverter` (re-exported by `perdure.converter`).

On Perdure's wire a payload is a JSON value. A `Payload` (Temporal's shape: `metadata` of bytes
by key, `data` bytes) is what converters and codecs see; one whose encoding is `json/plain`
stands for the JSON value itself.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

JSON_PLAIN = b"json/plain"


@dataclass
class Payload:
    """Temporal's `Payload`: `metadata` (its `encoding` among them) and the encoded `data`."""

    metadata: dict[str, bytes] = field(default_factory=dict)
    data: bytes = b""

    @property
    def encoding(self) -> str:
        """The `encoding` metadata as text (`json/plain`, `binary/plain`, ...)."""
        return self.metadata.get("encoding", b"").decode()


class EncodingPayloadConverter(ABC):
    """Converts values of one encoding (Temporal's interface)."""

    @property
    @abstractmethod
    def encoding(self) -> str:
        """The `encoding` metadata this converter writes and reads."""

    @abstractmethod
    def to_payload(self, value: Any) -> Payload | None:
        """The payload of `value`, or None when this converter does not handle it."""

    @abstractmethod
    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The value a payload of this encoding holds, as `type_hint` says."""


class BinaryNullPayloadConverter(EncodingPayloadConverter):
    """`None` as `binary/null`."""

    @property
    def encoding(self) -> str:
        return "binary/null"

    def to_payload(self, value: Any) -> Payload | None:
        return Payload({"encoding": b"binary/null"}) if value is None else None

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return None


class BinaryPlainPayloadConverter(EncodingPayloadConverter):
    """`bytes` as `binary/plain`."""

    @property
    def encoding(self) -> str:
        return "binary/plain"

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, bytes):
            return Payload({"encoding": b"binary/plain"}, value)
        return None

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return payload.data


class JSONPlainPayloadConverter(EncodingPayloadConverter):
    """Any JSON-able value (dataclasses, pydantic models, datetimes, enums...) as
    `json/plain`, read back against the type hint as Perdure's converter does."""

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        from perdure.converter import to_json

        data = json.dumps(to_json(value), separators=(",", ":"), sort_keys=True)
        return Payload({"encoding": JSON_PLAIN}, data.encode())

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        from perdure.converter import from_json

        return from_json(json.loads(payload.data), type_hint)


class PayloadConverter(ABC):
    """Values to payloads and back (Temporal's interface)."""

    @abstractmethod
    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """One payload per value."""

    @abstractmethod
    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        """One value per payload, each as its type hint says."""

    def to_payload(self, value: Any) -> Payload:
        """The payload of one value."""
        return self.to_payloads([value])[0]

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        """The value of one payload."""
        return self.from_payloads([payload], None if type_hint is None else [type_hint])[0]


class CompositePayloadConverter(PayloadConverter):
    """Tries its encoding converters in order to write; reads by the payload's encoding."""

    def __init__(self, *converters: EncodingPayloadConverter) -> None:
        self.converters = {c.encoding.encode(): c for c in converters}

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        payloads = []
        for value in values:
            for converter in self.converters.values():
                payload = converter.to_payload(value)
                if payload is not None:
                    payloads.append(payload)
                    break
            else:
                raise RuntimeError(f"no payload converter handles {type(value).__name__}")
        return payloads

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[Any] | None = None
    ) -> list[Any]:
        values = []
        for index, payload in enumerate(payloads):
            encoding = payload.metadata.get("encoding", b"")
            converter = self.converters.get(encoding)
            if converter is None:
                raise KeyError(f"unknown payload encoding {encoding.decode(errors='replace')}")
            hint = type_hints[index] if type_hints and index < len(type_hints) else None
            values.append(converter.from_payload(payload, hint))
        return values


class DefaultPayloadConverter(CompositePayloadConverter):
    """Temporal's default order: null, bytes, then JSON."""

    default_encoding_payload_converters: ClassVar[tuple[EncodingPayloadConverter, ...]] = (
        BinaryNullPayloadConverter(),
        BinaryPlainPayloadConverter(),
        JSONPlainPayloadConverter(),
    )

    def __init__(self) -> None:
        super().__init__(*self.default_encoding_payload_converters)


class PayloadCodec(ABC):
    """Transforms payloads on their way to and from the server (encryption, compression)."""

    @abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """The payloads as they are to be stored."""

    @abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """The payloads as the converter reads them (the inverse of `encode`)."""


@dataclass(frozen=True)
class DataConverter:
    """Temporal's `DataConverter`: a payload converter class and an optional codec."""

    payload_converter_class: type[PayloadConverter] = DefaultPayloadConverter
    payload_codec: PayloadCodec | None = None
    payload_converter: PayloadConverter = dataclasses.field(init=False)

    default: ClassVar[DataConverter]

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_converter", self.payload_converter_class())


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """The default data converter (plain JSON, no codec)."""
    return DataConverter.default


def envelope(payload: Payload) -> dict[str, Any]:
    """A payload as it travels when it is not plain JSON (Temporal's HTTP API form):
    `{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}`."""
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def is_envelope(value: Any) -> bool:
    """Whether a JSON value is a payload envelope (an object of exactly `metadata`, `data`)."""
    return (
        isinstance(value, dict)
        and value.keys() == {"metadata", "data"}
        and isinstance(value["metadata"], dict)
        and isinstance(value["data"], str)
    )


def from_envelope(value: dict[str, Any]) -> Payload:
    """The payload of an envelope."""
    return Payload(
        {k: base64.b64decode(v) for k, v in value["metadata"].items()},
        base64.b64decode(value["data"]),
    )


def open_envelope(value: Any) -> Any:
    """The value an envelope holds when the default converter can read it (JSON, bytes,
    null); anything else (another encoding, a codec's output) stays as it is."""
    if not is_envelope(value):
        return value
    payload = from_envelope(value)
    converter = DefaultPayloadConverter()
    if payload.metadata.get("encoding") in converter.converters:
        return converter.from_payload(payload)
    return value


def to_raw_values(wire: Any) -> list[Any]:
    """The `RawValue`s of a wire payload's positional arguments (dynamic handlers take them)."""
    from perdure.common import RawValue
    from perdure.converter import split_args

    converter = default().payload_converter
    return [RawValue(converter.to_payload(value)) for value in split_args(wire)]
