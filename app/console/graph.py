"""A stored definition's state graph, laid out by grandalf (Sugiyama layers) for an SVG picture.

Top-level states are nodes, with Start and End; edges are Next, Default, each Choice's Next and
each Catch's Next. A Parallel or Map is one node (its branches run inside it). Layouts are
cached per definition version: versions are immutable.
"""

from __future__ import annotations

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
    names, edges = edges_of(document)
    vertices = {name: Vertex(name) for name in names}
    for v in vertices.values():
        v.view = _View()
    graph = Graph(
        list(vertices.values()), [Edge(vertices[a], vertices[b]) for a, b, _ in edges if a != b]
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
        }
        for a, b, kind in edges
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
    return {**base, "nodes": nodes}
