"""`ratchet bench rag`: ingest throughput vs embedding alone, search latency, recall@5 at 100k chunks.

The corpus is generated here: Markdown handbooks whose every section states one unique fact ("the
<thing> of the <team> team in <city> is maintained by <person>"), so each generated question has exactly
one right chunk. Everything is measured in one run against the configured Weaviate, in a collection of
its own that is deleted at the end (unless ``--keep``). Figures are printed as JSON lines.

Embedding 100k chunks with the real model takes hours on a small CPU, so the corpus has two parts:

- the *sample* (``--embed-sample`` chunks): really ingested by ``ingest_paths`` (read, chunk, embed with
  the real model, insert). Ingest throughput is measured on it, and every QA question is about it.
- the *filler* (the rest, up to ``--chunks``): facts of the same generator (so BM25 sees realistic term
  statistics), written as Markdown and put through the ingest path too (``Ingestor.plan`` loads and
  chunks, ``Ingestor.write_all`` inserts in batches) with one difference: the vectors are not embedded
  one by one but composed by ``FillerEmbedder`` from real embeddings of each chunk's parts (see there).
  The filler is written *before* the sample, so the sample's ingest and every search run with all the
  chunks present. The summary says what the filler was and how close its vectors are to real ones.

- ``ingest_chunks_s``: end to end (read, chunk, embed, insert) chunks per second, on the sample.
- ``embed_only_chunks_s``: embedding alone of the same texts, measured before and after the ingest (mean),
  so that load drift on a shared machine does not skew ``ingest_ratio = ingest / embed_only``.
- ``search_p50/p95_ms``: one whole retrieval through ``Retriever`` (query embedding + hybrid search +
  rerank); ``hybrid_rerank_p50/p95_ms`` the Weaviate search and the rerank alone.
- ``recall_at_5``: share of generated questions whose fact's chunk is in the top 5.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.rag.chunking import HEADING_SEPARATOR, Chunk
from engine.rag.embedder import Embedder
from engine.rag.ingest import Ingestor, PendingDocument, embedding_text, expand_sources, ingest_paths
from engine.rag.retriever import Retriever
from engine.rag.weaviate_client import WeaviateStore
from engine.settings import Settings

ADJECTIVES = ("blue", "quiet", "shared", "backup", "legacy", "mobile", "secure", "rapid", "central", "spare",
              "outdoor", "digital", "heavy", "compact", "public", "private", "northern", "southern", "night",
              "weekend")
THINGS = ("printer", "server rack", "coffee machine", "projector", "laptop pool", "meeting room", "badge reader",
          "parking lot", "test device", "build agent", "conference phone", "storage locker", "bike shed",
          "whiteboard", "label maker", "3D printer", "first aid kit", "standing desk", "monitor stock",
          "vending machine", "shuttle bus", "loading dock", "wifi router", "demo kit", "sound system",
          "fire extinguisher", "library", "mail room", "kitchen", "gym")
TEAMS = ("finance", "legal", "sales", "support", "platform", "mobile", "design", "research", "security",
         "marketing", "data", "payments", "search", "growth", "infrastructure", "hr", "procurement",
         "facilities", "compliance", "billing")
CITIES = ("Berlin", "Lisbon", "Oslo", "Madrid", "Warsaw", "Dublin", "Vienna", "Prague", "Milan", "Lyon",
          "Porto", "Zurich", "Athens", "Tallinn", "Riga", "Sofia", "Ghent", "Leeds", "Turin", "Bergen",
          "Krakow", "Basel", "Seville", "Malmo", "Bruges", "Espoo", "Graz", "Nantes", "Cork", "Aarhus")
NAMES = ("Ada", "Bruno", "Chloe", "Dario", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaja", "Luca",
         "Mira", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Xenia",
         "Yusuf", "Zoe")
SURNAMES = ("Novak", "Costa", "Berg", "Klein", "Moreau", "Rossi", "Silva", "Haas", "Nowak", "Dahl", "Brandt",
            "Lund", "Varga", "Weber", "Ortiz", "Meyer", "Horvat", "Jensen", "Kovac", "Laine")
BOILERPLATE = ("Requests go through the service desk.", "Outside office hours use the on-call number.",
          "Report damage the same day.", "Bookings are confirmed by e-mail.", "Keys are at the reception.",
          "Check the calendar before use.", "Leave it clean for the next person.",
          "Questions go to the facilities channel.")


@dataclass
class Fact:
    """One generated section and the question it answers."""

    heading: str
    text: str
    question: str


_FACT = re.compile(r"The (?P<adjective>\w+) (?P<thing>.+?) of the (?P<team>\w+) team in (?P<city>\w+) "
                   r"is maintained by (?P<person>\w+ \w+)\.")


def _facts(count: int, rng: random.Random) -> list[Fact]:
    capacity = len(ADJECTIVES) * len(THINGS) * len(TEAMS) * len(CITIES)
    if count > capacity:
        raise ValueError(f"--chunks {count}: the generator has only {capacity} distinct facts")
    seen: set[tuple] = set()
    facts: list[Fact] = []
    while len(facts) < count:
        key = (rng.choice(ADJECTIVES), rng.choice(THINGS), rng.choice(TEAMS), rng.choice(CITIES))
        if key in seen:
            continue
        seen.add(key)
        adjective, thing, team, city = key
        person = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"
        code = f"{rng.randrange(1000, 9999)}-{rng.choice('ABCDEFGHJK')}"
        text = (f"The {adjective} {thing} of the {team} team in {city} is maintained by {person}. "
                f"Its inventory code is {code}. " + " ".join(rng.sample(BOILERPLATE, 3)))
        question = f"Who looks after the {adjective} {thing} for {team} in {city}?"
        facts.append(Fact(f"{adjective.title()} {thing} ({team}, {city})", text, question))
    return facts


def write_corpus(root: Path, facts: list[Fact], per_doc: int, first_doc: int = 0) -> list[tuple[str, str]]:
    """Write the facts as Markdown handbooks numbered from ``first_doc``; returns each fact's (source, heading
    path)."""
    where = []
    for start in range(0, len(facts), per_doc):
        title = f"Handbook {first_doc + start // per_doc:05d}"
        path = (root / f"{title.replace(' ', '_')}.md").resolve()
        body = [f"# {title}\n"] + [f"## {f.heading}\n\n{f.text}\n" for f in facts[start:start + per_doc]]
        path.write_text("\n".join(body), encoding="utf-8")
        where.extend((str(path), f"{title}{HEADING_SEPARATOR}{f.heading}") for f in facts[start:start + per_doc])
    return where


class FillerEmbedder:
    """Stand-in for ``Embedder`` on filler chunks: vectors composed from real embeddings of their parts.

    A fact chunk's parts are its subject ("blue printer"), place ("the finance team in Berlin"), keeper
    ("maintained by Ada Novak") and the mean of its three boilerplate sentences; each distinct part
    (under 2,000 even at 100k chunks) is embedded once with the real model. A chunk's vector is the
    weighted sum of its parts, plus the mean residual and Gaussian noise of the per-dimension residual
    spread, re-normalised. Weights and residual statistics are fitted by least squares against the real
    embeddings of the sample (``fit``), so the filler vectors match their own text and have the spread of
    real ones without embedding every chunk.
    """

    def __init__(self, embedder: Embedder, seed: int) -> None:
        self.embedder = embedder
        self.rng = np.random.default_rng(seed)
        self.part_vectors: dict[str, np.ndarray] = {}
        self.weights = np.full(4, 0.25)
        self.residual_mean = np.zeros(embedder.dimensions, dtype=np.float32)
        self.residual_std = np.zeros(embedder.dimensions, dtype=np.float32)

    def _parts(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's part embeddings, shape ``len(texts) x 4 x dimensions``."""
        split = []
        for text in texts:
            fact = _FACT.search(text)
            if fact is None:
                raise ValueError(f"not a generated fact: {text[:80]!r}")
            split.append(([f"{fact['adjective']} {fact['thing']}", f"the {fact['team']} team in {fact['city']}",
                           f"maintained by {fact['person']}"], [s for s in BOILERPLATE if s in text]))
        new = sorted({p for named, boiler in split for p in named + boiler} - self.part_vectors.keys())
        self.part_vectors.update(zip(new, self.embedder.embed(new)))
        return np.stack([np.stack([self.part_vectors[p] for p in named]
                                  + [np.mean([self.part_vectors[s] for s in boiler], axis=0)])
                         for named, boiler in split])

    def fit(self, texts: Sequence[str], real: np.ndarray) -> dict[str, float]:
        """Fit the weights and residuals to ``real`` embeddings of ``texts``. Returns how real the composed
        vectors (noise included) of the same texts look: mean cosine to their real embedding, and mean
        pairwise cosine among composed vs among real vectors."""
        parts = self._parts(texts)
        design = parts.transpose(0, 2, 1).reshape(-1, parts.shape[1])
        self.weights = np.linalg.lstsq(design, real.reshape(-1), rcond=None)[0]
        residual = real - np.einsum("k,nkd->nd", self.weights, parts)
        self.residual_mean, self.residual_std = residual.mean(axis=0), residual.std(axis=0)
        composed = self._compose(parts)

        def pairwise(v: np.ndarray) -> float:
            n = len(v)
            return float((np.sum(v @ v.T) - n) / max(1, n * (n - 1)))

        return {"cosine_to_real": round(float(np.mean(np.sum(composed * real, axis=1))), 3),
                "pairwise_cosine_composed": round(pairwise(composed), 3),
                "pairwise_cosine_real": round(pairwise(real), 3)}

    def _compose(self, parts: np.ndarray) -> np.ndarray:
        vectors = (np.einsum("k,nkd->nd", self.weights, parts) + self.residual_mean
                   + self.rng.normal(size=(len(parts), parts.shape[2])) * self.residual_std)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def embed(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Composed, L2-normalised vectors for ``texts`` (same contract as ``Embedder.embed``)."""
        vectors = self._compose(self._parts(texts)) if texts else np.zeros((0, len(self.residual_std)), np.float32)
        if on_batch is not None:
            on_batch(len(texts))
        return vectors


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _embed_only(embedder: Embedder, texts: list[str]) -> tuple[float, np.ndarray]:
    """Chunks per second of embedding ``texts`` alone, and their vectors."""
    embedder.embed(texts[:32])  # warm-up
    start = time.perf_counter()
    vectors = embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start), vectors


def _write_filler(settings: Settings, store: WeaviateStore, root: Path, filler: FillerEmbedder) -> int:
    """Load, chunk and insert the filler handbooks under ``root`` through ``Ingestor``; returns chunks written."""
    run = Ingestor(settings, store, collection=None, tenant=None, groups=settings.rag.default_acl)
    sources, _, _ = expand_sources([root])
    pending = [item for item in map(run.plan, sources) if isinstance(item, PendingDocument)]
    outcomes = run.write_all(pending, filler)  # type: ignore[arg-type]  # duck-typed Embedder
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} filler documents not written: {failed[0].message}")
    return sum(o.chunks for o in outcomes)


async def _search(retriever: Retriever, facts: list[Fact], where: list[tuple[str, str]], queries: int,
                  rng: random.Random) -> dict:
    picks = rng.sample(range(len(facts)), min(queries, len(facts)))
    await retriever.retrieve(facts[picks[0]].question, groups=["public"])  # warm-up
    totals, searches, hits = [], [], 0
    for i in picks:
        result = await retriever.retrieve(facts[i].question, groups=["public"])
        totals.append(result.timings_ms["total"])
        searches.append(result.timings_ms["search"] + result.timings_ms["rerank"])
        hits += any((c.source, c.heading) == where[i] for c in result.chunks[:5])
    return {
        "queries": len(picks),
        "search_p50_ms": round(_percentile(totals, 0.5), 1), "search_p95_ms": round(_percentile(totals, 0.95), 1),
        "hybrid_rerank_p50_ms": round(_percentile(searches, 0.5), 1),
        "hybrid_rerank_p95_ms": round(_percentile(searches, 0.95), 1),
        "recall_at_5": round(hits / len(picks), 3),
    }


def bench_rag(settings: Settings, *, chunks: int, queries: int, per_doc: int, embed_sample: int,
              seed: int = 7, keep: bool = False, emit: Callable[[dict], None] = print) -> dict:
    """Run the benchmark; ``emit`` receives one dict per phase and the summary (returned too)."""
    rng = random.Random(seed)
    collection = f"BenchRag{uuid.uuid4().hex[:8]}"
    rag = settings.rag.model_copy(update={"collection": collection, "cache_enabled": False})
    settings = settings.model_copy(update={"rag": rag})
    facts = _facts(chunks, rng)
    sample = facts[:max(1, min(embed_sample, chunks))]
    embedder = Embedder(rag)
    store = WeaviateStore(rag)
    try:
        with tempfile.TemporaryDirectory(prefix="ratchet-bench-rag-") as tmp:
            real_dir, filler_dir = Path(tmp, "sample"), Path(tmp, "filler")
            real_dir.mkdir(), filler_dir.mkdir()
            where = write_corpus(real_dir, sample, per_doc)
            write_corpus(filler_dir, facts[len(sample):], per_doc, first_doc=math.ceil(len(sample) / per_doc))
            texts = [embedding_text(path.split(HEADING_SEPARATOR)[0], Chunk(0, path, f.text))
                     for (_, path), f in zip(where, sample)]
            before, vectors = _embed_only(embedder, texts)
            emit({"phase": "embed_only", "chunks": len(texts), "embed_only_chunks_s": round(before, 1)})

            started = time.perf_counter()
            filler = FillerEmbedder(embedder, seed)
            fit = filler.fit(texts, vectors)
            filler_chunks = _write_filler(settings, store, filler_dir, filler) if len(facts) > len(sample) else 0
            emit({"phase": "filler", "chunks": filler_chunks, "seconds": round(time.perf_counter() - started, 1),
                  "parts_embedded": len(filler.part_vectors), **fit})

            summary = ingest_paths(settings, [real_dir], store=store)
        ingest_rate = summary.chunks_written / summary.seconds
        emit({"phase": "ingest", "chunks": summary.chunks_written, "seconds": round(summary.seconds, 1),
              "ingest_chunks_s": round(ingest_rate, 1)})
        after, _ = _embed_only(embedder, texts)  # again, so load drift on a shared machine averages out
        embed_rate = (before + after) / 2
        emit({"phase": "embed_only_after", "chunks": len(texts), "embed_only_chunks_s": round(after, 1)})
        retriever = Retriever(settings, store=store)
        search = asyncio.run(_search(retriever, sample, where, queries, rng))
        emit({"phase": "search", "chunks": filler_chunks + summary.chunks_written, **search})
    finally:
        if not keep:
            store.drop(collection)
        store.close()
    total = filler_chunks + summary.chunks_written
    result = {
        "bench": "rag", "ingest_ratio": round(ingest_rate / embed_rate, 3), "recall_at_5": search["recall_at_5"],
        "chunks": total, "ingest_chunks_s": round(ingest_rate, 1), "embed_only_chunks_s": round(embed_rate, 1),
        **search, "real_chunks": summary.chunks_written, "filler_chunks": filler_chunks,
        "filler": (f"{filler_chunks} of {total} chunks are generated facts written through Ingestor (load, chunk, "
                   f"batched insert) with vectors composed from {len(filler.part_vectors)} real "
                   f"embeddings of their parts (subject, place, keeper, boilerplate) by the same model; on the "
                   f"sample, composed vs real: cosine {fit['cosine_to_real']}, pairwise cosine "
                   f"{fit['pairwise_cosine_composed']} vs {fit['pairwise_cosine_real']}. Not embedded one by one; "
                   "ingest rates, questions and recall are on the "
                   f"{summary.chunks_written} really embedded chunks, searched among all {total}"),
        "alpha": rag.alpha, "reranker": rag.reranker_model or "fallback(cosine+overlap)",
        "collection": collection if keep else None,
    }
    emit(result)
    return result
