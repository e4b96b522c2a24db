"""feedback: answers, votes, vote history, training runs, training lock

Revision ID: 0002_feedback
Revises: 0001_registry
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_feedback"
down_revision = "0001_registry"
branch_labels = ("feedback",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback_answers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", TZ, nullable=False, index=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("question_key", sa.String(64), nullable=False, index=True),
        sa.Column("standalone_query", sa.Text, nullable=True),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("chunk_ids", sa.JSON, nullable=False),
        sa.Column("chunk_hashes", sa.JSON, nullable=False),
        sa.Column("prompt", sa.JSON, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("adapter_version", sa.String(64), nullable=True, index=True),
        sa.Column("alias", sa.String(32), nullable=True),
        sa.Column("sampling", sa.JSON, nullable=False),
        sa.Column("guardrails", sa.JSON, nullable=False),
        sa.Column("timings_ms", sa.JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("user", sa.String(128), nullable=True, index=True),
        sa.Column("refused", sa.Boolean, nullable=False),
        sa.Column("refusal_rail", sa.String(64), nullable=True),
        sa.Column("alternative_of", sa.String(32), nullable=True, index=True),
        sa.Column("correction_of", sa.String(32), nullable=True, index=True),
    )
    op.create_index("ix_feedback_answers_message", "feedback_answers", ["channel", "ts"])
    op.create_table(
        "feedback_votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.String(32), sa.ForeignKey("feedback_answers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user", sa.String(128), nullable=False, index=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", TZ, nullable=False, index=True),
        sa.UniqueConstraint("answer_id", "user", name="uq_feedback_votes_answer_user"),
    )
    op.create_table(
        "feedback_vote_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.String(32), sa.ForeignKey("feedback_answers.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("user", sa.String(128), nullable=False, index=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False, index=True),
    )
    op.create_table(
        "feedback_training_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labelled_examples", sa.Integer, nullable=False),
        sa.Column("version_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("metrics", sa.JSON, nullable=False),
    )
    op.create_table(
        "feedback_training_lock",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("acquired_at", TZ, nullable=False),
        sa.Column("heartbeat_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("feedback_training_lock", "feedback_training_runs", "feedback_vote_events",
                  "feedback_votes", "feedback_answers"):
        op.drop_table(table)
