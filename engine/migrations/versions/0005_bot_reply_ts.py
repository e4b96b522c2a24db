"""bot: the reply message an event's answer is being written into, so a replay after a crash finishes that
message instead of posting a second one

Revision ID: 0005_bot_reply_ts
Revises: 0004_admin_sessions
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_bot_reply_ts"
down_revision = "0004_admin_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_processed_events") as batch:
        batch.add_column(sa.Column("reply_ts", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bot_processed_events") as batch:
        batch.drop_column("reply_ts")
