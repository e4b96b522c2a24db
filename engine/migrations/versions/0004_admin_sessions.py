"""bot: admin page sessions kept server-side (sign-out ends them) and failed sign-ins (rate limit)

Revision ID: 0004_admin_sessions
Revises: 0003_bot_payload
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_admin_sessions"
down_revision = "0003_bot_payload"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "admin_sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_admin_sign_in_failures_client_at", "admin_sign_in_failures", ["client", "at"])


def downgrade() -> None:
    op.drop_index("ix_admin_sign_in_failures_client_at", "admin_sign_in_failures")
    op.drop_table("admin_sign_in_failures")
    op.drop_table("admin_sessions")
