"""Payloads are plain JSON. Values go out as JSON and come back checked against type hints.

Positional arguments travel as one payload whose form keeps their count (any language can
write and read it):

- no argument: `null` (or the field left out);
- one argument whose JSON is neither an array nor `null`: that value itself;
- anything else (several arguments, or a single array or `null`): a JSON array of them.

So an array always lists arguments: a single array argument is wrapped (`[[1, 2]]`), a single
`null` is `[null]`. Reading a value back refuses what its type hint does not allow (a string
for an `int`), as Temporal's JSON converter does, with `TypeError`.

Temporal's converter objects sit over these plain-JSON payloads (one module, as
`temporalio.converter`): `Payload`, the encoding converters, `PayloadCodec`, and
`DataConverter`. A `Payload` (Temporal's shape: `metadata` of bytes by key, `data` bytes) is
what converters and codecs see; one whose encoding is `json/plain` stands for the JSON value
itself.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import enum
import inspect
import json
import types
import typing
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from perdure.common import RawValue


def to_json(value: Any) -> Any:
    """A JSON-ready form of `value` (dataclasses and pydantic models become objects; `bytes`
    and a `Payload` become the payload envelope, see `envelope`)."""
    if isinstance(value, bytes | bytearray):
        return envelope(Payload({"encoding": b"binary/plain"}, bytes(value)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def from_json(value: Any, hint: Any) -> Any:
    """`value` as `hint` says; `TypeError` when it is not of that type (no hint: as it is).
    A payload envelope is opened first (`bytes`, or JSON a codec gave back)."""
    if isinstance(value, dict) and "metadata" in value and "data" in value:
        value = open_envelope(value)
    if hint is None or hint is Any or hint is object or hint is inspect.Parameter.empty:
        return value
    if isinstance(hint, typing.TypeVar):
        return value
    if hint is type(None):
        if value is not None:
            raise TypeError(f"expected null, got {_kind(value)}")
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _one_of(value, hint, typing.get_args(hint))
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise TypeError(f"expected one of {typing.get_args(hint)}, got {value!r}")
        return value
    if isinstance(hint, type):
        return _of_class(value, hint)
    if origin is not None and isinstance(origin, type):
        return _of_generic(value, hint, origin, typing.get_args(hint))
    raise TypeError(f"cannot read a value as {hint!r}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _one_of(value: Any, hint: Any, options: tuple[Any, ...]) -> Any:
    for option in options:
        try:
            return from_json(value, option)
        except (TypeError, ValueError):
            continue
    raise TypeError(f"expected {hint}, got {_kind(value)}")


def _of_class(value: Any, hint: type) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected bool, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected int, got {_kind(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"expected int, got the fraction {value}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected float, got {_kind(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {_kind(value)}")
        return value
    if hint is bytes:
        if not isinstance(value, bytes):
            raise TypeError(f"expected bytes (a binary/plain payload), got {_kind(value)}")
        return value
    if hint is datetime:
        if not isinstance(value, str):
            raise TypeError(f"expected an ISO 8601 date-time, got {_kind(value)}")
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as err:
            raise TypeError(f"expected an ISO 8601 date-time, got {value!r}") from err
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint.__name__}, got {_kind(value)}")
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        fields = {k: from_json(v, hints.get(k)) for k, v in value.items() if k in known}
        return hint(**fields)
    if hasattr(hint, "model_validate"):
        try:
            return hint.model_validate(value)
        except ValueError as err:  # pydantic's ValidationError
            raise TypeError(f"not a valid {hint.__name__}: {err}") from err
    if issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as err:
            raise TypeError(str(err)) from err
    if issubclass(hint, uuid.UUID):
        if not isinstance(value, str):
            raise TypeError(f"expected a UUID string, got {_kind(value)}")
        return hint(value)
    if hint in (dict, list, tuple, set, frozenset):
        return _of_generic(value, hint, hint, ())
    if isinstance(value, hint):
        return value
    raise TypeError(f"expected {hint.__name__}, got {_kind(value)}")


def _of_generic(value: Any, hint: Any, origin: type, args: tuple[Any, ...]) -> Any:
    if issubclass(origin, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {hint}, got {_kind(value)}")
        item = args[1] if len(args) == 2 else None
        return {k: from_json(v, item) for k, v in value.items()}
    if issubclass(origin, collections.abc.Iterable) and not issubclass(origin, str | bytes):
        if not isinstance(value, list):
            raise TypeError(f"expected an array for {hint}, got {_kind(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TypeError(f"expected {len(args)} items for {hint}, got {len(value)}")
            return tuple(from_json(v, a) for v, a in zip(value, args, strict=True))
        item = args[0] if args else None
        items = [from_json(v, item) for v in value]
        if origin in (tuple, set, frozenset):
            return origin(items)
        return items
    raise TypeError(f"cannot read a value as {hint!r}")


@dataclass(frozen=True)
class Parameter:
    """A parameter that a payload fills: its name, type hint, and whether it may be left out."""

    name: str
    hint: Any
    required: bool


# A function's hints and parameters, read once: `typing.get_type_hints` evaluates the string
# annotations (`from __future__ import annotations`) anew on every call, and arguments and
# results are decoded for every workflow task and activity.
_SIGNATURES: dict[Any, tuple[tuple[Parameter, ...], bool, Any]] = {}
_MAX_SIGNATURES = 4096


def _signature(fn: Callable[..., Any]) -> tuple[tuple[Parameter, ...], bool, Any]:
    # A bound method is a new object at each attribute access: key on its function (and
    # whether it is bound, which drops its first parameter).
    key = (getattr(fn, "__func__", fn), hasattr(fn, "__self__"))
    try:
        return _SIGNATURES[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable: read it every time
        return _read_signature(fn)
    if len(_SIGNATURES) >= _MAX_SIGNATURES:
        _SIGNATURES.clear()
    found = _SIGNATURES[key] = _read_signature(fn)
    return found


def _read_signature(fn: Callable[..., Any]) -> tuple[tuple[Parameter, ...], bool, Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params: list[Parameter] = []
    varargs = False
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        if p.kind is p.VAR_POSITIONAL:
            varargs = True
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            params.append(Parameter(name, hints.get(name), p.default is p.empty))
    return tuple(params), varargs, hints.get("return")


def parameters(fn: Callable[..., Any]) -> tuple[Sequence[Parameter], bool]:
    """The positional parameters a payload fills (not `self`), and whether `*args` takes more."""
    params, varargs, _ = _signature(fn)
    return params, varargs


def return_hint(fn: Callable[..., Any]) -> Any:
    """The return type hint of `fn` (None when absent)."""
    try:
        return _signature(fn)[2]
    except (TypeError, ValueError):  # no signature to read (some builtins)
        try:
            return typing.get_type_hints(fn).get("return")
        except Exception:
            return None


def encode_args(args: Sequence[Any]) -> Any:
    """The payload of positional arguments, in the wire form above."""
    values = [to_json(a) for a in args]
    if not values:
        return None
    if len(values) == 1 and values[0] is not None and not isinstance(values[0], list):
        return values[0]
    return values


def split_args(payload: Any) -> list[Any]:
    """The positional arguments a payload holds (the inverse of `encode_args`)."""
    if payload is None:
        return []
    if isinstance(payload, list):
        return payload
    return [payload]


class ArgumentCountError(TypeError):
    """A payload holds more or fewer arguments than the function takes."""


def decode_args(fn: Callable[..., Any], payload: Any) -> list[Any]:
    """Positional arguments for `fn` from a payload, each checked against its type hint.

    Raises `ArgumentCountError` when the count does not fit `fn`'s parameters (as calling it
    would) and `TypeError` when a value is not of its parameter's type."""
    values = split_args(payload)
    params, varargs = parameters(fn)
    required = sum(1 for p in params if p.required)
    if len(values) < required or (len(values) > len(params) and not varargs):
        if varargs:
            takes = f"at least {required}"
        elif required == len(params):
            takes = str(required)
        else:
            takes = f"{required} to {len(params)}"
        raise ArgumentCountError(
            f"{getattr(fn, '__qualname__', fn)}() takes {takes} argument(s) "
            f"but {len(values)} were given"
        )
    decoded = []
    for index, value in enumerate(values):
        param = params[index] if index < len(params) else None
        try:
            decoded.append(from_json(value, param.hint if param else None))
        except TypeError as err:
            name = param.name if param else f"argument {index + 1}"
            raise TypeError(f"argument '{name}': {err}") from err
    return decoded


# -- Temporal's converter objects over the plain-JSON payloads -----------------------------

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
        data = json.dumps(to_json(value), separators=(",", ":"), sort_keys=True)
        return Payload({"encoding": JSON_PLAIN}, data.encode())

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
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
    converter = default().payload_converter
    return [RawValue(converter.to_payload(value)) for value in split_args(wire)]


__all__ = [
    "ArgumentCountError",
    "Parameter",
    "decode_args",
    "encode_args",
    "from_json",
    "parameters",
    "return_hint",
    "split_args",
    "to_json",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "CompositePayloadConverter",
    "DataConverter",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "JSONPlainPayloadConverter",
    "Payload",
    "PayloadCodec",
    "PayloadConverter",
    "default",
]
