"""bot: processed Slack events (exactly-once delivery across restarts)

Revision ID: 0002_bot
Revises: 0001_registry
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_bot"
down_revision = "0001_registry"
branch_labels = ("bot",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_processed_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bot_processed_events_claimed_at", "bot_processed_events", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_bot_processed_events_claimed_at", "bot_processed_events")
    op.drop_table("bot_processed_events")
