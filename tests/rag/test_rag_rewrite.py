"""Query rewrite with thread history against the real vLLM, feeding the real retriever."""

from __future__ import annotations

from pathlib import Path

from engine.llm_client import LLMClient
from engine.rag import Retriever, ingest_paths
from engine.rag.rewrite import clean_rewrite
from engine.settings import Settings
from tests.rag.helpers import CORPUS, write

HISTORY = [
    {"role": "user", "content": "How do I set up the VPN client?"},
    {"role": "assistant", "content": "Install the WireGuard client and import the corp-vpn.conf profile."},
]


def test_clean_rewrite_strips_and_falls_back() -> None:
    question = "and who sends it?"
    assert clean_rewrite('Query: "who sends the VPN profile"\nmore', question) == "who sends the VPN profile"
    assert clean_rewrite("   \n", question) == question
    assert clean_rewrite("x" * 2000, question) == question
    assert clean_rewrite("Install WireGuard.", "Who sends the profile?") == "Who sends the profile? Install WireGuard."


async def test_follow_up_is_rewritten_with_history(rag_settings: Settings, engine_settings: Settings,
                                                   tmp_path: Path) -> None:
    for name, text in CORPUS.items():
        write(tmp_path / "kb", name, text)
    ingest_paths(rag_settings, [tmp_path / "kb"], show_progress=False)
    question = "and who sends me that profile?"
    retriever = Retriever(rag_settings)
    try:
        async with LLMClient.from_settings(engine_settings.engine) as llm:
            result = await retriever.retrieve(question, groups=["public"], history=HISTORY, llm=llm,
                                              model=engine_settings.engine.served_model_name)
        plain = await retriever.retrieve(question, groups=["public"], history=HISTORY)  # no llm: no rewrite
    finally:
        retriever.close()
    assert result.timings_ms["rewrite"] > 0 and "rewrite" not in plain.timings_ms
    assert plain.query == question
    assert result.query != question
    assert any(term in result.query.lower() for term in ("vpn", "wireguard", "corp-vpn"))
    assert result.chunks[0].source.endswith("vpn.md")
    assert "IT sends you" in result.chunks[0].text
