"""The :class:`Guardrails` facade: input, retrieval and output rails in the order cheap → expensive.

Input: empty / size limit → secret masking → jailbreak patterns → learned detector over the question's
embedding (all local, :meth:`precheck_input`; see :mod:`guardrails.detector`), then the model's self-check
through NeMo Guardrails (:meth:`check_input`, which the pipeline runs in parallel with retrieval). The
self-check of a 135M model is noisy, so by default its "block" only counts when corroborated by the
learned detector (its ``suspicion`` threshold).

Retrieval: chunks that give the assistant orders are dropped or neutralised; PII is masked.
Output: secret/PII masking and grounding (each sentence attributed to the chunk that supports it; the
rest held back); NeMo self check output only on text the chunks do not support. An output
self-check that cannot run counts as a block unless ``output_check_unavailable`` is "allow"; both count in
``ratchet_self_check_unavailable_total``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from engine.logs import get_logger
from engine.rag import RetrievedChunk
from engine.metrics import REFUSALS, SELF_CHECK_UNAVAILABLE
from engine.settings import Settings
from guardrails.grounding import GroundedSentence, Support, attribute, evidence_text, extract, support
from guardrails.sentence_ranker import PACKAGED_PATH as SENTENCE_RANKER_PATH
from guardrails.sentence_ranker import SentenceRanker
from guardrails.masking import mask_text
from guardrails.nemo_app import DETECTOR_ACTION, RailsPool, config_dir
from guardrails.normalize import strip_invisible
from guardrails.patterns import first_match, load_patterns, neutralise
from guardrails.refusals import save_refusal
from engine.rag.embedder import Embedder
from guardrails.detector import (DetectorArtifact, DetectorEncoder, DetectorScore, detector_text, load_artifact,
                                 resolve_artifact_dir)
from guardrails.streaming import OutputChecks, guarded_stream
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
        self.pool = RailsPool(settings, actions={DETECTOR_ACTION: self.detector_action})
        self._embedder: Embedder | None = None
        self._detector: DetectorArtifact | None = None
        self._sentence_ranker: SentenceRanker | None = None
        self._sentence_ranker_loaded = False
        self._encoder: DetectorEncoder | None = None
        self._prechecks: OrderedDict[str, tuple[RailVerdict, DetectorScore | None]] = OrderedDict()
        self._scores: OrderedDict[str, DetectorScore] = OrderedDict()

    # --- shared pieces -------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embeddings model retrieval uses (fact check, attribution, extraction; loaded on first use)."""
        if self._embedder is None:
            self._embedder = Embedder(self.settings.rag)
        return self._embedder

    @property
    def detector(self) -> DetectorArtifact:
        """The learned input detector's artifact in force: loaded on first use, and again when retraining
        promoted another version (the ``current`` pointer is re-read each time, a small file read)."""
        path = resolve_artifact_dir(self.config.detector_dir, self.settings.data_dir)
        if self._detector is None or self._detector.path != path:
            self._detector = load_artifact(path)
            self._scores.clear()
            self._prechecks.clear()
        return self._detector

    @property
    def encoder(self) -> DetectorEncoder:
        """The detector's own quantised copy of the embeddings model (loaded on first use)."""
        if self._encoder is None:
            self._encoder = DetectorEncoder(self.embedder.path, self.detector.encoder["max_tokens"])
        return self._encoder

    def detector_score(self, text: str) -> DetectorScore:
        """The learned detector's verdict on ``text``: one encode on one torch thread, cached per text (the
        cheap pre-pass and the NeMo action score the same text once)."""
        score = self._scores.get(text)
        if score is None:
            g = self.config
            with limited_threads(g.torch_threads):
                vector = self.encoder.embed_one(detector_text(text))
            score = self._scores[text] = self.detector.score(vector, text, g.detector_threshold, g.detector_suspicion)
            if len(self._scores) > PRECHECK_CACHE_SIZE:
                self._scores.popitem(last=False)
        return score

    async def detector_action(self, context: dict | None = None) -> bool:
        """The NeMo action ``ratchet_input_detector`` (flow ``ratchet input detector`` in config/nemo/rails.co):
        True when the learned detector refuses the user message."""
        return self.detector_score((context or {}).get("user_message") or "").blocks

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
        with limited_threads(self.config.torch_threads):
            if self.config.fact_check:
                self.embedder.embed_one("warm up")
            if self.config.semantic_detector:
                self.encoder.embed_one("warm up")
        if model:
            self.pool.get(model, self_check_input=True)

    async def prepare(self, model: str) -> None:
        """Warm up everything, including NeMo's lazy first-call set-up (~30 s on a busy CPU otherwise),
        with one input self-check of ``model``; failures are logged, not raised."""
        self.warm_up()
        await self.pool.aget(model, self_check_input=True)  # built off the event loop
        if self.config.enabled and self.config.self_check_input:
            await self.check_input("warm up", model=model, force_self_check=True)

    # --- input ---------------------------------------------------------------------------------------
    def precheck_input(self, question: str) -> RailVerdict:
        """Cheap, local input rails: size limit, secret masking, jailbreak patterns, similarity detector."""
        return self._precheck(question)[0]

    def _precheck(self, question: str) -> tuple[RailVerdict, DetectorScore | None]:
        """The cheap rails' verdict (a copy callers may change) and detector score, cached per question (the
        cache is emptied when another detector version is promoted)."""
        if self.config.enabled and self.config.semantic_detector:
            self.detector  # noqa: B018 - reloads a newly promoted version (and empties the caches)
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
            self.encoder  # noqa: B018 - loading is not part of the rail's time
            with timed(timings, "input.semantic_detector"):
                score = self.detector_score(text)
            if score.blocks:
                log.info("rail fired", rail="input.semantic_detector", probability=round(score.probability, 3),
                         detector=score.version)
                return RailVerdict.refuse("input.semantic_detector", text, timings, flags), score
        rail = "input.masking" if "secrets_masked" in flags else None
        return RailVerdict(True, text, rail=rail, flags=flags, timings_ms=timings), score

    async def check_input(self, question: str, *, model: str, force_self_check: bool = False) -> RailVerdict:
        """All input rails: the cheap ones (cached from :meth:`precheck_input`), then NeMo's input rails — the
        learned detector as the action ``ratchet_input_detector`` (its score is cached, so no second encode)
        and ``self check input`` — only where the self-check's verdict can count: alone
        (``self_check_alone_blocks``) or corroborated by the detector's suspicion. Otherwise the call cannot
        change the outcome and is not made (the pre-pass already ran the same detector)."""
        verdict, score = self._precheck(question)
        wanted = force_self_check or self.self_check_decides()
        if not verdict.allowed or not self.config.enabled or not (wanted or self.config.content_safety_url):
            return verdict
        self_check = wanted and (self._corroborated(score) or force_self_check)
        if wanted and not self_check:
            # the model's "block" would be overruled anyway: the call cannot change the verdict, so it is not made
            verdict.flags.append("self_check_skipped")
            if not self.config.content_safety_url:
                return verdict
        from nemoguardrails.rails.llm.options import RailStatus, RailType

        try:
            with timed(verdict.timings_ms, "input.self_check"), limited_threads(self.config.torch_threads):
                rails = await self.pool.aget(model, self_check_input=self_check)
                result = await asyncio.wait_for(rails.check_async(
                    [{"role": "user", "content": verdict.text}], rail_types=[RailType.INPUT]
                ), self.config.self_check_timeout_s)
        except Exception as exc:  # noqa: BLE001 - an unavailable self-check must not lose the question
            log.warning("input self-check unavailable; cheap rails only", error=repr(exc)[:300])
            SELF_CHECK_UNAVAILABLE.labels(rail="input", action="allow").inc()
            verdict.flags.append("self_check_unavailable")
            return verdict
        if result.status == RailStatus.BLOCKED:
            if not self_check:  # only the content-safety model ran: its verdict is final
                return RailVerdict.refuse("input.content_safety", verdict.text, verdict.timings_ms, verdict.flags)
            if self._corroborated(score):
                return RailVerdict.refuse("input.self_check", verdict.text, verdict.timings_ms, verdict.flags)
            verdict.flags.append("self_check_overruled")
        return verdict

    def self_check_decides(self) -> bool:
        """Whether the configured model's input self-check may run: ``self_check_models`` for its directory
        name (measured by ``ratchet bench guardrails``: self_check_heldout_accuracy), else ``self_check_input``."""
        return self.config.self_check_models.get(self.settings.model_dir.name, self.config.self_check_input)

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
        """A whole answer: mask secrets/PII, fact check each sentence against ``chunks``, and run NeMo's
        self check output on the sentences the chunks do not support (supported text repeats the
        documents, so the model's self-check cannot decide anything about it)."""
        timings: dict[str, float] = {}
        if not self.config.enabled:
            return RailVerdict(True, answer, timings_ms=timings)
        with timed(timings, "output.masking"):
            text, flags = self.mask(answer, pii=self.config.mask_output)
        result = self._support(text, chunks, timings)
        unverified = result.unsupported if self.config.fact_check else [text]  # no fact check: nothing is known
        if self.config.self_check_output and unverified:
            if await self.self_check_output(" ".join(unverified), question, model, timings, flags):
                rail = "output.self_check_unavailable" if "self_check_unavailable" in flags else "output.self_check"
                return RailVerdict.refuse(rail, text, timings, flags)
        verdict = self.fact_verdict(result, text, timings, flags) if self.config.fact_check else None
        if verdict is not None:
            return verdict
        rail = "output.masking" if text != answer else ("output.fact_check" if "unverified" in flags else None)
        return RailVerdict(True, text, rail=rail, flags=flags, timings_ms=timings)

    def _support(self, text: str, chunks: Sequence, timings: dict[str, float]) -> Support:
        if not self.config.fact_check:
            return Support(1.0, [], 0)
        with timed(timings, "output.fact_check"), limited_threads(self.config.torch_threads):
            return support(text, [evidence_text(c) for c in chunks], self.embedder,
                           self.config.fact_check_sentence_similarity)

    async def self_check_output(self, text: str, question: str, model: str, timings: dict[str, float],
                                flags: list[str]) -> bool:
        """NeMo self check output on ``text``: True when it blocks and the block stands (see
        :meth:`output_block_corroborated`)."""
        from nemoguardrails.rails.llm.options import RailStatus, RailType

        try:
            with timed(timings, "output.self_check"), limited_threads(self.config.torch_threads):
                result = await asyncio.wait_for((await self.pool.aget(model)).check_async(
                    [{"role": "user", "content": question}, {"role": "assistant", "content": text}],
                    rail_types=[RailType.OUTPUT],
                ), self.config.self_check_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the setting decides: refuse, or masking and fact check only
            return self.output_check_unavailable(exc, flags)
        return result.status == RailStatus.BLOCKED and self.output_block_corroborated(text, flags)

    def output_check_unavailable(self, error: object, flags: list[str]) -> bool:
        """The output self-check could not run: count it, flag it; True = refuse the answer
        (``guardrails.output_check_unavailable: block``, the default), False = let it through."""
        action = self.config.output_check_unavailable
        SELF_CHECK_UNAVAILABLE.labels(rail="output", action=action).inc()
        log.warning("output self-check unavailable", action=action, error=repr(error)[:300])
        flags.append("self_check_unavailable")
        return action == "block"

    def output_block_corroborated(self, text: str, flags: list[str]) -> bool:
        """Whether a self-check 'block' of an answer stands (alone, or with a secret/injection sign)."""
        if self.config.self_check_alone_blocks or "secrets_masked" in flags:
            return True
        if first_match(self.patterns.injection, text) or first_match(self.patterns.jailbreak, text):
            return True
        flags.append("self_check_overruled")
        return False

    def fact_verdict(self, result: Support, text: str, timings: dict[str, float],
                     flags: list[str]) -> RailVerdict | None:
        """Turn a fact-check result into a flag ('unverified') or a refusal (``fact_check_action``)."""
        if result.ratio >= self.config.fact_check_min_support:
            return None
        flags.append("unverified")
        if self.config.fact_check_action == "block":
            return RailVerdict.refuse("output.fact_check", text, timings, flags)
        return None

    def attribute(self, sentence: str, chunk_texts: Sequence[str]) -> GroundedSentence:
        """The chunk that supports ``sentence`` (blocking: embeds when the words alone do not decide)."""
        with limited_threads(self.config.torch_threads):
            return attribute(sentence, chunk_texts, self.embedder,
                             self.config.fact_check_sentence_similarity)

    @property
    def sentence_ranker(self) -> SentenceRanker | None:
        """The model that picks the sentences of an extractive answer (loaded on first use; None = formula)."""
        if not self._sentence_ranker_loaded:
            path = self.config.sentence_ranker_path or SENTENCE_RANKER_PATH
            self._sentence_ranker = SentenceRanker.load(path) if self.config.sentence_ranker else None
            self._sentence_ranker_loaded = True
        return self._sentence_ranker

    def extract(self, question: str, chunks: Sequence[RetrievedChunk]) -> list[GroundedSentence]:
        """The few sentences of ``chunks`` that answer ``question`` (empty: they do not answer it)."""
        with limited_threads(self.config.torch_threads):
            return extract(question, chunks, self.embedder, ranker=self.sentence_ranker,
                           max_chars=self.config.extractive_max_chars,
                           min_relevance=self.config.extractive_min_relevance,
                           quote_min_relevance=self.config.extractive_quote_min_relevance)

    def output_checks(self) -> OutputChecks:
        """The narrow view of these rails that the streaming output rails use."""
        return OutputChecks(
            config=self.config,
            mask=lambda text: self.mask(text, pii=self.config.mask_output),
            attribute=self.attribute,
            self_check=self.self_check_output,
            fact_verdict=self.fact_verdict,
        )

    def stream_output(self, deltas: AsyncIterator[str], *, question: str, chunks: Sequence,
                      model: str) -> AsyncIterator[OutputEvent]:
        """Released sentences of a streamed answer; see :func:`guardrails.streaming.guarded_stream`."""
        return guarded_stream(self.output_checks(), deltas, question=question, chunks=chunks, model=model)

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
