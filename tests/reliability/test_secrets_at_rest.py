"""Secrets at rest: the feedback store keeps the masked question, thread history, prompt and answer."""

from __future__ import annotations

from fb_helpers import answer_record
from sqlalchemy import text

from feedback import FeedbackStore
from guardrails.masking import mask_text
from guardrails.patterns import load_patterns

SLACK = "xoxb-1234567890-abcdefghijkl"
AWS = "AKIAABCDEFGHIJKLMNOP"
PASSWORD = "hunter2hunter2"


def _raw_rows(store: FeedbackStore) -> str:
    """Every stored answer row as text, straight from the database."""
    with store.sessions() as s:
        rows = s.execute(text("SELECT * FROM feedback_answers")).all()
    return "\n".join(str(tuple(row)) for row in rows)


def test_stored_question_and_history_are_masked(db_settings) -> None:
    store = FeedbackStore(db_settings())
    question = f"Why does {SLACK} fail with key {AWS}?"
    history = [{"role": "user", "content": f"the db password: {PASSWORD}"},
               {"role": "assistant", "content": "Please do not paste passwords here."}]
    aid = store.record_answer(answer_record(
        question=question, history=history, standalone_query=question,
        prompt=[{"role": "system", "content": "Answer from the context."}, *history,
                {"role": "user", "content": question}],
        answer=f"The key {AWS} is an AWS key.", guardrails={"input_text": question},  # rails switched off
    ))
    raw = _raw_rows(store)
    for secret in (SLACK, AWS, PASSWORD):
        assert secret not in raw, f"{secret} is stored in clear"
    row = store.get(aid)
    expected, kinds = mask_text(question, load_patterns().secrets, None, "SECRET")  # as the input rails do
    assert row.question == expected and set(kinds) == {"slack_token", "aws_key"}
    assert row.history[0]["content"] == "the db password: [SECRET:assignment]"
    assert row.history[1] == history[1], "text without secrets is kept as it was"
    assert row.prompt[-1]["content"] == expected and row.standalone_query == expected
    assert "[SECRET:aws_key]" in row.answer and row.guardrails["input_text"] == expected


def test_masked_questions_still_group_as_one_question(db_settings) -> None:
    store = FeedbackStore(db_settings())
    first = store.get(store.record_answer(answer_record(question=f"Is {AWS} valid?")))
    second = store.get(store.record_answer(answer_record(question="is AKIAZZZZZZZZZZZZZZZZ valid")))
    assert first.question_key == second.question_key
