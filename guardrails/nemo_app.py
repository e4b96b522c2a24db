"""NeMo Guardrails, offline and rails-only: the config that points at vLLM, one LLMRails per model.

The packaged ``config/nemo`` directory holds the NeMo config (rails-only self-checks), the self-check
prompts and ``rails.co``: the flow that runs Ratchet's learned detector as the NeMo action
``ratchet_input_detector`` (first input rail; the caller registers the action, see :class:`RailsPool`). At load time Ratchet adds the main model (vLLM's OpenAI-compatible endpoint with
the adapter in force as the model name), the local embeddings model, the flows the settings switch on,
and the self-check lengths. Telemetry is off; no host but vLLM is called.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.rag.embedder import default_model_path
from engine.settings import Settings
from guardrails.patterns import GuardrailConfigError

if TYPE_CHECKING:
    from nemoguardrails import LLMRails

INPUT_FLOW = "self check input"
SAFETY_INPUT_FLOW = "content safety check input $model=content_safety"
SAFETY_OUTPUT_FLOW = "content safety check output $model=content_safety"
DETECTOR_FLOW = "ratchet input detector"
DETECTOR_ACTION = "ratchet_input_detector"
OUTPUT_FLOW = "self check output"


def nemo_config_dict(settings: Settings, model: str, *, self_check_input: bool | None = None) -> dict[str, Any]:
    """The NeMo config (as a dict) for ``model``: packaged files plus models and flows. The input rails are
    the learned detector (when ``semantic_detector``), then ``self check input`` (``self_check_input``,
    default: the setting)."""
    nemo_dir = config_dir(settings) / "nemo"
    data: dict[str, Any] = {}
    for name in ("config.yml", "prompts.yml"):
        path = nemo_dir / name
        if not path.is_file():
            raise GuardrailConfigError(f"{path} is missing: copy guardrails/config/nemo there")
        data.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    g = settings.guardrails
    data["models"] = [
        {
            "type": "main",
            "engine": "openai",
            "model": model,
            "parameters": {
                "base_url": f"{settings.engine.base_url}/v1",
                "api_key": settings.engine.api_key or "EMPTY",
                "timeout": settings.engine.request_timeout_s,
                "max_retries": settings.engine.connect_retries,
            },
        },
        {
            "type": "embeddings",
            "engine": "SentenceTransformers",
            "model": str(settings.rag.embedding_model or default_model_path()),
        },
    ]
    rails = data.setdefault("rails", {})
    self_check = g.self_check_input if self_check_input is None else self_check_input
    safety = content_safety(settings, data)
    rails.setdefault("input", {})["flows"] = ([DETECTOR_FLOW] if g.semantic_detector else []) + (
        [SAFETY_INPUT_FLOW] if safety else []) + ([INPUT_FLOW] if self_check else [])
    output = rails.setdefault("output", {})
    output["flows"] = ([SAFETY_OUTPUT_FLOW] if safety else []) + ([OUTPUT_FLOW] if g.self_check_output else [])
    output.pop("streaming", None)  # Ratchet streams sentence by sentence itself (guardrails/streaming.py)
    for prompt in data.get("prompts", []):
        if prompt["task"] in ("self_check_input", "self_check_output"):
            prompt["max_tokens"] = g.self_check_max_tokens
    return data


def content_safety(settings: Settings, data: dict[str, Any]) -> bool:
    """With ``guardrails.content_safety_url``: add the safety model (its own vLLM) and its prompts to ``data``."""
    g = settings.guardrails
    if not g.content_safety_url:
        return False
    path = config_dir(settings) / "nemo" / "content_safety.yml"
    if not path.is_file():
        raise GuardrailConfigError(f"{path} is missing: copy guardrails/config/nemo/content_safety.yml there")
    data.setdefault("prompts", []).extend((yaml.safe_load(path.read_text(encoding="utf-8")) or {})["prompts"])
    data["models"].append({
        "type": "content_safety", "engine": "openai", "model": g.content_safety_model,
        "parameters": {"base_url": f"{g.content_safety_url.rstrip('/')}/v1", "api_key": settings.engine.api_key or "EMPTY",
                       "timeout": settings.engine.request_timeout_s, "max_retries": settings.engine.connect_retries},
    })
    return True


def config_dir(settings: Settings) -> Path:
    """The guardrails config directory in force (``guardrails.config_dir`` or the packaged one)."""
    return Path(settings.guardrails.config_dir or Path(__file__).with_name("config"))


def colang_content(settings: Settings) -> str:
    """The packaged flows (``rails.co``): the learned detector's input rail."""
    path = config_dir(settings) / "nemo" / "rails.co"
    if not path.is_file():
        raise GuardrailConfigError(f"{path} is missing: copy guardrails/config/nemo/rails.co there")
    return path.read_text(encoding="utf-8")


def build_rails(settings: Settings, model: str, actions: dict[str, Callable] | None = None, *,
                self_check_input: bool | None = None) -> LLMRails:
    """An LLMRails for ``model`` (a served vLLM model name: the base model or a loaded adapter) with
    ``actions`` registered (e.g. ``ratchet_input_detector``).

    NeMo is imported here, not at module load: importing it takes seconds, and most commands never need it.
    """
    os.environ.setdefault("NEMO_GUARDRAILS_NO_USAGE_STATS", "1")
    from nemoguardrails import LLMRails, RailsConfig

    data = nemo_config_dict(settings, model, self_check_input=self_check_input)
    config = RailsConfig.from_content(yaml_content=yaml.safe_dump(data), colang_content=colang_content(settings))
    rails = LLMRails(config)
    for name, action in (actions or {}).items():
        rails.register_action(action, name)
    return rails


class RailsPool:
    """One LLMRails per model name and input self-check on/off, built on first use, with ``actions``."""

    def __init__(self, settings: Settings, actions: dict[str, Callable] | None = None) -> None:
        self.settings = settings
        self.actions = dict(actions or {})
        self._rails: dict[tuple[str, bool | None], LLMRails] = {}
        self._building: dict[tuple[str, bool | None], asyncio.Lock] = {}

    def get(self, model: str, *, self_check_input: bool | None = None) -> LLMRails:
        """The LLMRails whose main model is ``model`` (``self_check_input`` False: the detector flow only)."""
        key = (model, self_check_input)
        if key not in self._rails:
            self._rails[key] = build_rails(self.settings, model, self.actions, self_check_input=self_check_input)
        return self._rails[key]

    async def aget(self, model: str, *, self_check_input: bool | None = None) -> LLMRails:
        """:meth:`get` for the event loop: a new model's rails are built in a worker thread (a promotion brings a
        new model name; building takes CPU time other answers must not wait for), once for concurrent callers."""
        key = (model, self_check_input)
        if key not in self._rails:
            async with self._building.setdefault(key, asyncio.Lock()):
                if key not in self._rails:
                    self._rails[key] = await asyncio.to_thread(
                        build_rails, self.settings, model, self.actions, self_check_input=self_check_input)
        return self._rails[key]
