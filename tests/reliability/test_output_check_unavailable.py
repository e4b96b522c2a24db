"""An output self-check that cannot run blocks the answer by default (``guardrails.output_check_unavailable``),
or lets it through when set to "allow"; either way it is counted in Prometheus."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from engine.process import free_port
from engine.settings import Settings

ANSWER = "The VPN portal is at vpn.example.com and needs your badge number."


def _unavailable(rail: str, action: str) -> float:
    return REGISTRY.get_sample_value("ratchet_self_check_unavailable_total", {"rail": rail, "action": action}) or 0.0


def _guard(tmp_path, model_dir, **guardrails):
    from guardrails import Guardrails

    # vLLM (which runs the self-check) is down: nothing listens on this port
    settings = Settings(data_dir=tmp_path, engine={"model_dir": str(model_dir), "connect_retries": 0,
                                                   "vllm_url": f"http://127.0.0.1:{free_port()}"},
                        guardrails={"fact_check": False, "semantic_detector": False, **guardrails})
    return Guardrails(settings), settings.base_model_name


async def _pieces():
    for word in ANSWER.split(" "):
        yield word + " "


async def test_unavailable_output_check_blocks_by_default(tmp_path, model_dir) -> None:
    guard, model = _guard(tmp_path, model_dir)
    before = _unavailable("output", "block")
    verdict = await guard.check_output(ANSWER, question="Where is the VPN portal?", chunks=[], model=model)
    assert not verdict.allowed and verdict.rail == "output.self_check_unavailable"
    assert "self_check_unavailable" in verdict.flags and "not available" in verdict.message
    assert _unavailable("output", "block") == before + 1
    events = [e async for e in guard.stream_output(_pieces(), question="Where is the VPN portal?", chunks=[],
                                                   model=model)]
    assert events[-1].blocked and events[-1].verdict.rail == "output.self_check_unavailable"
    assert _unavailable("output", "block") >= before + 2


async def test_unavailable_output_check_can_be_allowed_and_is_counted(tmp_path, model_dir) -> None:
    guard, model = _guard(tmp_path, model_dir, output_check_unavailable="allow")
    before = _unavailable("output", "allow")
    verdict = await guard.check_output(ANSWER, question="Where is the VPN portal?", chunks=[], model=model)
    assert verdict.allowed and verdict.text == ANSWER and "self_check_unavailable" in verdict.flags
    assert _unavailable("output", "allow") == before + 1


def test_the_setting_takes_only_block_or_allow(tmp_path) -> None:
    assert Settings(data_dir=tmp_path).guardrails.output_check_unavailable == "block"
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, guardrails={"output_check_unavailable": "maybe"})
