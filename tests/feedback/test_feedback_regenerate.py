"""The regenerate hook on the real vLLM: a second answer to the exact same prompt, and the user's pick."""

from __future__ import annotations

import pytest

from engine.llm_client import LLMClient
from feedback import FeedbackStore
from feedback.datasets import build_preference_data
from feedback.regenerate import regenerate
from feedback.synthetic import record_synthetic_answer


@pytest.mark.vllm
async def test_regenerated_alternative_and_pick_make_a_pair(engine_settings) -> None:
    settings = engine_settings.model_copy(update={"feedback": engine_settings.feedback.model_copy(
        update={"heldout_fraction": 0.0})})
    store = FeedbackStore(settings)
    first = record_synthetic_answer(store, 0, "I don't know.")
    async with LLMClient.from_settings(settings.engine) as client:
        alt, text = await regenerate(store, first, client, max_tokens=16)
    row = store.get(alt)
    assert row.alternative_of == first and row.answer == text and text.strip()
    assert row.prompt == store.get(first).prompt and row.source == "regenerate"
    assert row.sampling["temperature"] == settings.feedback.regenerate_temperature
    store.record_pick(first, alt, user="U1", chosen_id=alt)
    pairs = build_preference_data(store).pairs["train"]
    assert [(p.kind, p.chosen_id, p.rejected_id) for p in pairs] == [("regenerated", alt, first)]
