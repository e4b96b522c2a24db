"""bot: the event body is stored with its claim, so a question acknowledged to Slack survives a crash

Revision ID: 0003_bot_payload
Revises: 0002_bot
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_bot_payload"
down_revision = "0002_bot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_processed_events") as batch:
        batch.add_column(sa.Column("payload", sa.JSON, nullable=True))
    op.create_index("ix_bot_processed_events_status", "bot_processed_events", ["status"])


def downgrade() -> None:
    op.drop_index("ix_bot_processed_events_status", "bot_processed_events")
    with op.batch_alter_table("bot_processed_events") as batch:
        batch.drop_column("payload")
