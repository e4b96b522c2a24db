"""A small synthetic feedback set for tests and the training benchmark.

Each question asks for a fact that is in the prompt's context; the 👍 answer states it with a citation,
the 👎 answer refuses. The preference is easy and consistent, so a tiny training run can learn it.
"""

from __future__ import annotations

from feedback.store import AnswerRecord, FeedbackStore

TOPICS = ["the Berlin office", "the VPN", "parental leave", "the expense portal", "the badge desk", "the gym",
          "the travel policy", "the laptop refresh", "the on-call rota", "the coffee machine", "the wiki",
          "the payroll date", "the parking garage", "the mentoring programme", "the security training",
          "the holiday calendar", "the printer", "the team budget", "the bike shed", "the library"]
REFUSAL = "I don't know."


def synthetic_prompt(i: int) -> tuple[str, list[dict], str]:
    """(question, exact prompt with context, the good answer) for item ``i``."""
    topic = TOPICS[i % len(TOPICS)]
    code = 1000 + 37 * i
    fact = f"The reference number for {topic} is {code}."
    question = f"What is the reference number for {topic}? (#{i})"
    prompt = [{"role": "system", "content": f"Answer only from the context and cite it like [1].\n[1] {fact}"},
              {"role": "user", "content": question}]
    return question, prompt, f"The reference number for {topic} is {code} [1]."


def record_synthetic_answer(store: FeedbackStore, i: int, answer: str, *, adapter_version: str | None = None,
                            source: str = "cli") -> str:
    """Store one answer to synthetic question ``i`` (as the bot would); returns its id."""
    question, prompt, _ = synthetic_prompt(i)
    return store.record_answer(AnswerRecord(
        question=question, standalone_query=question, history=[], chunk_ids=[f"synthetic#{i}"],
        chunk_hashes=[f"h{i}"], prompt=prompt, answer=answer, adapter_version=adapter_version,
        alias="production", sampling={"temperature": 0.0}, guardrails={}, timings_ms={}, source=source,
        user=f"U{i % 5}",
    ))


def seed_pairs(store: FeedbackStore, n: int) -> None:
    """Record ``n`` questions, each with a 👍 cited answer and a 👎 refusal."""
    for i in range(n):
        good = record_synthetic_answer(store, i, synthetic_prompt(i)[2])
        store.record_vote(good, f"V{i}", 1, "cli")
        bad = record_synthetic_answer(store, i, REFUSAL)
        store.record_vote(bad, f"V{i}", -1, "cli")
