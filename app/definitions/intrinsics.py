"""ASL intrinsic functions (`States.Format(...)` and the rest): parsing and evaluation.

Values that Step Functions makes at random (UUID, MathRandom) are derived from the context's
`Execution.Id` and the state, so a replay of the same history computes the same values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

from app import strict_json
from app.definitions import paths
from app.definitions.errors import intrinsic_failure
from app.engine.run_limits import MAX_JSON_INT, MIN_JSON_INT
from app.errors import InvalidArgument

HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


# The characters an intrinsic's string literal may escape with a backslash (the States
# Language's reserved characters); any other escape makes the definition invalid.
ESCAPABLE = frozenset("'{}\\")


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


class Text(str):
    """A string literal; `pieces` is its text cut at each `{}` that is not escaped (`\\{`,
    `\\}` stay literal braces in a States.Format template)."""

    pieces: list[str]


@dataclass(frozen=True)
class PathArg:
    path: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, why: str) -> ValueError:
        return ValueError(f"{why} at position {self.at} of '{self.text}'")

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def call(self) -> Call:
        start = self.at
        while self.at < len(self.text) and (
            self.text[self.at].isalnum() or self.text[self.at] in "._"
        ):
            self.at += 1
        name = self.text[start : self.at]
        if not name.startswith("States.") or name[7:] not in FUNCTIONS:
            raise self.fail(f"unknown intrinsic function '{name}'")
        if self.text[self.at : self.at + 1] != "(":
            raise self.fail("expected '('")
        self.at += 1
        args: list[Any] = []
        self.skip_space()
        if self.text[self.at : self.at + 1] == ")":
            self.at += 1
            return Call(name[7:], tuple(args))
        while True:
            self.skip_space()
            args.append(self.argument())
            self.skip_space()
            ch = self.text[self.at : self.at + 1]
            self.at += 1
            if ch == ")":
                return Call(name[7:], tuple(args))
            if ch != ",":
                raise self.fail("expected ',' or ')'")

    def argument(self) -> Any:
        ch = self.text[self.at : self.at + 1]
        if ch == "'":
            return self.string()
        if ch == "$":
            return self.path()
        if self.text.startswith("States.", self.at):
            return self.call()
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in ",) ":
            self.at += 1
        word = self.text[start : self.at]
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        try:
            return json.loads(word)
        except ValueError:
            raise self.fail(f"unexpected argument '{word}'") from None

    def string(self) -> Text:
        self.at += 1
        out: list[str] = []  # the literal's text
        pieces: list[str] = []  # the text between unescaped `{}`, for States.Format
        piece: list[str] = []
        while self.at < len(self.text):
            ch = self.text[self.at]
            if ch == "\\":
                escaped = self.text[self.at + 1 : self.at + 2]
                if escaped not in ESCAPABLE:
                    raise self.fail(
                        f"'\\{escaped}' is not an escape of the States Language (only "
                        "\\' \\{ \\} \\\\ are)"
                    )
                out.append(escaped)
                piece.append(escaped)
                self.at += 2
                continue
            if ch == "'":
                self.at += 1
                text = Text("".join(out))
                text.pieces = [*pieces, "".join(piece)]
                return text
            if ch == "{" and self.text[self.at + 1 : self.at + 2] == "}":
                out.append("{}")
                pieces.append("".join(piece))
                piece = []
                self.at += 2
                continue
            out.append(ch)
            piece.append(ch)
            self.at += 1
        raise self.fail("unterminated string")

    def path(self) -> PathArg:
        start, depth, quoted = self.at, 0, False
        while self.at < len(self.text):
            ch = self.text[self.at]
            if ch == "'" and depth:
                quoted = not quoted
            elif not quoted:
                if ch in "[(":
                    depth += 1
                elif ch in "])":
                    if depth == 0:
                        break
                    depth -= 1
                elif ch == "," and depth == 0:
                    break
            self.at += 1
        text = self.text[start : self.at].strip()
        paths.compile_path(text[1:] if text.startswith("$$") else text)
        return PathArg(text)


def parse(text: str) -> Call:
    parser = _Parser(text.strip())
    call = parser.call()
    if parser.at != len(parser.text):
        raise parser.fail("unexpected text after the call")
    return call


def evaluate(text: str, data: Any, context: Any) -> Any:
    try:
        call = parse(text)
    except ValueError as exc:
        raise intrinsic_failure(str(exc)) from None
    return _eval(call, data, context)


def _value(arg: Any, data: Any, context: Any) -> Any:
    if isinstance(arg, Call):
        return _eval(arg, data, context)
    if isinstance(arg, PathArg):
        return paths.read(arg.path, data, context)
    return arg


def _seed(context: Any, call: Call) -> int:
    ctx = context if isinstance(context, dict) else {}
    key = json.dumps(
        [ctx.get("Execution", {}).get("Id"), ctx.get("State"), ctx.get("Map"), call.name],
        sort_keys=True,
        default=str,
    )
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _eval(call: Call, data: Any, context: Any) -> Any:
    args = [_value(a, data, context) for a in call.args]
    try:
        return FUNCTIONS[call.name](args, call, context)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as exc:
        raise intrinsic_failure(f"States.{call.name}: {exc}") from None


def _need(args: list[Any], count: int, name: str) -> None:
    if len(args) != count:
        raise ValueError(f"{name} takes {count} argument(s), got {len(args)}")


def _integer(value: Any, what: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or int(value) != value
        or not MIN_JSON_INT <= int(value) <= MAX_JSON_INT
    ):
        raise ValueError(f"{what} must be an integer within 64 bits")
    return int(value)


def _rounded(value: Any, what: str) -> int:
    """A number rounded to the nearest integer, a half toward positive infinity (Java's
    Math.round, which Step Functions uses: 2.5 → 3, -2.5 → -2), for the arguments the
    Step Functions documentation says it rounds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number")
    if not isinstance(value, int):
        whole = math.floor(value)
        value = whole + 1 if value - whole >= 0.5 else whole
    return _integer(value, what)


def _format(args: list[Any], call: Call, context: Any) -> str:
    template, values = args[0], args[1:]
    if not isinstance(template, str):
        raise ValueError("the template must be a string")
    pieces = template.pieces if isinstance(template, Text) else template.split("{}")
    if len(pieces) - 1 != len(values):
        raise ValueError("the number of '{}' does not match the number of arguments")
    out = pieces[0]
    for value, piece in zip(values, pieces[1:], strict=True):
        if isinstance(value, dict | list):
            raise ValueError("Format accepts strings, numbers, booleans and null")
        text = json.dumps(value) if not isinstance(value, str) else value
        out += text + piece
    return out


def _string_to_json(args, call, context):
    _need(args, 1, "StringToJson")
    if not isinstance(args[0], str):
        raise ValueError("StringToJson takes a string")
    try:  # as strict as a request body: the result is stored like one
        return strict_json.parse(args[0].encode("utf-8", "surrogatepass"), root="StringToJson")
    except InvalidArgument as exc:
        raise ValueError(exc.detail) from None


def _json_to_string(args, call, context):
    _need(args, 1, "JsonToString")
    return json.dumps(args[0], separators=(",", ":"))


def _array_partition(args, call, context):
    _need(args, 2, "ArrayPartition")
    items, size = args[0], _integer(args[1], "the chunk size")
    if not isinstance(items, list) or size <= 0:
        raise ValueError("ArrayPartition takes an array and a positive chunk size")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(args, call, context):
    _need(args, 2, "ArrayContains")
    if not isinstance(args[0], list):
        raise ValueError("the first argument must be an array")
    return args[1] in args[0]


def _array_range(args, call, context):
    _need(args, 3, "ArrayRange")
    start, end, step = (_integer(a, "ArrayRange arguments") for a in args)
    if step == 0:
        raise ValueError("the step must not be 0")
    values = range(start, end + (1 if step > 0 else -1), step)
    if len(values) > 1000:  # measured before it is built: the range may be huge
        raise ValueError("ArrayRange makes at most 1000 items")
    return list(values)


def _array_get_item(args, call, context):
    _need(args, 2, "ArrayGetItem")
    if not isinstance(args[0], list):
        raise ValueError("the first argument must be an array")
    return args[0][_integer(args[1], "the index")]


def _array_length(args, call, context):
    _need(args, 1, "ArrayLength")
    if not isinstance(args[0], list):
        raise ValueError("the argument must be an array")
    return len(args[0])


def _array_unique(args, call, context):
    _need(args, 1, "ArrayUnique")
    if not isinstance(args[0], list):
        raise ValueError("the argument must be an array")
    out: list[Any] = []
    for item in args[0]:
        if item not in out:
            out.append(item)
    return out


def _base64_encode(args, call, context):
    _need(args, 1, "Base64Encode")
    return base64.b64encode(str(args[0]).encode()).decode()


def _base64_decode(args, call, context):
    _need(args, 1, "Base64Decode")
    return base64.b64decode(str(args[0]), validate=True).decode()


def _hash(args, call, context):
    _need(args, 2, "Hash")
    algorithm = HASHES.get(args[1])
    if algorithm is None:
        raise ValueError(f"the algorithm must be one of {', '.join(HASHES)}")
    text = args[0] if isinstance(args[0], str) else json.dumps(args[0], separators=(",", ":"))
    return hashlib.new(algorithm, text.encode()).hexdigest()


def _merge(left: Any, right: Any) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        out = dict(left)
        for key, value in right.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    return right


def _json_merge(args, call, context):
    _need(args, 3, "JsonMerge")
    left, right, deep = args
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise ValueError("JsonMerge merges two objects")
    return _merge(left, right) if deep else {**left, **right}


def _math_random(args, call, context):
    if len(args) not in (2, 3):
        raise ValueError("MathRandom takes a start, an end and an optional seed")
    start, end = _rounded(args[0], "start"), _rounded(args[1], "end")
    seed = _integer(args[2], "seed") if len(args) == 3 else _seed(context, call)
    return random.Random(seed).randrange(start, end)


def _math_add(args, call, context):
    _need(args, 2, "MathAdd")
    total = _rounded(args[0], "MathAdd arguments") + _rounded(args[1], "MathAdd arguments")
    return _integer(total, "the sum")


def _string_split(args, call, context):
    _need(args, 2, "StringSplit")
    text, separators = args
    if not isinstance(text, str) or not isinstance(separators, str):
        raise ValueError("StringSplit takes two strings")
    parts = [text]
    for sep in separators:
        parts = [piece for part in parts for piece in part.split(sep)]
    return [p for p in parts if p]


def _uuid(args, call, context):
    _need(args, 0, "UUID")
    return str(uuid.UUID(int=random.Random(_seed(context, call)).getrandbits(128), version=4))


FUNCTIONS: dict[str, Any] = {
    "Format": lambda args, call, context: _format(args, call, context),
    "StringToJson": _string_to_json,
    "JsonToString": _json_to_string,
    "Array": lambda args, call, context: list(args),
    "ArrayPartition": _array_partition,
    "ArrayContains": _array_contains,
    "ArrayRange": _array_range,
    "ArrayGetItem": _array_get_item,
    "ArrayLength": _array_length,
    "ArrayUnique": _array_unique,
    "Base64Encode": _base64_encode,
    "Base64Decode": _base64_decode,
    "Hash": _hash,
    "JsonMerge": _json_merge,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
    "StringSplit": _string_split,
    "UUID": _uuid,
}
