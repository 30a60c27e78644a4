"""app/db/statements.py names the index that serves each statement: every statement it builds
says `index: <name>` just before (or in its factory's docstring), and each name is an index or
key the schema really has."""

from __future__ import annotations

import ast
import inspect
import re

import sqlalchemy as sa

from app.db import statements
from app.db.tables import metadata

INDEX_LINE = re.compile(r"index: ([\w, ]+)")


def _schema_names() -> set[str]:
    names: set[str] = set()
    for table in metadata.tables.values():
        names |= {str(index.name) for index in table.indexes}
        names |= {str(c.name) for c in table.constraints if c.name}
    return names


def _named(comment_or_doc: str) -> list[str]:
    found = INDEX_LINE.search(comment_or_doc)
    assert found, comment_or_doc
    return [name.strip() for name in found.group(1).split(",")]


def test_every_statement_names_an_index_the_schema_has():
    source = inspect.getsource(statements)
    lines = source.splitlines()
    schema = _schema_names()
    checked = 0
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            names = _named(ast.get_docstring(node) or "")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            name = target.id if isinstance(target, ast.Name) else ""
            value = getattr(statements, name, None)
            if name.startswith("_") or not isinstance(value, sa.Executable | dict):
                continue
            names = _named(lines[node.lineno - 2])  # the comment line just above
        else:
            continue
        checked += 1
        assert [n for n in names if n != "none" and n not in schema] == [], (node.lineno, names)
    assert checked >= 35  # the module's statements, not a parse that found nothing


def test_the_index_line_is_read_as_written():
    # The check above would pass vacuously if the pattern read nothing.
    assert _named("# index: pk_tasks, ix_tasks_run_id") == ["pk_tasks", "ix_tasks_run_id"]
    assert "ix_tasks_queue_order" in _schema_names()
    assert "ix_no_such_index" not in _schema_names()
