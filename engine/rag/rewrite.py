"""Query rewrite: turn a follow-up question in a thread into a standalone search query (engine's model).

The model sees the last ``rag.rewrite_history_turns`` turns and the question, and must reply with the
query only. Its reply is cleaned (first line, no quotes or "Query:" prefix); an empty or runaway reply,
or an unreachable model, falls back to the question itself — a rewrite never blocks retrieval. Small
models often answer the previous turn instead of rewriting: when the reply keeps less than half of the
question's content words, the query is the question followed by the reply (context terms added, the
question's own terms never lost).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.llm_client import LLMClient, LLMError
from engine.logs import get_logger
from engine.rag.rerank import content_words
from engine.settings import RagSettings

log = get_logger(__name__)

SYSTEM_PROMPT = (
    "You rewrite the user's last question into one standalone search query. "
    "Replace pronouns like 'it' or 'that' with what they refer to in the conversation. "
    "Reply with the query only."
)
_PREFIX = re.compile(r"^(standalone\s+)?(search\s+)?(query|question|rewritten)\s*:\s*", re.IGNORECASE)


def _transcript(history: Sequence[dict], turns: int) -> str:
    lines = []
    for turn in list(history)[-turns:]:
        role = "User" if turn.get("role", "user") == "user" else "Assistant"
        content = " ".join(str(turn.get("content", "")).split())
        if content:
            lines.append(f"{role}: {content[:500]}")
    return "\n".join(lines)


def clean_rewrite(reply: str, question: str) -> str:
    """The usable query in a model reply, or ``question`` when the reply is unusable."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    query = _PREFIX.sub("", lines[0]).strip().strip("\"'`").strip() if lines else ""
    if not query or len(query) > max(300, 3 * len(question)):
        return question
    asked = content_words(question)
    if asked and len(asked & content_words(query)) < len(asked) / 2:
        return f"{question} {query}"
    return query


async def rewrite_query(question: str, history: Sequence[dict], *, llm: LLMClient, model: str,
                        rag: RagSettings) -> str:
    """A standalone version of ``question`` given the thread ``history`` (role/content dicts)."""
    transcript = _transcript(history, rag.rewrite_history_turns)
    if not transcript:
        return question
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Conversation:\n{transcript}\n\nLast question: {question}\n\nStandalone query:"},
    ]
    try:
        generation = await llm.chat(messages, model=model, max_tokens=rag.rewrite_max_tokens, temperature=0.0)
    except LLMError as exc:
        log.warning("rewrite.failed", error=str(exc))
        return question
    query = clean_rewrite(generation.text, question)
    log.info("rewrite.done", question=question, query=query)
    return query
