"""retrieval-model registry: embedder and reranker versions, the one in service per kind, history

Revision ID: 0002_retrieval
Revises: 0001_registry
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_retrieval"
down_revision = "0001_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrieval_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_version", sa.String(64), nullable=True),
        sa.Column("dataset_snapshot_id", sa.String(128), nullable=True),
        sa.Column("hyperparameters", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("gate_report", sa.JSON, nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
        sa.UniqueConstraint("kind", "seq", name="uq_retrieval_versions_kind_seq"),
    )
    op.create_table(
        "retrieval_production",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("version_id", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "retrieval_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=True),
        sa.Column("to_version", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("forced", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("retrieval_history", "retrieval_production", "retrieval_versions"):
        op.drop_table(table)
