"""Definition documents as clients send them, JSON or YAML, read within bounds.

A YAML document is composed into nodes first, at most MAX_JSON_DEPTH collections deep; its
aliases are then measured without being expanded, and a document that would grow past
MAX_YAML_NODES (an "alias bomb": a few hundred bytes of anchors naming each other ten times
over) is refused before anything is built from it. Like go-yaml's fix for CVE-2019-11253 the
bound is on expanded nodes, so ordinary anchors (a shared Retry block) still work. Only what JSON
can say is accepted: strings, finite numbers, 64-bit integers, booleans, null, lists and
mappings with string keys, each key once; dates stay the strings they were written as.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from app.engine.run_limits import MAX_JSON_DEPTH, MAX_JSON_INT, MIN_JSON_INT
from app.errors import InvalidArgument

# The largest document accepted as sent (its canonical JSON has its own, smaller limit).
MAX_SOURCE_BYTES = 2 * 1024 * 1024
# Nodes a YAML document may hold once its aliases are expanded.
MAX_YAML_NODES = 100_000
FIELD = "definition"


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, node_or_mark: Any, **extra: Any) -> None:
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.extra = extra


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's resolver without timestamps: `2024-01-01` stays the string it was written as."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor limited to JSON's values."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(f"mapping keys must be strings, not {key!r}"[:200], key_node)
            if key in seen:
                raise _Refused(f"duplicate key {key!r}", key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        value = super().construct_yaml_int(node)
        if not MIN_JSON_INT <= value <= MAX_JSON_INT:
            raise _Refused("integer beyond 64 bits (-2^63 to 2^63-1)", node)
        return value

    def construct_yaml_float(self, node: Any) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _Refused("numbers must be finite (no .inf, .nan or overflow)", node)
        return value

    def construct_yaml_str(self, node: Any) -> str:
        value = super().construct_yaml_str(node)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused("a string holds a lone surrogate (invalid Unicode)", node) from None
        return value

    def construct_not_json(self, node: Any) -> Any:
        raise _Refused(f"YAML tag {node.tag} has no JSON equivalent", node)


for _tag in ("int", "float", "str"):
    _Constructor.add_constructor(
        f"tag:yaml.org,2002:{_tag}", getattr(_Constructor, f"construct_yaml_{_tag}")
    )
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    # The stubs type constructors as functions of the loader class; ours is a method of it.
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor.construct_not_json)  # type: ignore[type-var]


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Constructor,
    _Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Bounded here, before the recursive composer goes deeper (10,000 nested `[` would
        # otherwise end in a RecursionError).
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if not self.check_event(yaml.AliasEvent):
            self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(
                f"the document has more than {MAX_YAML_NODES} nodes",
                self.peek_event(),
                nodes=self.nodes,
                limit=MAX_YAML_NODES,
            )
        if collection:
            self.depth += 1
            if self.depth > MAX_JSON_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_JSON_DEPTH} levels deep",
                    self.peek_event(),
                    nodes=self.nodes,
                    limit=MAX_JSON_DEPTH,
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if collection:
                self.depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure_expansion(root: Node, composed: int) -> None:
    """Refuse a node graph whose expansion (every alias replaced by what it names) would pass
    MAX_YAML_NODES nodes or MAX_JSON_DEPTH levels, or that refers to itself. Each distinct node
    is visited once: the work is bounded by the document as written, not by its expansion."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)
    open_nodes: set[int] = set()

    def refuse(message: str, node: Node, **extra: Any) -> _Refused:
        return _Refused(message, node, nodes=composed, **extra)

    def measure(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            size, height = measured[key]
        else:
            if key in open_nodes:
                raise refuse("an alias refers to the node that contains it", node)
            open_nodes.add(key)
            size, height = 1, 0
            below = depth + 1 if isinstance(node, SequenceNode | MappingNode) else depth
            if below > MAX_JSON_DEPTH:
                raise refuse(
                    f"its aliases nest it more than {MAX_JSON_DEPTH} levels deep",
                    node,
                    limit=MAX_JSON_DEPTH,
                )
            for child in _children(node):
                child_size, child_height = measure(child, below)
                size += child_size
                height = max(height, child_height)
                if size > MAX_YAML_NODES:
                    raise refuse(
                        f"its aliases expand it past {MAX_YAML_NODES} nodes "
                        f"(an alias bomb?); it has {composed} as written",
                        node,
                        limit=MAX_YAML_NODES,
                    )
            if below > depth:
                height += 1
            open_nodes.discard(key)
            measured[key] = (size, height)
        if depth + height > MAX_JSON_DEPTH:
            raise refuse(
                f"its aliases nest it more than {MAX_JSON_DEPTH} levels deep",
                node,
                limit=MAX_JSON_DEPTH,
            )
        return size, height

    measure(root, 0)


def load_yaml(raw: bytes) -> Any:
    """The JSON value of a YAML document, or InvalidArgument (400) saying what and where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"the body is not UTF-8: invalid byte at offset {exc.start}",
            field=FIELD,
            position=exc.start,
        ) from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _measure_expansion(root, loader.nodes)
        return loader.construct_document(root)
    except _Refused as exc:
        raise _problem(exc.message, exc.mark, **exc.extra) from None
    except yaml.MarkedYAMLError as exc:
        raise _problem(
            " ".join(p for p in (exc.context, exc.problem) if p), exc.problem_mark
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"the body is not valid YAML: {exc}", field=FIELD) from None
    finally:
        loader.dispose()


def _problem(message: str, mark: Any, **extra: Any) -> InvalidArgument:
    if mark is None:
        return InvalidArgument(f"the YAML document is refused: {message}", field=FIELD, **extra)
    line, column = mark.line + 1, mark.column + 1
    return InvalidArgument(
        f"the YAML document is refused at line {line} column {column}: {message}",
        field=FIELD,
        line=line,
        column=column,
        **extra,
    )
