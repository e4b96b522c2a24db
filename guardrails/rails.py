"""The :class:`Guardrails` facade: input, retrieval and output rails in the order cheap → expensive.

Input: empty / size limit → secret masking → jailbreak patterns → learned detector over the question's
embedding (all local, :meth:`precheck_input`; see :mod:`guardrails.detector`), then the model's self-check
through NeMo Guardrails (:meth:`check_input`, which the pipeline runs in parallel with retrieval). The
self-check of a 135M model is noisy, so by default its "block" only counts when corroborated by the
learned detector (its ``suspicion`` threshold).

Retrieval: chunks that give the assistant orders are dropped or neutralised; PII is masked.
Output: secret/PII masking, NeMo self check output, and a fact check against the chunks.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from engine.logs import get_logger
from engine.metrics import REFUSALS
from engine.settings import Settings
from guardrails.grounding import Support, support
from guardrails.masking import mask_text
from guardrails.nemo_app import RailsPool, config_dir
from guardrails.normalize import strip_invisible
from guardrails.patterns import first_match, load_patterns, neutralise
from guardrails.refusals import save_refusal
from guardrails.detector import DetectorArtifact, DetectorScore, detector_text, load_artifact, resolve_artifact_dir
from guardrails.semantic import SemanticDetector
from guardrails.threads import limited_threads
from guardrails.timing import timed
from guardrails.verdict import OutputEvent, RailVerdict

log = get_logger(__name__)
T = TypeVar("T")
PRECHECK_CACHE_SIZE = 256


class Guardrails:
    """All rails around one answer; create one per process and reuse it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.guardrails
        self.config_dir = config_dir(settings)
        self.patterns = load_patterns(self.config_dir)
        self.pool = RailsPool(settings)
        self._semantic: SemanticDetector | None = None
        self._detector: DetectorArtifact | None = None
        self._prechecks: OrderedDict[str, tuple[RailVerdict, DetectorScore | None]] = OrderedDict()

    # --- shared pieces -------------------------------------------------------------------------------
    @property
    def semantic(self) -> SemanticDetector:
        """The embedding-similarity detector (loaded on first use)."""
        if self._semantic is None:
            self._semantic = SemanticDetector(self.settings.rag, self.config_dir)
        return self._semantic

    @property
    def detector(self) -> DetectorArtifact:
        """The learned input detector's artifact in force (loaded on first use)."""
        if self._detector is None:
            self._detector = load_artifact(resolve_artifact_dir(self.config.detector_dir, self.settings.data_dir))
        return self._detector

    def mask(self, text: str, *, pii: bool) -> tuple[str, list[str]]:
        """Mask secrets (if configured) and PII kinds (if ``pii``); returns text and flags."""
        flags: list[str] = []
        if self.config.mask_secrets:
            text, found = mask_text(text, self.patterns.secrets, None, "SECRET")
            flags += ["secrets_masked"] if found else []
        if pii:
            text, found = mask_text(text, self.patterns.pii, self.config.pii_kinds, "PII")
            flags += ["pii_masked"] if found else []
        return text, flags

    def warm_up(self, model: str | None = None) -> None:
        """Load the embeddings model, reference vectors and (for ``model``) the NeMo rails now."""
        if self.config.semantic_detector or self.config.fact_check:
            with limited_threads(self.config.torch_threads):
                self.semantic.embedder.embed_one("warm up")
                self.detector  # noqa: B018 - loads the artifact now
        if model:
            self.pool.get(model)

    async def prepare(self, model: str) -> None:
        """Warm up everything, including NeMo's lazy first-call set-up (~30 s on a busy CPU otherwise),
        with one input self-check of ``model``; failures are logged, not raised."""
        self.warm_up(model)
        if self.config.enabled and self.config.self_check_input:
            await self.check_input("warm up", model=model)

    # --- input ---------------------------------------------------------------------------------------
    def precheck_input(self, question: str) -> RailVerdict:
        """Cheap, local input rails: size limit, secret masking, jailbreak patterns, similarity detector."""
        return self._precheck(question)[0]

    def _precheck(self, question: str) -> tuple[RailVerdict, DetectorScore | None]:
        """The cheap rails' verdict (a copy callers may change) and similarity score, cached per question."""
        cached = self._prechecks.get(question)
        if cached is None:
            cached = self._prechecks[question] = self._run_precheck(question)
            if len(self._prechecks) > PRECHECK_CACHE_SIZE:
                self._prechecks.popitem(last=False)
        self._prechecks.move_to_end(question)
        verdict, score = cached
        return dataclasses.replace(verdict, flags=list(verdict.flags), timings_ms=dict(verdict.timings_ms)), score

    def _run_precheck(self, question: str) -> tuple[RailVerdict, DetectorScore | None]:
        timings: dict[str, float] = {}
        g = self.config
        text = strip_invisible(question or "").strip()
        if not g.enabled:
            return RailVerdict(True, text, timings_ms=timings), None
        with timed(timings, "input.size"):
            too_long = len(text) > g.max_input_chars
        if not text:
            return RailVerdict.refuse("input.empty", text, timings), None
        raw = text
        with timed(timings, "input.masking"):
            text, flags = self.mask(text, pii=False)
        if too_long:
            return RailVerdict.refuse("input.too_long", text[: g.max_input_chars], timings, flags,
                                      length=len(text), limit=g.max_input_chars), None
        if g.jailbreak_patterns:
            with timed(timings, "input.jailbreak_patterns"):  # on the unmasked text: masks hide payloads
                hit = first_match(self.patterns.jailbreak, raw)
            if hit:
                log.info("rail fired", rail="input.jailbreak_patterns", pattern=hit[:80])
                return RailVerdict.refuse("input.jailbreak_patterns", text, timings, flags), None
        score = None
        if g.semantic_detector:
            embedder, head = self.semantic.embedder, self.detector  # loading is not part of the rail's time
            with timed(timings, "input.semantic_detector"), limited_threads(g.torch_threads):
                score = head.score(embedder.embed_one(detector_text(text)), g.detector_threshold)
            if score.blocks:
                log.info("rail fired", rail="input.semantic_detector", probability=round(score.probability, 3),
                         detector=score.version)
                return RailVerdict.refuse("input.semantic_detector", text, timings, flags), score
        rail = "input.masking" if "secrets_masked" in flags else None
        return RailVerdict(True, text, rail=rail, flags=flags, timings_ms=timings), score

    async def check_input(self, question: str, *, model: str) -> RailVerdict:
        """All input rails: the cheap ones (cached from :meth:`precheck_input`), then NeMo self check input."""
        verdict, score = self._precheck(question)
        if not verdict.allowed or not self.config.enabled or not self.config.self_check_input:
            return verdict
        from nemoguardrails.rails.llm.options import RailStatus, RailType

        try:
            with timed(verdict.timings_ms, "input.self_check"), limited_threads(self.config.torch_threads):
                result = await asyncio.wait_for(self.pool.get(model).check_async(
                    [{"role": "user", "content": verdict.text}], rail_types=[RailType.INPUT]
                ), self.config.self_check_timeout_s)
        except Exception as exc:  # noqa: BLE001 - an unavailable self-check must not lose the question
            log.warning("input self-check unavailable; cheap rails only", error=repr(exc)[:300])
            verdict.flags.append("self_check_unavailable")
            return verdict
        if result.status == RailStatus.BLOCKED:
            if self._corroborated(score):
                return RailVerdict.refuse("input.self_check", verdict.text, verdict.timings_ms, verdict.flags)
            verdict.flags.append("self_check_overruled")
        return verdict

    def _corroborated(self, score: DetectorScore | None) -> bool:
        if self.config.self_check_alone_blocks:
            return True
        return score is not None and score.suspicious

    # --- retrieval -----------------------------------------------------------------------------------
    def check_chunks(self, chunks: list[T]) -> tuple[list[T], list[str]]:
        """Drop or neutralise chunks with instructions for the assistant; mask PII and secrets.

        Chunks are dataclasses with ``chunk_id`` and ``text``; changed ones are copies
        (``dataclasses.replace``). Returns the kept chunks and the ids of dropped ones.
        """
        g = self.config
        if not g.enabled:
            return list(chunks), []
        kept: list[T] = []
        dropped: list[str] = []
        timings: dict[str, float] = {}
        for chunk in chunks:
            text = chunk.text  # type: ignore[attr-defined]
            with timed(timings, "retrieval.injection"):
                hit = first_match(self.patterns.injection, text) if g.chunk_injection != "off" else None
            if hit and g.chunk_injection == "drop":
                log.info("rail fired", rail="retrieval.injection", chunk=chunk.chunk_id, pattern=hit[:80])  # type: ignore[attr-defined]
                dropped.append(chunk.chunk_id)  # type: ignore[attr-defined]
                continue
            if hit:
                text = neutralise(self.patterns.injection, text)
            with timed(timings, "retrieval.masking"):
                text, _ = self.mask(text, pii=g.mask_pii_in_chunks)
            kept.append(chunk if text == chunk.text else dataclasses.replace(chunk, text=text))  # type: ignore[attr-defined,type-var]
        return kept, dropped

    # --- output --------------------------------------------------------------------------------------
    async def check_output(self, answer: str, *, question: str, chunks: Sequence, model: str) -> RailVerdict:
        """Mask secrets/PII, NeMo self check output, and fact check against ``chunks`` (whole answer)."""
        timings: dict[str, float] = {}
        if not self.config.enabled:
            return RailVerdict(True, answer, timings_ms=timings)
        with timed(timings, "output.masking"):
            text, flags = self.mask(answer, pii=self.config.mask_output)
        if self.config.self_check_output:
            blocked = await self._self_check_output(text, question, model, timings, flags)
            if blocked:
                return RailVerdict.refuse("output.self_check", text, timings, flags)
        verdict = self.fact_check(text, chunks, timings, flags)
        if verdict is not None:
            return verdict
        rail = "output.masking" if text != answer else ("output.fact_check" if "unverified" in flags else None)
        return RailVerdict(True, text, rail=rail, flags=flags, timings_ms=timings)

    async def _self_check_output(self, text: str, question: str, model: str, timings: dict[str, float],
                                 flags: list[str]) -> bool:
        from nemoguardrails.rails.llm.options import RailStatus, RailType

        try:
            with timed(timings, "output.self_check"), limited_threads(self.config.torch_threads):
                result = await asyncio.wait_for(self.pool.get(model).check_async(
                    [{"role": "user", "content": question}, {"role": "assistant", "content": text}],
                    rail_types=[RailType.OUTPUT],
                ), self.config.self_check_timeout_s)
        except Exception as exc:  # noqa: BLE001 - masking and fact check still apply
            log.warning("output self-check unavailable", error=repr(exc)[:300])
            flags.append("self_check_unavailable")
            return False
        return result.status == RailStatus.BLOCKED and self.output_block_corroborated(text, flags)

    def output_block_corroborated(self, text: str, flags: list[str]) -> bool:
        """Whether a self-check 'block' of an answer stands (alone, or with a secret/injection sign)."""
        if self.config.self_check_alone_blocks or "secrets_masked" in flags:
            return True
        if first_match(self.patterns.injection, text) or first_match(self.patterns.jailbreak, text):
            return True
        flags.append("self_check_overruled")
        return False

    def fact_check(self, text: str, chunks: Sequence, timings: dict[str, float],
                   flags: list[str]) -> RailVerdict | None:
        """Flag (adds 'unverified') or refuse an answer the chunks do not support; None = not refused."""
        if not self.config.fact_check:
            return None
        with timed(timings, "output.fact_check"), limited_threads(self.config.torch_threads):
            result = support(text, [c.text for c in chunks], self.semantic.embedder,
                             self.config.fact_check_sentence_similarity)
        return self.fact_verdict(result, text, timings, flags)

    def fact_verdict(self, result: Support, text: str, timings: dict[str, float],
                     flags: list[str]) -> RailVerdict | None:
        """Turn a fact-check result into a flag ('unverified') or a refusal (``fact_check_action``)."""
        if result.ratio >= self.config.fact_check_min_support:
            return None
        flags.append("unverified")
        if self.config.fact_check_action == "block":
            return RailVerdict.refuse("output.fact_check", text, timings, flags)
        return None

    def stream_output(self, deltas: AsyncIterator[str], *, question: str, chunks: Sequence,
                      model: str) -> AsyncIterator[OutputEvent]:
        """Checked chunks of a streamed answer; see :func:`guardrails.streaming.guarded_stream`."""
        from guardrails.streaming import guarded_stream

        return guarded_stream(self, deltas, question=question, chunks=chunks, model=model)

    # --- refusals ------------------------------------------------------------------------------------
    def record_refusal(self, verdict: RailVerdict, *, question: str, user: str | None,
                       channel: str | None) -> None:
        """Store a refusal (rail, masked question, time) for the admin page and count it."""
        rail = verdict.rail or "unknown"
        REFUSALS.labels(rail=rail).inc()
        masked, _ = self.mask(strip_invisible(question or ""), pii=True)
        log.info("refusal", rail=rail, user=user, channel=channel, chars=len(question or ""))
        if self.config.record_refusals:
            save_refusal(self.settings.db_url, rail=rail, masked_input=masked,
                         message=verdict.message or "", user=user, channel=channel)
