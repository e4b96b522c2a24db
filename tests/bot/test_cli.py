"""`ratchet ask --json` and `ratchet chat` driven through a pipe, on the real pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from feedback import FeedbackStore

pytestmark = [pytest.mark.vllm, pytest.mark.weaviate]


def _env(settings) -> dict[str, str]:
    env = dict(os.environ)
    rag = settings.rag
    env.update({
        "RATCHET_DATA_DIR": str(settings.data_dir),
        "RATCHET_ENGINE__VLLM_URL": settings.engine.vllm_url,
        "RATCHET_ENGINE__MODEL_DIR": str(settings.model_dir),
        "RATCHET_RAG__WEAVIATE_URL": rag.weaviate_url,
        "RATCHET_RAG__WEAVIATE_GRPC_PORT": str(rag.weaviate_grpc_port),
        "RATCHET_RAG__COLLECTION": rag.collection,
        "RATCHET_RAG__CACHE_ENABLED": "false",
        "RATCHET_RAG__MIN_SCORE": "0",
        "RATCHET_BOT__ANSWER_MAX_TOKENS": "16",
        "RATCHET_BOT__SERVICE_TIMEOUT_S": "30",
        "RATCHET_BOT__USER_GROUPS": json.dumps({"U0HRBOB": ["hr"]}),
        "RATCHET_LOG_LEVEL": "WARNING",
    })
    return env


def _ratchet(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=300)


def test_ask_json_and_permissions(bot_settings):
    settings = bot_settings()
    env = _env(settings)
    public = _ratchet(["ask", "What is the salary band E5?", "--channel", "C0PUBLIC", "--json"], env)
    assert public.returncode == 0, public.stderr
    data = json.loads(public.stdout)
    assert set(data) >= {"answer", "citations", "adapter", "refused", "timings_ms"}
    assert all(set(c) == {"source", "title", "heading", "chunk_id", "score"} for c in data["citations"])
    assert not any("salaries" in c["source"] for c in data["citations"])  # HR-only document stays hidden
    hr = _ratchet(["ask", "What is the salary band E5?", "--user", "U0HRBOB", "--json"], env)
    assert hr.returncode == 0, hr.stderr
    assert any("salaries" in c["source"] for c in json.loads(hr.stdout)["citations"])


def test_chat_through_a_pipe_streams_and_votes(bot_settings):
    settings = bot_settings()
    result = _ratchet(["chat"], _env(settings), stdin="How do I get VPN access?\n+\n-\n/quit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ratchet> " in out and "vpn.md" in out
    assert "(recorded +1 on the last answer)" in out and "(recorded -1 on the last answer)" in out
    store = FeedbackStore(settings)
    [answer] = store.recent_answers(limit=5)
    assert answer.source == "chat" and store.votes(answer.id) == {"local": -1}
