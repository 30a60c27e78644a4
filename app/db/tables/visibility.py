"""Visibility: search attributes (typed values and text), the namespace's registered
attributes, and batch operations over a list filter."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import UTCDateTime

# Indexed search attribute values, one row per value (a KeywordList has a row per item), in
# the order-preserving text form of app/engine/search_attribute_types.py. Byte order ("C"
# collation on PostgreSQL; SQLite's default) makes that form sort the way its type does.
SortableText = sa.String(2000).with_variant(sa.String(2000, collation="C"), "postgresql")
workflow_search_attributes = sa.Table(
    "workflow_search_attributes",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", SortableText, nullable=False),
    # Visibility filters: equality, ranges and prefixes of one attribute, yielding run ids.
    sa.Index("ix_workflow_search_attributes_lookup", "namespace_id", "name", "value", "run_id"),
    # An upsert replaces a run's values of the names it sets.
    sa.Index("ix_workflow_search_attributes_run_id", "run_id", "name"),
)


# Values of Text attributes, matched by words: a GIN index on to_tsvector('simple', value) on
# PostgreSQL; on SQLite the FTS5 table `workflow_search_texts_fts` (kept by triggers), both
# made by migration 0011.
workflow_search_texts = sa.Table(
    "workflow_search_texts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Index("ix_workflow_search_texts_run_id", "run_id", "name"),
    # Removing a Text attribute finds the runs holding a value (migration 0027).
    sa.Index("ix_workflow_search_texts_name", "namespace_id", "name", "run_id"),
    sa.Index(
        "ix_workflow_search_texts_words",
        sa.text("to_tsvector('simple'::regconfig, value)"),
        postgresql_using="gin",
    ).ddl_if(dialect="postgresql"),
)


SQLITE_FTS_TABLE = "workflow_search_texts_fts"


def is_model_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether a schema object is described here (Alembic's `include_name`): SQLite's FTS5
    table and the shadow tables it makes for itself belong to migration 0011 alone."""
    return not (type_ == "table" and (name or "").startswith(SQLITE_FTS_TABLE))


# The custom search attributes a namespace registered, with their types (Temporal's
# AddSearchAttributes). System and predefined attributes are not stored: see
# app/engine/search_attribute_types.py.
namespace_search_attributes = sa.Table(
    "namespace_search_attributes",
    metadata,
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)


# -- batch operations (issue #16): one action on every run a visibility query matches --------

batch_operations = sa.Table(
    "batch_operations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("job_id", sa.String(200), nullable=False),
    sa.Column("operation_type", sa.String(32), nullable=False),  # SIGNAL, CANCEL, ...
    sa.Column("query", sa.Text(), nullable=False),
    sa.Column("signal_name", sa.String(1000), nullable=True),
    sa.Column("input", sa.Text(), nullable=True),  # JSON text of the signal input
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("identity", sa.String(1000), nullable=True),
    sa.Column("max_per_second", sa.Float(), nullable=False),
    # RUNNING, COMPLETED, STOPPED or FAILED.
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("total", sa.Integer(), nullable=False),
    sa.Column("completed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
    # Runs started up to this time are in scope; later ones are not (the job's snapshot).
    sa.Column("started_before", UTCDateTime(), nullable=False),
    # The last run acted on, in (start_time, run id) order: the job resumes after it.
    sa.Column("cursor_start_time", UTCDateTime(), nullable=True),
    sa.Column("cursor_run_id", sa.String(36), nullable=True),
    # Which loop works the job, until when (renewed with every run it acts on).
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("stop_reason", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    # JSON of a RESET's target and reapply options, or an activity operation's (migration 0019).
    sa.Column("options", sa.Text(), nullable=True),
    sa.UniqueConstraint("namespace_id", "job_id"),
    # The namespace's list, newest first.
    sa.Index("ix_batch_operations_namespace_id_created_at", "namespace_id", "created_at", "id"),
    # Loops look for running jobs whose lease is free.
    sa.Index("ix_batch_operations_state", "state", "lease_expires_at"),
)


# What a job did to each run, written in the transaction of the action itself: a run is acted
# on at most once per job, and a failure is kept with its reason.
batch_operation_runs = sa.Table(
    "batch_operation_runs",
    metadata,
    sa.Column("operation_id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("workflow_id", sa.String(1000), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),  # 'completed' | 'failed'
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_batch_operation_runs_outcome", "operation_id", "outcome", "at"),
)
