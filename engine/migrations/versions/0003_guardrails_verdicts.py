"""guardrails: admins' verdicts on input decisions (wrong refusal / should have refused), pending or confirmed

Revision ID: 0003_guardrails_verdicts
Revises: 0002_guardrails
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_guardrails_verdicts"
down_revision = "0002_guardrails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardrail_verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("refusal_id", sa.Integer, nullable=True),
        sa.Column("answer_id", sa.String(64), nullable=True),
        sa.Column("reported_by", sa.String(128), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("guardrail_verdicts")
