"""guardrails: refusals (rail that fired, masked input, time)

Revision ID: 0002_guardrails
Revises: 0001_registry
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_guardrails"
down_revision = "0001_registry"
branch_labels = ("guardrails",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("rail", sa.String(64), nullable=False, index=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("masked_input", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("user", sa.String(128), nullable=True, index=True),
        sa.Column("channel", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("refusals")
