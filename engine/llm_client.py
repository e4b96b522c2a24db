"""The one client module for the vLLM OpenAI-compatible server.

Chat completions (whole or streamed over SSE, with time-to-first-token measured), per-request adapter
selection (the ``model`` field names the base model or a loaded LoRA adapter), timeouts, retries with
backoff on connection errors, the runtime LoRA load/unload endpoints, and vLLM's API key (``engine.api_key``,
sent as a bearer token). Everything else in Ratchet
reaches vLLM through this module.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.errors import RatchetError
from engine.logs import get_logger
from engine.settings import EngineSettings

log = get_logger(__name__)

RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class LLMError(RatchetError, RuntimeError):
    """vLLM rejected a request or could not be reached; the message says which."""


class LLMUnavailable(LLMError):
    """vLLM could not be reached after the configured retries."""


@dataclass
class Generation:
    """One finished chat completion."""

    text: str
    model: str
    finish_reason: str | None = None
    ttft_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_logprobs: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        tokens = self.completion_tokens or 0
        return tokens / (self.total_ms / 1000) if self.total_ms > 0 else 0.0


@dataclass
class StreamDelta:
    """A piece of streamed text (``done`` marks the final event, which carries the Generation)."""

    text: str
    done: bool = False
    generation: Generation | None = None


class LLMClient:
    """Async client for chat generation and adapter management on one vLLM server."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=64),
        )

    @classmethod
    def from_settings(cls, engine: EngineSettings, **kwargs: Any) -> "LLMClient":
        return cls(
            engine.base_url,
            timeout_s=engine.request_timeout_s,
            retries=engine.connect_retries,
            backoff_s=engine.retry_backoff_s,
            api_key=engine.api_key,
            **kwargs,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- plumbing ------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries on connection errors; raise LLMError on an error status."""
        for attempt in range(self.retries + 1):
            try:
                resp = await self._client.request(method, path, **kwargs)
                break
            except RETRYABLE as exc:
                if attempt >= self.retries:
                    raise LLMUnavailable(f"vLLM at {self.base_url} unreachable: {exc!r}") from exc
                await asyncio.sleep(self.backoff_s * 2**attempt)
            except httpx.TimeoutException as exc:
                raise LLMUnavailable(f"vLLM at {self.base_url} timed out: {exc!r}") from exc
        if resp.is_error:
            raise LLMError(f"vLLM {method} {path} -> {resp.status_code}: {_error_text(resp)}")
        return resp

    @staticmethod
    def _chat_body(
        messages: list[dict[str, str]], model: str, max_tokens: int, temperature: float, **extra: Any
    ) -> dict[str, Any]:
        return {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            **extra,
        }

    # --- generation ----------------------------------------------------------------------------------
    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int = 256,
        temperature: float = 0.0,
        logprobs: bool = False,
        **extra: Any,
    ) -> Generation:
        """One chat completion, returned whole."""
        body = self._chat_body(messages, model, max_tokens, temperature, **extra)
        if logprobs:
            body["logprobs"] = True
        start = time.perf_counter()
        resp = await self._request("POST", "/v1/chat/completions", json=body)
        data = resp.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        lps = [t["logprob"] for t in ((choice.get("logprobs") or {}).get("content") or [])]
        return Generation(
            text=choice["message"].get("content") or "",
            model=data.get("model", model),
            finish_reason=choice.get("finish_reason"),
            total_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            token_logprobs=lps,
        )

    async def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int = 256,
        temperature: float = 0.0,
        **extra: Any,
    ) -> AsyncIterator[StreamDelta]:
        """Stream a chat completion over SSE; the last delta has ``done=True`` and the Generation."""
        body = self._chat_body(
            messages, model, max_tokens, temperature, stream=True,
            stream_options={"include_usage": True}, **extra,
        )
        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        for attempt in range(self.retries + 1):
            try:
                async with self._client.stream("POST", "/v1/chat/completions", json=body) as resp:
                    if resp.is_error:
                        await resp.aread()
                        raise LLMError(f"vLLM stream -> {resp.status_code}: {_error_text(resp)}")
                    async for line in resp.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        event = json.loads(payload)
                        if event.get("usage"):
                            usage = event["usage"]
                        for choice in event.get("choices") or []:
                            piece = (choice.get("delta") or {}).get("content") or ""
                            finish = choice.get("finish_reason") or finish
                            if piece:
                                if ttft is None:
                                    ttft = (time.perf_counter() - start) * 1000
                                parts.append(piece)
                                yield StreamDelta(text=piece)
                break
            except RETRYABLE as exc:
                if parts or attempt >= self.retries:
                    raise LLMUnavailable(f"vLLM stream from {self.base_url} failed: {exc!r}") from exc
                await asyncio.sleep(self.backoff_s * 2**attempt)
            except httpx.TimeoutException as exc:
                raise LLMUnavailable(f"vLLM at {self.base_url} timed out: {exc!r}") from exc
        yield StreamDelta(
            text="",
            done=True,
            generation=Generation(
                text="".join(parts),
                model=model,
                finish_reason=finish,
                ttft_ms=ttft,
                total_ms=(time.perf_counter() - start) * 1000,
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
            ),
        )

    # --- server and adapters -------------------------------------------------------------------------
    async def health(self, timeout_s: float = 3.0) -> bool:
        """True when the server answers /health within ``timeout_s``."""
        try:
            resp = await self._client.get("/health", timeout=timeout_s)
            return resp.is_success
        except httpx.HTTPError:
            return False

    async def models(self) -> list[str]:
        """Names the server serves: the base model and every loaded adapter."""
        return list(await self.served())

    async def served(self) -> dict[str, str]:
        """Served name -> its source (the model directory, or an adapter's path)."""
        resp = await self._request("GET", "/v1/models")
        return {m["id"]: str(m.get("root") or "") for m in resp.json().get("data", [])}

    async def load_adapter(self, name: str, path: str) -> float:
        """Load a LoRA adapter under ``name``; returns the time it took in ms."""
        start = time.perf_counter()
        await self._request(
            "POST", "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path}
        )
        return (time.perf_counter() - start) * 1000

    async def unload_adapter(self, name: str) -> None:
        """Unload a LoRA adapter by name."""
        await self._request("POST", "/v1/unload_lora_adapter", json={"lora_name": name})


def _error_text(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return resp.text[:500]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message", err))[:500]
        return str(err)[:500]
    return str(data)[:500]
