"""The "regenerate" hook: a second answer to the same prompt, recorded as an alternative.

The bot shows both answers; the user's pick (``FeedbackStore.record_pick``) becomes a DPO pair
("regenerated"). The alternative comes from another model (adapter version or base) when one is given,
otherwise from the same model with a higher sampling temperature.
"""

from __future__ import annotations

from engine.llm_client import LLMClient
from feedback.store import AnswerRecord, FeedbackStore


async def regenerate(store: FeedbackStore, answer_id: str, client: LLMClient, *, model: str | None = None,
                     max_tokens: int | None = None) -> tuple[str, str]:
    """Answer ``answer_id``'s exact prompt again; returns (alternative answer id, its text)."""
    original = store.get(answer_id)
    settings = store.settings
    served = model or original.adapter_version or settings.base_model_name
    temperature = settings.feedback.regenerate_temperature
    max_tokens = max_tokens or int(original.sampling.get("max_tokens") or settings.engine.default_max_tokens)
    gen = await client.chat(original.prompt, model=served, max_tokens=max_tokens, temperature=temperature)
    adapter = None if served in (settings.engine.served_model_name, settings.base_model_name) else served
    rec = AnswerRecord(
        question=original.question, standalone_query=original.standalone_query, history=original.history,
        chunk_ids=original.chunk_ids, chunk_hashes=original.chunk_hashes, prompt=original.prompt,
        answer=gen.text, adapter_version=adapter, alias=None,
        sampling={"temperature": temperature, "max_tokens": max_tokens, "model": served},
        guardrails={}, timings_ms={"generate": round(gen.total_ms, 1)}, source="regenerate",
        channel=original.channel, thread_ts=original.thread_ts, user=None,
    )
    alt_id = store.record_answer(rec, alternative_of=answer_id)
    return alt_id, gen.text
