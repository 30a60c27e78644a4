"""Stored workflow definitions (Amazon States Language), their runs and aliases."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables.base import metadata
from app.db.types import UTCDateTime

# ---------------------------------------------------------------------------------------------
# Stored definitions (Amazon States Language): immutable numbered versions per name, and the
# version each run is pinned to for its whole life.
# ---------------------------------------------------------------------------------------------

definitions = sa.Table(
    "definitions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("language", sa.String(20), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),  # canonical JSON text
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of `document`
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Serves "latest version of a name" (ORDER BY version DESC LIMIT 1) and the list by name.
    sa.UniqueConstraint("namespace_id", "name", "version"),
)


definition_runs = sa.Table(
    "definition_runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), nullable=False),
    sa.Column("definition_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # The alias the run was started through (Step Functions' StartExecution by alias ARN).
    sa.Column("alias", sa.String(80), nullable=True),
    # Serves the "open runs of this definition?" check before a delete.
    sa.Index("ix_definition_runs_namespace_id_name", "namespace_id", "name"),
)


# Step Functions' aliases: an alias of a definition name routes new runs to one version, or to
# two by integer weights summing to 100 (`routing`: JSON `[{"version", "weight"}]`).
definition_aliases = sa.Table(
    "definition_aliases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("namespace_id", sa.String(36), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("alias", sa.String(80), nullable=False),
    sa.Column("routing", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Serves a start by alias and the list of a name's aliases.
    sa.UniqueConstraint("namespace_id", "name", "alias"),
)
