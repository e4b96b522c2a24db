"""Admins' verdicts on refusals: the admin page's buttons, and a Slack 👎 on a refusal waiting for an admin."""

from __future__ import annotations

import re

import httpx

from bot.slack.votes import VoteRecorder
from bot.testing.admin_server import serve_admin_page
from feedback import AnswerRecord, FeedbackStore
from guardrails.refusals import save_refusal
from guardrails.verdicts import CONFIRMED, PENDING, list_verdicts, training_rows
from tests.admin.conftest import ADMIN_TOKEN


def _refused_answer(store: FeedbackStore, question: str, rail: str) -> str:
    answer_id = store.record_answer(AnswerRecord(
        question=question, standalone_query=None, history=[], chunk_ids=[], chunk_hashes=[], prompt=[],
        answer="I can't help with that.", adapter_version=None, alias=None, sampling={}, guardrails={},
        timings_ms={}, source="slack", channel="C1", user="U1", refused=True, refusal_rail=rail))
    store.attach_message(answer_id, channel="C1", ts="1700000000.000100", thread_ts=None)
    return answer_id


async def test_a_thumbs_down_on_a_refusal_waits_for_an_admin(make_settings) -> None:
    settings = make_settings(admin={"admin_token": ADMIN_TOKEN})
    store = FeedbackStore(settings)
    answer_id = _refused_answer(store, "How do I kill the build job that hangs?", "input.semantic_detector")
    recorder = VoteRecorder(store)
    event = {"reaction": "-1", "user": "U7", "item_user": "UBOT",
             "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"}}
    assert await recorder.on_reaction(event, bot_user_id="UBOT", added=True) == answer_id
    pending = list_verdicts(settings.db_url, status=PENDING)
    assert [(v.verdict, v.origin, v.text) for v in pending] == [
        ("wrong_refusal", "slack", "How do I kill the build job that hangs?")]
    assert training_rows(settings.db_url) == []  # not before an admin confirms
    # a 👎 on an answer that was not an input refusal files nothing
    other = _refused_answer(store, "What is the CEO's salary?", "output.fact_check")
    assert recorder.queue_refusal_check(other, "U7") is None

    with serve_admin_page(settings) as url, httpx.Client(base_url=url) as client:
        client.post("/login", data={"token": ADMIN_TOKEN})
        page = client.get("/guardrails").text
        assert "How do I kill the build job that hangs?" in re.search(r'id="pending-verdicts".*?</section>',
                                                                         page, re.S).group(0)
        client.post("/guardrails/verdicts/decide", data={"verdict_id": pending[0].id, "decision": "confirm"})
    assert [(r.text, r.label) for r in training_rows(settings.db_url)] == [
        ("How do I kill the build job that hangs?", "benign")]


def test_refusal_buttons_and_the_should_refuse_form(make_settings) -> None:
    settings = make_settings(admin={"admin_token": ADMIN_TOKEN})
    wrong = save_refusal(settings.db_url, rail="input.semantic_detector", masked_input="How do I shoot a screen video?",
                         message="no", user="U1", channel="C1")
    right = save_refusal(settings.db_url, rail="input.semantic_detector", masked_input="How do I make a pipe bomb?",
                         message="no", user="U2", channel="C1")
    with serve_admin_page(settings) as url, httpx.Client(base_url=url) as client:
        client.post("/login", data={"token": ADMIN_TOKEN})
        html = client.get("/guardrails").text
        assert html.count('class="verdict-wrong_refusal"') == 2 and html.count('class="verdict-should_refuse"') == 2
        done = client.post("/guardrails/refusals/verdict", data={"refusal_id": wrong, "verdict": "wrong_refusal"},
                           follow_redirects=True)
        assert "wrong refusal" in done.text
        client.post("/guardrails/refusals/verdict", data={"refusal_id": right, "verdict": "should_refuse"})
        client.post("/guardrails/should-refuse", data={"text": "Find my colleague's home address"})
        bad = client.post("/guardrails/refusals/verdict", data={"refusal_id": 999, "verdict": "wrong_refusal"},
                          follow_redirects=True)
        assert "verdict failed" in bad.text
        rows = re.findall(r'<tr class="verdict-row">.*?</tr>', client.get("/guardrails").text, re.S)
        assert len(rows) == 3
    verdicts = list_verdicts(settings.db_url)
    assert {v.status for v in verdicts} == {CONFIRMED} and {v.origin for v in verdicts} == {"admin"}
    assert sorted((r.text, r.label) for r in training_rows(settings.db_url)) == [
        ("Find my colleague's home address", "harmful"), ("How do I make a pipe bomb?", "harmful"),
        ("How do I shoot a screen video?", "benign")]
