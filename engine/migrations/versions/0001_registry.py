"""adapter registry: versions, aliases, alias history, audit log

Revision ID: 0001_registry
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapter_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, unique=True, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_version", sa.String(64), nullable=True),
        sa.Column("dataset_snapshot_id", sa.String(128), nullable=True),
        sa.Column("hyperparameters", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("gate_report", sa.JSON, nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
    )
    op.create_table(
        "adapter_aliases",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("version_id", sa.String(64), sa.ForeignKey("adapter_versions.id"), nullable=True),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "adapter_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=True),
        sa.Column("to_version", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("allowed", sa.Integer, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "adapter_alias_history", "adapter_aliases", "adapter_versions"):
        op.drop_table(table)
