"""Visibility: typed search attributes, full-text values, root workflow ids, batch operations.

Search attribute values were kept as canonical JSON and compared as text. They are now typed
(Temporal's Keyword, Text, Int, Double, Bool, Datetime, KeywordList): a namespace registers
each custom attribute with its type, and values are stored in an order-preserving form.

Existing values migrate as follows: every (namespace, name) found is registered with the type
its values have (all booleans: Bool; all integers: Int; all numbers: Double; all lists: a
KeywordList; otherwise Keyword, with non-string values kept as their JSON text), so filters
that worked before keep working. Names the system reserves are not registered; their values
stay in each run's own record (describe shows them) but are not indexed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime
from app.engine.search_attribute_types import (
    NAME,
    PREDEFINED_ATTRIBUTES,
    RESERVED_PREFIX,
    SYSTEM_ATTRIBUTES,
    SAType,
    check_value,
)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 5000
FTS = "workflow_search_texts_fts"


def _id_column() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"

    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("root_workflow_id", sa.String(1000), nullable=True))
    _backfill_root_workflow_ids()

    op.create_table(
        "namespace_search_attributes",
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_namespace_search_attributes_namespace_id_namespaces"),
        ),
        sa.PrimaryKeyConstraint(
            "namespace_id", "name", name=op.f("pk_namespace_search_attributes")
        ),
    )

    # The old table goes aside (index names are global, so its index goes first, and on
    # PostgreSQL so does its primary key's name).
    op.drop_index("ix_workflow_search_attributes_lookup", table_name="workflow_search_attributes")
    op.rename_table("workflow_search_attributes", "workflow_search_attributes_untyped")
    if postgres:
        op.execute(
            "ALTER TABLE workflow_search_attributes_untyped RENAME CONSTRAINT "
            "pk_workflow_search_attributes TO pk_workflow_search_attributes_untyped"
        )
    sortable = sa.String(2000).with_variant(sa.String(2000, collation="C"), "postgresql")
    values = op.create_table(
        "workflow_search_attributes",
        _id_column(),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sortable, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_search_attributes")),
    )
    op.create_index(
        "ix_workflow_search_attributes_lookup",
        "workflow_search_attributes",
        ["namespace_id", "name", "value", "run_id"],
    )
    op.create_index(
        "ix_workflow_search_attributes_run_id", "workflow_search_attributes", ["run_id", "name"]
    )
    _migrate_untyped_values(values)
    op.drop_table("workflow_search_attributes_untyped")

    op.create_table(
        "workflow_search_texts",
        _id_column(),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_search_texts")),
    )
    op.create_index("ix_workflow_search_texts_run_id", "workflow_search_texts", ["run_id", "name"])
    if postgres:
        op.execute(
            "CREATE INDEX ix_workflow_search_texts_words ON workflow_search_texts "
            "USING gin (to_tsvector('simple', value))"
        )
    else:
        # External content: the words index reads the rows of workflow_search_texts; the
        # triggers keep it in step (rows are only inserted and deleted, never updated).
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS} USING fts5("
            "value, content='workflow_search_texts', content_rowid='id')"
        )
        op.execute(
            f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON workflow_search_texts BEGIN "
            f"INSERT INTO {FTS}(rowid, value) VALUES (new.id, new.value); END"
        )
        op.execute(
            f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON workflow_search_texts BEGIN "
            f"INSERT INTO {FTS}({FTS}, rowid, value) VALUES ('delete', old.id, old.value); END"
        )

    op.create_table(
        "batch_operations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("job_id", sa.String(200), nullable=False),
        sa.Column("operation_type", sa.String(20), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("signal_name", sa.String(1000), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("identity", sa.String(1000), nullable=True),
        sa.Column("max_per_second", sa.Float(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_before", UTCDateTime(), nullable=False),
        sa.Column("cursor_start_time", UTCDateTime(), nullable=True),
        sa.Column("cursor_run_id", sa.String(36), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_batch_operations_namespace_id_namespaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_operations")),
        sa.UniqueConstraint(
            "namespace_id", "job_id", name=op.f("uq_batch_operations_namespace_id_job_id")
        ),
    )
    op.create_index(
        "ix_batch_operations_namespace_id_created_at",
        "batch_operations",
        ["namespace_id", "created_at", "id"],
    )
    op.create_index("ix_batch_operations_state", "batch_operations", ["state", "lease_expires_at"])
    op.create_table(
        "batch_operation_runs",
        sa.Column("operation_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("operation_id", "run_id", name=op.f("pk_batch_operation_runs")),
    )
    op.create_index(
        "ix_batch_operation_runs_outcome", "batch_operation_runs", ["operation_id", "outcome", "at"]
    )
    if not postgres:
        _seed_sqlite_statistics()


# What SQLite's planner assumes of the visibility tables (rows per index prefix), as ANALYZE
# would write it for a large namespace. Without statistics SQLite takes `namespace_id = ?`
# for a selective test, and lists by scanning a namespace's whole start-time index instead of
# driving from a search attribute's few runs. "Manual control of query plans using
# sqlite_stat tables" (https://www.sqlite.org/optoverview.html#manctrl); a later ANALYZE
# replaces these with measured ones.
SQLITE_STATISTICS = {
    "workflow_runs": {
        "sqlite_autoindex_workflow_runs_1": "1000000 1",
        "ix_workflow_runs_namespace_id_start_time": "1000000 100000 2 1",
        "ix_workflow_runs_namespace_id_workflow_id": "1000000 100000 2 1 1",
        "ix_workflow_runs_namespace_id_status": "1000000 100000 15000 2",
        "ix_workflow_runs_namespace_id_workflow_type": "1000000 100000 20000 2",
        "ix_workflow_runs_namespace_id_close_time": "1000000 100000 2",
        "ix_workflow_runs_namespace_id_request_id": "1000000 100000 1",
        "ix_workflow_runs_parent_run_id": "1000000 10",
        "ux_workflow_runs_open_workflow_id": "100000 10000 1",
    },
    "workflow_search_attributes": {
        "ix_workflow_search_attributes_lookup": "3000000 300000 100000 20 1",
        "ix_workflow_search_attributes_run_id": "3000000 3 1",
    },
}


def _seed_sqlite_statistics() -> None:
    op.execute("ANALYZE sqlite_master")  # makes sqlite_stat1 without reading any table
    bind = op.get_bind()
    for table, indexes in SQLITE_STATISTICS.items():
        bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = :t"), {"t": table})
        for index, stat in indexes.items():
            bind.execute(
                sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:t, :i, :s)"),
                {"t": table, "i": index, "s": stat},
            )


def _backfill_root_workflow_ids() -> None:
    """Top-level runs are their own roots; children take their parent's root, a generation per
    pass (a parent already purged by retention leaves its workflow id as the root)."""
    op.execute(
        "UPDATE workflow_runs SET root_workflow_id = workflow_id WHERE parent_run_id IS NULL"
    )
    bind = op.get_bind()
    for _ in range(100):
        changed = bind.execute(
            sa.text(
                "UPDATE workflow_runs SET root_workflow_id = (SELECT p.root_workflow_id "
                "FROM workflow_runs p WHERE p.id = workflow_runs.parent_run_id) "
                "WHERE root_workflow_id IS NULL AND EXISTS (SELECT 1 FROM workflow_runs p "
                "WHERE p.id = workflow_runs.parent_run_id AND p.root_workflow_id IS NOT NULL)"
            )
        ).rowcount
        if not changed:
            break
    op.execute(
        "UPDATE workflow_runs SET root_workflow_id = parent_workflow_id "
        "WHERE root_workflow_id IS NULL"
    )


def _inferred_type(kinds: set[str]) -> SAType:
    if kinds == {"bool"}:
        return SAType.BOOL
    if kinds == {"int"}:
        return SAType.INT
    if kinds and kinds <= {"int", "float"}:
        return SAType.DOUBLE
    if kinds == {"list"}:
        return SAType.KEYWORD_LIST
    return SAType.KEYWORD


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", list: "list"}.get(type(value), "other")


def _as_type(value: Any, sa_type: SAType) -> Any:
    """An old value made to fit the type it was registered with."""
    if sa_type is SAType.KEYWORD_LIST:
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    if sa_type is SAType.KEYWORD and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"))
    return value


def _migrate_untyped_values(values: sa.Table) -> None:
    bind = op.get_bind()
    old = sa.table(
        "workflow_search_attributes_untyped",
        sa.column("run_id"),
        sa.column("name"),
        sa.column("namespace_id"),
        sa.column("value"),
    )
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for namespace_id, name, text in bind.execute(
        sa.select(old.c.namespace_id, old.c.name, old.c.value)
    ):
        kinds[(namespace_id, name)].add(_kind(json.loads(text)))
    types: dict[tuple[str, str], SAType] = {}
    registrations = []
    now = datetime.now(UTC)
    for (namespace_id, name), seen in kinds.items():
        if name in SYSTEM_ATTRIBUTES or not NAME.match(name):
            continue
        if name in PREDEFINED_ATTRIBUTES:
            types[(namespace_id, name)] = PREDEFINED_ATTRIBUTES[name]
            continue
        if name.startswith(RESERVED_PREFIX):
            continue
        types[(namespace_id, name)] = _inferred_type(seen)
        registrations.append(
            {
                "namespace_id": namespace_id,
                "name": name,
                "type": types[(namespace_id, name)].value,
                "created_at": now,
            }
        )
    if registrations:
        registry = sa.table(
            "namespace_search_attributes",
            sa.column("namespace_id"),
            sa.column("name"),
            sa.column("type"),
            sa.column("created_at", UTCDateTime()),
        )
        bind.execute(sa.insert(registry), registrations)
    rows: list[dict[str, Any]] = []
    for run_id, name, namespace_id, text in bind.execute(
        sa.select(old.c.run_id, old.c.name, old.c.namespace_id, old.c.value)
    ):
        sa_type = types.get((namespace_id, name))
        if sa_type is None:
            continue
        try:
            stored = check_value(name, sa_type, _as_type(json.loads(text), sa_type), field=name)
        except Exception:  # a value the predefined type cannot hold stays unindexed
            continue
        rows += [
            {"namespace_id": namespace_id, "run_id": run_id, "name": name, "value": v}
            for v in stored
        ]
        if len(rows) >= BATCH:
            bind.execute(sa.insert(values), rows)
            rows = []
    if rows:
        bind.execute(sa.insert(values), rows)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(
            sa.text(
                "DELETE FROM sqlite_stat1 WHERE tbl IN ('workflow_runs', 'workflow_search_attributes')"
            )
        )
    op.drop_index("ix_batch_operation_runs_outcome", table_name="batch_operation_runs")
    op.drop_table("batch_operation_runs")
    op.drop_index("ix_batch_operations_state", table_name="batch_operations")
    op.drop_index("ix_batch_operations_namespace_id_created_at", table_name="batch_operations")
    op.drop_table("batch_operations")
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX ix_workflow_search_texts_words")
    else:
        op.execute(f"DROP TRIGGER {FTS}_insert")
        op.execute(f"DROP TRIGGER {FTS}_delete")
        op.execute(f"DROP TABLE {FTS}")
    op.drop_index("ix_workflow_search_texts_run_id", table_name="workflow_search_texts")
    op.drop_table("workflow_search_texts")
    op.drop_index("ix_workflow_search_attributes_run_id", table_name="workflow_search_attributes")
    op.drop_index("ix_workflow_search_attributes_lookup", table_name="workflow_search_attributes")
    op.drop_table("workflow_search_attributes")
    untyped = op.create_table(
        "workflow_search_attributes",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("namespace_id", sa.String(36), nullable=False),
        sa.Column("value", sa.String(2000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_workflow_search_attributes")),
    )
    op.create_index(
        "ix_workflow_search_attributes_lookup",
        "workflow_search_attributes",
        ["namespace_id", "name", "value"],
    )
    # The untyped index is rebuilt from each run's own record of its attributes.
    runs = sa.table(
        "workflow_runs", sa.column("id"), sa.column("namespace_id"), sa.column("search_attributes")
    )
    rows = []
    for run_id, namespace_id, text in bind.execute(
        sa.select(runs.c.id, runs.c.namespace_id, runs.c.search_attributes).where(
            runs.c.search_attributes.is_not(None)
        )
    ):
        for name, value in json.loads(text).items():
            rows.append(
                {
                    "run_id": run_id,
                    "name": name,
                    "namespace_id": namespace_id,
                    "value": json.dumps(value, separators=(",", ":")),
                }
            )
    if rows:
        bind.execute(sa.insert(untyped), rows)
    op.drop_table("namespace_search_attributes")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("root_workflow_id")
