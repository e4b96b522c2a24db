"""vLLM's API key: a vLLM Ratchet starts requires it, and every way Ratchet talks to vLLM sends it."""

from __future__ import annotations

import httpx
import pytest

from engine.llm_client import LLMClient, LLMError
from engine.process import free_port
from engine.settings import Settings
from engine.vllm_server import vllm_process

KEY = "vllm-key-3c1e9f0a77"


def test_the_key_reaches_vllm_by_environment_and_every_client(tmp_path, model_dir) -> None:
    settings = Settings(data_dir=tmp_path, engine={"model_dir": str(model_dir), "api_key": KEY})
    proc = vllm_process(settings)
    assert proc.env["VLLM_API_KEY"] == KEY and KEY not in " ".join(proc.argv), "never on the command line"
    from guardrails.nemo_app import nemo_config_dict

    main = nemo_config_dict(settings, settings.base_model_name)["models"][0]
    assert main["parameters"]["api_key"] == KEY, "the NeMo self-checks call vLLM with the key"


@pytest.mark.vllm
async def test_vllm_refuses_requests_without_the_key(tmp_path, model_dir) -> None:
    settings = Settings(data_dir=tmp_path, engine={"model_dir": str(model_dir), "api_key": KEY, "port": free_port(),
                                                   "max_num_seqs": 4})
    proc = vllm_process(settings)
    proc.start()
    try:
        base = settings.engine.base_url
        assert httpx.get(f"{base}/v1/models", timeout=10).status_code == 401
        loaded = httpx.post(f"{base}/v1/load_lora_adapter", timeout=10,
                            json={"lora_name": "x", "lora_path": str(settings.base_adapter_dir)})
        assert loaded.status_code == 401, "no adapter can be loaded without the key"
        async with LLMClient(base, retries=0) as anonymous:
            with pytest.raises(LLMError, match="401"):
                await anonymous.served()
        async with LLMClient.from_settings(settings.engine) as client:
            assert settings.engine.served_model_name in await client.served()
            reply = await client.chat([{"role": "user", "content": "Say OK."}], model=settings.base_model_name,
                                      max_tokens=4)
            assert reply.text
    finally:
        proc.stop()
