"""A stored definition's state graph, laid out by grandalf (Sugiyama layers) for an SVG picture.

Top-level states are nodes, with Start and End; edges are Next, Default, each Choice's Next and
each Catch's Next, Choice and Catch edges labelled with their rule and errors. A Parallel or Map
is one node; its branches (or its item processor) are drawn as graphs of their own below it.
Layouts are cached per definition version: versions are immutable.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

import orjson
from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

NODE_W, NODE_H = 150, 36
START, END = "▶ Start", "■ End"
MARGIN = 20


class _View:
    def __init__(self) -> None:
        self.w, self.h = NODE_W, NODE_H
        self.xy = (0.0, 0.0)


MAX_LABEL = 24
# A Choice comparison's key: <type><operator>[Path], e.g. NumericGreaterThanEquals.
COMPARISON = re.compile(
    r"(String|Numeric|Timestamp|Boolean)(Equals|GreaterThanEquals|GreaterThan|LessThanEquals"
    r"|LessThan|Matches)(Path)?"
)
OPERATORS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def choice_label(rule: dict[str, Any]) -> str:
    """A Choice rule as a short edge label: `$.total > 100`, a JSONata Condition, or the
    Boolean operator's name (And/Or/Not)."""
    if isinstance(rule.get("Condition"), str):
        return _short(rule["Condition"])
    for boolean in ("And", "Or", "Not"):
        if boolean in rule:
            return boolean
    variable = rule.get("Variable", "")
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        if key.startswith("Is"):  # IsPresent, IsNull, IsString, …
            return _short(f"{variable} {key[2:].lower() if value else 'not ' + key[2:].lower()}")
        match = COMPARISON.fullmatch(key)
        if match is None:
            return _short(f"{variable} {key}")
        shown = value if match.group(3) else orjson.dumps(value).decode()
        return _short(f"{variable} {OPERATORS[match.group(2)]} {shown}")
    return _short(str(variable))


def labelled_edges_of(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Edges as (from, to, kind, label): a Choice edge names its rule, a Catch edge the
    errors it catches, a Default edge says so."""
    states: dict[str, Any] = document.get("States") or {}
    labels: dict[tuple[str, str, str], str] = {}
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        for choice in state.get("Choices") or []:
            if isinstance(choice, dict) and choice.get("Next") in states:
                labels.setdefault((name, choice["Next"], "choice"), choice_label(choice))
        if state.get("Default") in states:
            labels[(name, state["Default"], "default")] = "default"
        for catch in state.get("Catch") or []:
            if isinstance(catch, dict) and catch.get("Next") in states:
                errors = ", ".join(str(e) for e in catch.get("ErrorEquals") or [])
                labels.setdefault((name, catch["Next"], "catch"), _short(f"catch {errors}"))
    _, edges = edges_of(document)
    return [(a, b, kind, labels.get((a, b, kind), "")) for a, b, kind in edges]


def inner_graphs(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title, sub-document) of each Parallel branch and Map item processor at the top level."""
    inner: list[tuple[str, dict[str, Any]]] = []
    for name, state in (document.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Parallel":
            for i, branch in enumerate(state.get("Branches") or [], start=1):
                if isinstance(branch, dict):
                    inner.append((f"{name}: branch {i}", branch))
        elif state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, dict):
                inner.append((f"{name}: each item", processor))
    return inner


def edges_of(document: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(node names, edges as (from, to, kind)) of the top level of an ASL document."""
    states: dict[str, Any] = document.get("States") or {}
    nodes = [START, *states, END]
    edges: list[tuple[str, str, str]] = []
    if document.get("StartAt") in states:
        edges.append((START, document["StartAt"], "next"))
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        if state.get("Next") in states:
            edges.append((name, state["Next"], "next"))
        if state.get("End") or state.get("Type") in ("Succeed", "Fail"):
            edges.append((name, END, "next"))
        for choice in state.get("Choices") or []:
            if isinstance(choice, dict) and choice.get("Next") in states:
                edges.append((name, choice["Next"], "choice"))
        if state.get("Default") in states:
            edges.append((name, state["Default"], "default"))
        for catch in state.get("Catch") or []:
            if isinstance(catch, dict) and catch.get("Next") in states:
                edges.append((name, catch["Next"], "catch"))
    return nodes, list(dict.fromkeys(edges))


@lru_cache(maxsize=256)
def _layout(document_text: str) -> dict[str, Any]:
    document = orjson.loads(document_text)
    names, _ = edges_of(document)
    edges = labelled_edges_of(document)
    vertices = {name: Vertex(name) for name in names}
    for v in vertices.values():
        v.view = _View()
    graph = Graph(
        list(vertices.values()),
        [Edge(vertices[a], vertices[b]) for a, b, _, _ in edges if a != b],
    )
    offset = 0.0
    positions: dict[str, tuple[float, float]] = {}
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.yspace, sugiyama.xspace = 28, 24
        sugiyama.init_all()
        sugiyama.draw()
        xs = [v.view.xy[0] for v in component.sV]
        left = min(xs) - NODE_W / 2
        for v in component.sV:
            positions[v.data] = (v.view.xy[0] - left + offset, v.view.xy[1])
        offset += max(xs) - min(xs) + NODE_W + MARGIN
    top = min(y for _, y in positions.values()) - NODE_H / 2
    nodes: list[dict[str, Any]] = [
        {
            "name": name,
            "x": positions[name][0] + MARGIN - NODE_W / 2,
            "y": positions[name][1] - top + MARGIN - NODE_H / 2,
            "type": (document.get("States", {}).get(name) or {}).get("Type", "")
            if name not in (START, END)
            else "",
        }
        for name in names
    ]
    centre = {n["name"]: (n["x"] + NODE_W / 2, n["y"] + NODE_H / 2) for n in nodes}
    lines = [
        {
            "x1": centre[a][0],
            "y1": centre[a][1] + NODE_H / 2,
            "x2": centre[b][0],
            "y2": centre[b][1] - NODE_H / 2,
            "kind": kind,
            "label": label,
        }
        for a, b, kind, label in edges
        if a != b
    ]
    width = max(n["x"] for n in nodes) + NODE_W + MARGIN
    height = max(n["y"] for n in nodes) + NODE_H + MARGIN
    return {"nodes": nodes, "edges": lines, "width": width, "height": height}


def layout(
    document: dict[str, Any],
    *,
    current: AbstractSet[str] = frozenset(),
    taken: AbstractSet[str] = frozenset(),
    failed: AbstractSet[str] = frozenset(),
) -> dict[str, Any]:
    """Nodes (with their highlight: current, failed, taken or none) and edges in SVG units."""
    base = _layout(orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode())
    nodes = []
    for node in base["nodes"]:
        name = node["name"]
        mark = (
            "current"
            if name in current
            else "failed"
            if name in failed
            else "taken"
            if name in taken
            else ""
        )
        nodes.append({**node, "mark": mark, "w": NODE_W, "h": NODE_H})
    inner = [
        {"title": title, **layout(sub)}
        for title, sub in inner_graphs(document)
        if sub.get("States")
    ]
    return {**base, "nodes": nodes, "inner": inner}
