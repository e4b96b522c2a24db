"""The services the pipeline uses, built from settings: one seam, the real implementations behind it.

Retrieval and the semantic cache need Weaviate; they are built on first use (and built again after a
failure), so the bot starts, and recovers, while Weaviate is down.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from engine.llm_client import LLMClient
from engine.logs import get_logger
from engine.rag import AnswerCache, Retriever
from engine.registry import AdapterRegistry
from engine.settings import Settings
from feedback import FeedbackStore
from guardrails import Guardrails

log = get_logger(__name__)


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a component method: coroutines are awaited, blocking functions run in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await asyncio.to_thread(fn, *args, **kwargs)
    return await result if inspect.isawaitable(result) else result


class Components:
    """Registry, vLLM client, guardrails, feedback store, retriever and answer cache for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = AdapterRegistry(settings)
        self.llm = LLMClient.from_settings(settings.engine)
        self.guardrails: Guardrails | None = Guardrails(settings) if settings.guardrails.enabled else None
        self.feedback = FeedbackStore(settings)
        self._retriever: Retriever | None = None
        self._cache: AnswerCache | None = None
        self._lock = asyncio.Lock()
        self._tokenizer: Any = None

    def count_tokens(self, text: str) -> int | None:
        """``text``'s length in the model's tokens (None when the model's tokenizer cannot be loaded here)."""
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self.settings.model_dir))
            except Exception as exc:  # noqa: BLE001 - no local model files: the character limit still holds
                log.warning("components.no_tokenizer", model_dir=str(self.settings.model_dir), error=str(exc)[:160])
                self._tokenizer = False
        if self._tokenizer is False:
            return None
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    async def retriever(self) -> Retriever:
        """The retriever (connects to Weaviate on first use; a failed connection is retried next time)."""
        async with self._lock:
            if self._retriever is None:
                self._retriever = await asyncio.to_thread(Retriever, self.settings)
            return self._retriever

    async def answer_cache(self) -> AnswerCache | None:
        """The semantic answer cache (None when disabled); connects on first use like the retriever."""
        if not self.settings.rag.cache_enabled:
            return None
        async with self._lock:
            if self._cache is None:
                self._cache = await asyncio.to_thread(AnswerCache, self.settings)
            return self._cache

    async def warm_up(self) -> None:
        """Connect to Weaviate and load the embedding model now, not during the first question."""
        retriever = await self.retriever()
        await asyncio.to_thread(retriever.embedder.embed_one, "warm up")
        await asyncio.to_thread(self.count_tokens, "warm up")
        await self.answer_cache()
        if self.guardrails is not None:
            models = {self.registry.model_name(vid) for vid, _ in self.registry.aliases().values()}
            for model in sorted(models):
                await self.guardrails.prepare(model)

    async def aclose(self) -> None:
        """Close network clients."""
        await self.llm.aclose()
        for part in (self._retriever, self._cache):
            close = getattr(part, "close", None)
            if close is not None:
                await call(close)

