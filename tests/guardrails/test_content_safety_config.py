"""GPU deployments: the NeMo content-safety rail (a safety model on its own vLLM) loads offline; and the
per-model switch for the model's own self-check."""

from __future__ import annotations

import pytest
import yaml

from guardrails import Guardrails
from guardrails.nemo_app import (DETECTOR_FLOW, INPUT_FLOW, SAFETY_INPUT_FLOW, SAFETY_OUTPUT_FLOW, build_rails,
                                 nemo_config_dict)

SAFETY_URL = "http://127.0.0.1:9"  # nothing listens there: loading the config must not call the model


def test_the_content_safety_rail_config_loads_without_a_model(make_settings) -> None:
    settings = make_settings(guardrails={"content_safety_url": SAFETY_URL})
    data = nemo_config_dict(settings, "ratchet-base")
    assert data["rails"]["input"]["flows"] == [DETECTOR_FLOW, SAFETY_INPUT_FLOW, INPUT_FLOW]
    assert data["rails"]["output"]["flows"][0] == SAFETY_OUTPUT_FLOW
    safety = next(m for m in data["models"] if m["type"] == "content_safety")
    assert safety["parameters"]["base_url"] == f"{SAFETY_URL}/v1"
    assert safety["model"] == settings.guardrails.content_safety_model
    rails = build_rails(settings, "ratchet-base")  # NeMo parses and validates the whole config here
    tasks = {p.task for p in rails.config.prompts}
    assert {"content_safety_check_input $model=content_safety",
            "content_safety_check_output $model=content_safety"} <= tasks
    assert {m.type for m in rails.config.models} >= {"main", "content_safety"}
    # without the setting there is no safety model and no safety flow
    plain = nemo_config_dict(make_settings(), "ratchet-base")
    assert SAFETY_INPUT_FLOW not in plain["rails"]["input"]["flows"]
    assert all(m["type"] != "content_safety" for m in plain["models"])


def test_nemo_refuses_a_content_safety_config_without_its_prompts(make_settings, tmp_path) -> None:
    from nemoguardrails import RailsConfig

    data = nemo_config_dict(make_settings(guardrails={"content_safety_url": SAFETY_URL}), "ratchet-base")
    data["prompts"] = [p for p in data["prompts"] if not p["task"].startswith("content_safety")]
    with pytest.raises(Exception, match="content_safety"):
        RailsConfig.from_content(yaml_content=yaml.safe_dump(data))


async def test_the_self_check_runs_only_for_models_it_can_decide_for(make_settings, recording_openai) -> None:
    recording_openai.reply = "Yes"
    base = {"engine": {"vllm_url": recording_openai.url}}
    name = make_settings().model_dir.name
    from engine.settings import GuardrailSettings

    assert GuardrailSettings().self_check_models == {name: False}  # measured no better than chance (bench)
    assert not Guardrails(make_settings(guardrails=GuardrailSettings().model_dump())).self_check_decides()
    off = Guardrails(make_settings(**base, guardrails={"detector_suspicion": 0.0, "self_check_models": {name: False}}))
    assert not off.self_check_decides()
    assert (await off.check_input("What time does the cafeteria open?", model="m")).allowed
    assert recording_openai.requests == []
    on = Guardrails(make_settings(**base, guardrails={"detector_suspicion": 0.0, "self_check_input": False,
                                                      "self_check_models": {name: True}}))
    refused = await on.check_input("What time does the cafeteria open?", model="m")
    assert not refused.allowed and refused.rail == "input.self_check" and len(recording_openai.requests) == 1
