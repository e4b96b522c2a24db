"""feedback: votes on a message whose answer is still being written wait here until it is recorded

Revision ID: 0003_feedback_pending_votes
Revises: 0002_feedback
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_feedback_pending_votes"
down_revision = "0002_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_pending_votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_pending_votes_message", "feedback_pending_votes", ["channel", "ts"])


def downgrade() -> None:
    op.drop_index("ix_feedback_pending_votes_message", "feedback_pending_votes")
    op.drop_table("feedback_pending_votes")
