"""NeMo Guardrails, offline and rails-only: the config that points at vLLM, one LLMRails per model.

The packaged ``config/nemo`` directory holds the NeMo config (rails-only self-checks) and
the self-check prompts. At load time Ratchet adds the main model (vLLM's OpenAI-compatible endpoint with
the adapter in force as the model name), the local embeddings model, the flows the settings switch on,
and the self-check lengths. Telemetry is off; no host but vLLM is called.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.rag.embedder import default_model_path
from engine.settings import Settings
from guardrails.patterns import GuardrailConfigError

if TYPE_CHECKING:
    from nemoguardrails import LLMRails

INPUT_FLOW = "self check input"
OUTPUT_FLOW = "self check output"


def nemo_config_dict(settings: Settings, model: str) -> dict[str, Any]:
    """The NeMo config (as a dict) for ``model``: packaged files plus models and flows."""
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
    rails.setdefault("input", {})["flows"] = [INPUT_FLOW] if g.self_check_input else []
    output = rails.setdefault("output", {})
    output["flows"] = [OUTPUT_FLOW] if g.self_check_output else []
    output.pop("streaming", None)  # Ratchet streams sentence by sentence itself (guardrails/streaming.py)
    for prompt in data.get("prompts", []):
        prompt["max_tokens"] = g.self_check_max_tokens
    return data


def config_dir(settings: Settings) -> Path:
    """The guardrails config directory in force (``guardrails.config_dir`` or the packaged one)."""
    return Path(settings.guardrails.config_dir or Path(__file__).with_name("config"))


def build_rails(settings: Settings, model: str) -> LLMRails:
    """An LLMRails for ``model`` (a served vLLM model name: the base model or a loaded adapter).

    NeMo is imported here, not at module load: importing it takes seconds, and most commands never need it.
    """
    os.environ.setdefault("NEMO_GUARDRAILS_NO_USAGE_STATS", "1")
    from nemoguardrails import LLMRails, RailsConfig

    config = RailsConfig.from_content(yaml_content=yaml.safe_dump(nemo_config_dict(settings, model)))
    return LLMRails(config)


class RailsPool:
    """One LLMRails per model name, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rails: dict[str, LLMRails] = {}
        self._building: dict[str, asyncio.Lock] = {}

    def get(self, model: str) -> LLMRails:
        """The LLMRails whose main model is ``model``."""
        if model not in self._rails:
            self._rails[model] = build_rails(self.settings, model)
        return self._rails[model]

    async def aget(self, model: str) -> LLMRails:
        """:meth:`get` for the event loop: a new model's rails are built in a worker thread (a promotion brings a
        new model name; building takes CPU time other answers must not wait for), once for concurrent callers."""
        if model not in self._rails:
            async with self._building.setdefault(model, asyncio.Lock()):
                if model not in self._rails:
                    self._rails[model] = await asyncio.to_thread(build_rails, self.settings, model)
        return self._rails[model]
