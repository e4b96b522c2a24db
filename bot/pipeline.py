"""THE answer pipeline: one code path for Slack, `ratchet chat` and `ratchet ask`.

    precheck (cheap input rails)
    → LLM input rail ∥ retrieval (thread history → standalone query; groups from where it was asked)
      ∥ semantic cache lookup
    → retrieval rails (drop/mask chunks) → "not enough evidence"? → the cached answer, if any
    → generation with the routed adapter (streamed) → streaming output rails
    → record in the feedback store → cache → final answer

:meth:`Pipeline.stream` yields :class:`PipelineEvent` s (status, delta, final); :meth:`Pipeline.answer`
returns only the final :class:`Answer`. A service that fails or does not answer within
``bot.service_timeout_s`` turns into a clear final message naming it, never silence; nothing is cached, so
the next question tries the service again.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from bot import messages
from bot.answers import DELTA, FINAL, STATUS, Answer, PipelineEvent, Question, Stopwatch
from bot.components import Components, call
from bot.grounded import CitationNumbers, extractive_answer, model_answer, use_model_text
from bot.prompting import Citation, build_messages, citations_for, to_citation, trim_history
from engine.logs import get_logger
from engine.metrics import TOKENS_PER_SECOND, observe_answer
from engine.errors import RatchetError
from engine.rag import CachedAnswer, Retrieval, RetrievedChunk
from engine.registry import Route
from engine.settings import Settings
from feedback import AnswerRecord
from guardrails import OutputEvent, RailVerdict

log = get_logger(__name__)
T = TypeVar("T")


class ServiceFailure(RatchetError):
    """A service failed or timed out; ``service`` is ``model``, ``search`` or ``guardrails``."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}", hint=f"check that the {service} service is up (`ratchet status`)")
        self.service = service
        self.detail = detail


async def _guard(service: str, timeout_s: float, work: Awaitable[T]) -> T:
    """Await ``work`` within ``timeout_s``; any failure becomes a :class:`ServiceFailure`."""
    try:
        return await asyncio.wait_for(work, timeout_s)
    except TimeoutError:
        raise ServiceFailure(service, f"no answer within {timeout_s:g} s") from None
    except (ServiceFailure, StopAsyncIteration):
        raise
    except Exception as exc:  # noqa: BLE001 - any client error of that service means "down"
        raise ServiceFailure(service, _short(exc)) from exc


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


class Pipeline:
    """Answers questions with the configured components (see :mod:`bot.components`)."""

    def __init__(self, settings: Settings, components: Components | None = None) -> None:
        self.settings = settings
        self._components = components or Components(settings)

    async def aclose(self) -> None:
        """Close the clients the components hold."""
        await self._components.aclose()

    async def warm_up(self) -> bool:
        """Connect to Weaviate and load the embedding model before the first question.

        Returns False (and logs why) when a service is down; questions then report it and retry it.
        """
        try:
            await asyncio.wait_for(self._components.warm_up(), self.settings.bot.warm_up_timeout_s)
        except Exception as exc:  # noqa: BLE001 - warm-up is best effort; questions report failures
            log.warning("pipeline.warm_up_failed", error=_short(exc))
            return False
        return True

    async def answer(self, question: Question) -> Answer:
        """The final answer only."""
        async for event in self.stream(question):
            if event.kind == FINAL:
                return event.answer
        raise RuntimeError("pipeline ended without an answer")  # pragma: no cover - stream always ends FINAL

    async def stream(self, question: Question) -> AsyncIterator[PipelineEvent]:
        """Status lines, answer text as it is generated, then the final answer (always, exactly once)."""
        run = _Run(self, question)
        try:
            async for event in run.events():
                yield event
        except ServiceFailure as failure:
            log.warning("pipeline.service_failed", service=failure.service, detail=failure.detail)
            yield run.final(Answer(text=messages.service_down(failure.service, failure.detail),
                                   error=failure.service, alias=run.route.alias if run.route else None,
                                   adapter=run.route.version_id if run.route else None))
        except Exception as exc:  # noqa: BLE001 - never leave the asker without an answer
            log.exception("pipeline.failed", error=_short(exc))
            yield run.final(Answer(text=messages.INTERNAL_ERROR, error="internal"))


class _Run:
    """One question going through the pipeline (keeps the per-question state out of :class:`Pipeline`)."""

    def __init__(self, pipeline: Pipeline, question: Question) -> None:
        self.p = pipeline
        self.parts = pipeline._components  # noqa: SLF001 - a run is part of its pipeline
        self.bot = pipeline.settings.bot
        self.q = question
        self.clock = Stopwatch()
        self.route: Route | None = None
        self.rails: dict[str, Any] = {}  # JSON record of what each rail decided
        self.history: list[dict[str, str]] = []
        self.input_check: asyncio.Future[RailVerdict] | None = None
        self.model_text: list[str] = []  # what the model wrote, before any rail (recorded for learning)

    def final(self, answer: Answer) -> PipelineEvent:
        answer.timings_ms = self.clock.total()
        observe_answer(self.q.source, answer.adapter, answer.timings_ms, refused=answer.refused,
                       error=answer.error, cached=answer.cached)
        log.info("pipeline.answered", refused=answer.refused, error=answer.error, cached=answer.cached,
                 adapter=answer.adapter, total_ms=round(answer.timings_ms["total"], 1))
        return PipelineEvent(FINAL, answer=answer)

    async def events(self) -> AsyncIterator[PipelineEvent]:
        text = self.q.text.strip()
        refusal = self._check_size(text) or await self._check_tokens(text) or await self._precheck(text)
        if refusal is not None:
            yield self.final(refusal)
            return
        text = self.rails.get("input_text", text)
        self.route = self.parts.registry.route(self.q.routing_key, self.q.adapter_override)
        yield PipelineEvent(STATUS, text="searching the documents")
        self.input_check = self._start_input_rail(text)
        try:
            async for event in self._answer_events(text):
                yield event
        finally:
            _settle(self.input_check)

    async def _answer_events(self, text: str) -> AsyncIterator[PipelineEvent]:
        """Retrieval ∥ cache lookup → evidence → cached answer or generation, while the LLM input rail runs alongside.

        The input verdict is awaited before anything is shown: before a cached or "no evidence" answer,
        and before the first generated text (generation starts speculatively, the rail's time is hidden).
        """
        lookup = asyncio.ensure_future(self._cache_lookup(text))  # the answer cache is asked alongside retrieval
        try:
            retrieval = await _guard("search", self.bot.service_timeout_s, self._retrieve(text))
            chunks = self._retrieval_rails(retrieval.chunks)
            if not chunks or not retrieval.enough_evidence:
                yield self.final(await self._refused_input() or await self._no_evidence(retrieval, chunks))
                return
            cached = await lookup
        finally:
            _settle(lookup)
        if cached is not None:
            refusal = await self._refused_input()
            yield self.final(refusal or await self._recorded(cached, prompt=[], chunks=[], standalone=None))
            return
        yield PipelineEvent(STATUS, text="writing the answer")
        async for event in self._generate(text, retrieval, chunks):
            yield event

    # --- input ------------------------------------------------------------------------------------------
    def _check_size(self, text: str) -> Answer | None:
        if not text:
            return Answer(text=messages.HELP, refused=True, refusal_rail="empty")
        limit = self.bot.max_question_chars
        if len(text) > limit:
            return Answer(text=messages.TOO_LONG.format(length=len(text), limit=limit), refused=True,
                          refusal_rail="too_long")
        return None

    async def _check_tokens(self, text: str) -> Answer | None:
        """A question the model cannot read whole is refused as too long (never sent to fail in vLLM)."""
        tokens = await call(self.parts.count_tokens, text)
        limit = self.bot.max_question_tokens
        if tokens is not None and tokens > limit:
            return Answer(text=messages.TOO_MANY_TOKENS.format(tokens=tokens, limit=limit), refused=True,
                          refusal_rail="too_long")
        return None

    async def _precheck(self, text: str) -> Answer | None:
        rails = self.parts.guardrails
        if rails is None:
            return None
        start = time.perf_counter()
        verdict = await call(rails.precheck_input, text)
        self.clock.lap("precheck", start)
        self.rails["precheck"] = _verdict_dict(verdict)
        if not verdict.allowed:
            self._record_refusal(verdict)
            return Answer(text=verdict.message or messages.REFUSED_DEFAULT, refused=True, refusal_rail=verdict.rail)
        self.rails["input_text"] = verdict.text or text
        return None

    def _start_input_rail(self, text: str) -> asyncio.Future[RailVerdict] | None:
        """The LLM input check, started in the background (None when that rail is off)."""
        rails = self.parts.guardrails
        if rails is None or not (rails.self_check_decides() or self.p.settings.guardrails.content_safety_url):
            return None
        # the rail gives up on a slow self-check by itself (guardrails.self_check_timeout_s, then the cheap rails'
        # verdict stands): the service counts as down only when even that does not come back
        limit = max(self.bot.service_timeout_s, self.p.settings.guardrails.self_check_timeout_s + 2.0)
        return asyncio.ensure_future(_guard("guardrails", limit, self._input_rail(text)))

    async def _refused_input(self) -> Answer | None:
        """Wait for the input rail's verdict: a refusal answer, or None when the question may be answered."""
        check, self.input_check = self.input_check, None
        if check is None:
            return None
        verdict = await check
        return None if verdict.allowed else await self._refuse(verdict)

    async def _input_rail(self, text: str) -> RailVerdict:
        start = time.perf_counter()
        verdict = await self.parts.guardrails.check_input(text, model=self.route.model)
        self.clock.lap("input_rail", start)
        self.rails["input"] = _verdict_dict(verdict)
        return verdict

    async def _retrieve(self, text: str) -> Retrieval:
        start = time.perf_counter()
        history = trim_history(self.q.history, max_messages=self.bot.history_max_messages,
                               max_chars=self.bot.history_max_chars)
        retriever = await self.parts.retriever()
        result = await call(
            retriever.retrieve, text, groups=self.q.groups, history=history, collections=self.q.collections,
            tenant=self.q.tenant, llm=self.parts.llm, model=self.route.model,
        )
        self.clock.lap("retrieval", start)
        self.history = history
        return result

    async def _refuse(self, verdict: RailVerdict) -> Answer:
        self._record_refusal(verdict)
        answer = Answer(text=verdict.message or messages.REFUSED_DEFAULT, refused=True, refusal_rail=verdict.rail,
                        adapter=self.route.version_id, alias=self.route.alias)
        return await self._recorded(answer, prompt=[], chunks=[], standalone=None)

    def _record_refusal(self, verdict: RailVerdict) -> None:
        if self.parts.guardrails is not None:
            self.parts.guardrails.record_refusal(verdict, question=self.q.text, user=self.q.user,
                                                 channel=self.q.channel)

    # --- evidence -----------------------------------------------------------------------------------------
    def _retrieval_rails(self, chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
        if self.parts.guardrails is None:
            return list(chunks)
        start = time.perf_counter()
        kept, dropped = self.parts.guardrails.check_chunks(list(chunks))
        self.clock.lap("retrieval_rails", start)
        self.rails["dropped_chunks"] = list(dropped)
        return list(kept)

    async def _no_evidence(self, retrieval: Retrieval, chunks: list[RetrievedChunk]) -> Answer:
        answer = self._no_evidence_answer(retrieval, chunks)
        return await self._recorded(answer, prompt=[], chunks=chunks, standalone=retrieval.query)

    def _no_evidence_answer(self, retrieval: Retrieval, chunks: list[RetrievedChunk]) -> Answer:
        """"Not enough evidence", with the closest sources (not recorded yet)."""
        text = messages.NO_EVIDENCE if chunks else messages.NO_SOURCES
        return Answer(text=text, citations=[to_citation(c) for c in chunks], adapter=self.route.version_id,
                      alias=self.route.alias, refused=True, refusal_rail="not_enough_evidence",
                      standalone_query=retrieval.query)

    async def _cache_lookup(self, text: str) -> Answer | None:
        if not self.p.settings.rag.cache_enabled or self.q.alternative_of is not None:
            return None
        start = time.perf_counter()
        hit = await _guard("search", self.bot.service_timeout_s, self._lookup(text))
        self.clock.lap("cache", start)
        if hit is None:
            return None
        return Answer(text=hit.answer, citations=[Citation(**c) for c in hit.citations],
                      adapter=self.route.version_id, alias=self.route.alias, cached=True)

    async def _lookup(self, text: str) -> CachedAnswer | None:
        cache = await self.parts.answer_cache()
        return await call(cache.lookup, text, groups=self.q.groups, adapter=self._adapter_key(), tenant=self.q.tenant)

    def _adapter_key(self) -> str:
        return self.route.version_id or "base"

    # --- generation --------------------------------------------------------------------------------------
    async def _generate(self, text: str, retrieval: Retrieval,
                        chunks: list[RetrievedChunk]) -> AsyncIterator[PipelineEvent]:
        """Stream the model's supported sentences (each cited as it is shown), then compose the answer."""
        prompt = build_messages(text, chunks, self.history)
        numbers = CitationNumbers(chunks)
        shown: list[str] = []
        self.released: list[tuple[str, int | None]] = []
        final: OutputEvent | None = None
        start = time.perf_counter()
        async with aclosing(self._guarded_stream(prompt, text, chunks)) as stream:
            async for event in stream:
                if event.blocked or event.verdict is not None:
                    final = event
                    break
                refusal = await self._refused_input()
                if refusal is not None:
                    yield self.final(refusal)
                    return
                piece = numbers.cite(event.text, event.source) if self.grounded else event.text
                self.clock.timings.setdefault("first_token", (time.perf_counter() - self.clock.start) * 1000)
                shown.append(piece)
                self.released.append((event.text, event.source))
                yield PipelineEvent(DELTA, text=piece + " ")
        self.clock.lap("generation", start)
        refusal = await self._refused_input()  # an answer with nothing shown never waited for the input verdict
        if refusal is not None:
            yield self.final(refusal)
            return
        answer = await self._compose(text, retrieval, chunks, numbers, shown, final)
        answer = await self._recorded(answer, prompt=prompt, chunks=chunks, standalone=retrieval.query)
        if not answer.refused:
            await self._cache_store(text, answer, chunks)
        yield self.final(answer)

    @property
    def grounded(self) -> bool:
        g = self.p.settings.guardrails
        return self.parts.guardrails is not None and g.enabled and g.fact_check

    async def _compose(self, text: str, retrieval: Retrieval, chunks: list[RetrievedChunk],
                       numbers: CitationNumbers, shown: list[str], final: OutputEvent | None) -> Answer:
        """The answer a user sees (see :mod:`bot.grounded`): refused, the model's grounded text, or quotes."""
        route = dict(adapter=self.route.version_id, alias=self.route.alias)
        if final is not None and final.blocked:
            self._record_refusal(final.verdict)
            return Answer(text=final.verdict.message or messages.REFUSED_DEFAULT, refused=True,
                          refusal_rail=final.verdict.rail, **route)
        if not self.grounded:
            body = " ".join(shown).strip()
            return Answer(text=body, citations=citations_for(body, chunks), standalone_query=retrieval.query,
                          **route)
        claims = final.claims if final is not None else 0
        supported = len(shown)
        self.rails["grounding"] = {"claims": claims, "supported": supported,
                                   "held_back": final.held_back if final is not None else 0}
        if use_model_text(supported, claims, self.p.settings.guardrails.grounded_min_share):
            composed = model_answer(numbers, shown, final.unsupported if final is not None else [])
            grounded = self.released
        else:
            quotes = await call(self.parts.guardrails.extract, text, chunks)
            if not quotes:
                self.rails["grounding"]["answer"] = "no_evidence"
                return self._no_evidence_answer(retrieval, chunks)
            composed = extractive_answer(chunks, quotes)
            grounded = [(q.text, q.source) for q in quotes]
        # the shown sentences with the prompt's own source numbers: what a trainer may teach the model to write
        self.rails["grounding"].update(answer=composed.kind, sentences=[
            {"text": t, "source": i} for t, i in grounded])
        return Answer(text=composed.text, citations=composed.citations, standalone_query=retrieval.query,
                      grounding=composed.kind, **route)

    async def _guarded_stream(self, prompt: list[dict[str, str]], text: str,
                              chunks: list[RetrievedChunk]) -> AsyncIterator[OutputEvent]:
        """The model's deltas through the streaming output rails: released sentences, then the verdict."""
        deltas = self._model_deltas(prompt)
        rails = self.parts.guardrails
        if rails is None:
            async for piece in deltas:
                yield OutputEvent(piece)
            return
        events = rails.stream_output(deltas, question=text, chunks=chunks, model=self.route.model)
        deadline = self.bot.generation_timeout_s
        while True:
            try:
                event = await _guard("guardrails", deadline, anext(events))
            except StopAsyncIteration:
                break
            except ServiceFailure as failure:
                raise _root_failure(failure) from None
            if event.verdict is not None:
                self.rails["output"] = _verdict_dict(event.verdict)
            yield event
            if event.blocked:
                return

    async def _model_deltas(self, prompt: list[dict[str, str]]) -> AsyncIterator[str]:
        """The model's text pieces (see :meth:`_first_delta` for how long the first may take)."""
        engine = self.p.settings.engine
        stream = self.parts.llm.stream_chat(
            prompt, model=self.route.model, max_tokens=self.bot.answer_max_tokens or engine.default_max_tokens,
            temperature=engine.temperature, repetition_penalty=engine.repetition_penalty,
            **({"min_tokens": self.bot.answer_min_tokens} if self.bot.answer_min_tokens else {}),
        )
        first = True
        try:
            while True:
                try:
                    if first:
                        delta = await self._first_delta(stream)
                        first = False
                    else:
                        delta = await _guard("model", self.bot.generation_timeout_s, anext(stream))
                except StopAsyncIteration:
                    return
                if delta.done:
                    if delta.generation is not None and delta.generation.ttft_ms is not None:
                        self.clock.timings["model_ttft"] = delta.generation.ttft_ms
                    if delta.generation is not None and delta.generation.completion_tokens:
                        TOKENS_PER_SECOND.labels(adapter=self.route.version_id or "base").set(
                            delta.generation.tokens_per_s)
                    return
                self.model_text.append(delta.text)
                yield delta.text
        finally:
            await stream.aclose()

    async def _first_delta(self, stream: AsyncIterator[Any]) -> Any:
        """The first piece of the answer. A long prompt's prefill on a CPU can take longer than
        ``bot.service_timeout_s``, so silence alone does not mean "down": when nothing has come after half
        the timeout, the server's health is asked (answer within 40 % of it), and again every timeout. A
        server that answers is busy, not down, and is waited for (up to ``bot.generation_timeout_s``); one
        that does not is reported down — still within ``service_timeout_s``."""
        timeout = self.bot.service_timeout_s
        pending = asyncio.ensure_future(_guard("model", self.bot.generation_timeout_s, anext(stream)))
        wait = timeout * 0.5
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=wait)
                if done:
                    return pending.result()
                if not await self.parts.llm.health(timeout_s=timeout * 0.4):
                    raise ServiceFailure("model", f"no answer within {timeout:g} s and no answer to a health check")
                self.rails["slow_first_token"] = True
                wait = timeout
        finally:
            _settle(pending)

    # --- recording ---------------------------------------------------------------------------------------
    async def _recorded(self, answer: Answer, *, prompt: list[dict[str, str]], chunks: list[RetrievedChunk],
                        standalone: str | None) -> Answer:
        """Store the answer in the feedback store (votes attach to its id)."""
        store = self.parts.feedback
        if store is None:
            return answer
        engine = self.p.settings.engine
        record = AnswerRecord(
            question=self.q.text, standalone_query=standalone, history=list(self.history),
            chunk_ids=[c.chunk_id for c in chunks], chunk_hashes=[c.content_hash for c in chunks],
            prompt=prompt, answer=answer.text, adapter_version=answer.adapter, alias=answer.alias,
            sampling={"temperature": engine.temperature, "repetition_penalty": engine.repetition_penalty,
                      "max_tokens": self.bot.answer_max_tokens or engine.default_max_tokens,
                      "cached": answer.cached},
            guardrails={**self.rails, **({"model_text": "".join(self.model_text)} if self.model_text else {})},
            timings_ms=dict(self.clock.timings), source=self.q.source,
            channel=self.q.channel, thread_ts=self.q.thread_ts, user=self.q.user, refused=answer.refused,
            refusal_rail=answer.refusal_rail,
        )
        try:
            answer.answer_id = await _guard("database", self.bot.service_timeout_s,
                                            call(store.record_answer, record, alternative_of=self.q.alternative_of))
        except ServiceFailure as failure:  # the answer is still shown, without votes (they need its record)
            log.warning("pipeline.record_failed", detail=failure.detail)
        return answer

    async def _cache_store(self, text: str, answer: Answer, chunks: list[RetrievedChunk]) -> None:
        if not self.p.settings.rag.cache_enabled:
            return
        cited = {c.chunk_id for c in answer.citations}
        documents = sorted({c.document_id for c in chunks if c.chunk_id in cited})
        try:
            cache = await self.parts.answer_cache()
            await call(
                cache.store, text, groups=self.q.groups, adapter=self._adapter_key(), tenant=self.q.tenant,
                answer=answer.text, citations=[c.as_dict() for c in answer.citations], document_ids=documents,
            )
        except Exception as exc:  # noqa: BLE001 - a cache write failing must not lose the answer
            log.warning("pipeline.cache_store_failed", error=_short(exc))


def _root_failure(failure: ServiceFailure) -> ServiceFailure:
    """The innermost service failure (a model failure surfacing through the output rails stays 'model')."""
    found, cause = failure, failure.__cause__ or failure.__context__
    while cause is not None:
        if isinstance(cause, ServiceFailure):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found


def _settle(task: asyncio.Future | None) -> None:
    """Cancel a background check nobody waits for any more (and silence its stored exception)."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _verdict_dict(verdict: RailVerdict) -> dict[str, Any]:
    return {"allowed": verdict.allowed, "rail": verdict.rail, "flags": list(verdict.flags),
            "timings_ms": dict(verdict.timings_ms)}
