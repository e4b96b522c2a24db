"""`ratchet bench rag`: ingest throughput vs embedding alone, search latency, recall@5 on a synthetic corpus.

The corpus is generated here: Markdown handbooks whose every section states one unique fact ("the
<thing> of the <team> team in <city> is maintained by <person>"), so each generated question has exactly
one right chunk. Everything is measured in one run against the configured Weaviate, in a collection of
its own that is deleted at the end. Figures are printed as JSON lines.

- ``ingest_chunks_s``: end to end (read, chunk, embed, insert) chunks per second.
- ``embed_only_chunks_s``: embedding alone on a sample, measured before and after the ingest (mean),
  so that load drift on a shared machine does not skew ``ingest_ratio = ingest / embed_only``.
- ``search_p50/p95_ms``: one whole retrieval (query embedding + hybrid search + rerank);
  ``hybrid_rerank_p50/p95_ms`` the Weaviate search and the rerank alone.
- ``recall_at_5``: share of generated questions whose fact's chunk is in the top 5.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.rag.embedder import Embedder
from engine.rag.ingest import ingest_paths
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
FILLER = ("Requests go through the service desk.", "Outside office hours use the on-call number.",
          "Report damage the same day.", "Bookings are confirmed by e-mail.", "Keys are at the reception.",
          "Check the calendar before use.", "Leave it clean for the next person.",
          "Questions go to the facilities channel.")


@dataclass
class Fact:
    """One generated section and the question it answers."""

    heading: str
    text: str
    question: str


def _facts(count: int, rng: random.Random) -> list[Fact]:
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
                f"Its inventory code is {code}. " + " ".join(rng.sample(FILLER, 3)))
        question = f"Who looks after the {adjective} {thing} for {team} in {city}?"
        facts.append(Fact(f"{adjective.title()} {thing} ({team}, {city})", text, question))
    return facts


def write_corpus(root: Path, facts: list[Fact], per_doc: int) -> list[tuple[str, str]]:
    """Write the facts as Markdown handbooks; returns each fact's (source, heading path)."""
    where = []
    for start in range(0, len(facts), per_doc):
        title = f"Handbook {start // per_doc:05d}"
        path = (root / f"{title.replace(' ', '_')}.md").resolve()
        body = [f"# {title}\n"] + [f"## {f.heading}\n\n{f.text}\n" for f in facts[start:start + per_doc]]
        path.write_text("\n".join(body), encoding="utf-8")
        where.extend((str(path), f"{title} > {f.heading}") for f in facts[start:start + per_doc])
    return where


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _embed_only(settings: Settings, facts: list[Fact], sample: int) -> float:
    embedder = Embedder(settings.rag)
    texts = [f"Handbook\n{f.heading}\n{f.text}" for f in facts[:sample]]
    embedder.embed(texts[:32])  # warm-up
    start = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start)


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
              seed: int = 7, keep: bool = False, emit=print) -> dict:
    """Run the benchmark; ``emit`` receives one dict per phase and the summary (returned too)."""
    rng = random.Random(seed)
    collection = f"BenchRag{uuid.uuid4().hex[:8]}"
    rag = settings.rag.model_copy(update={"collection": collection, "cache_enabled": False})
    settings = settings.model_copy(update={"rag": rag})
    facts = _facts(chunks, rng)
    sample = min(embed_sample, chunks)
    before = _embed_only(settings, facts, sample)
    emit({"phase": "embed_only", "chunks": sample, "embed_only_chunks_s": round(before, 1)})
    store = WeaviateStore(settings.rag)
    try:
        with tempfile.TemporaryDirectory(prefix="ratchet-bench-rag-") as tmp:
            where = write_corpus(Path(tmp), facts, per_doc)
            summary = ingest_paths(settings, [tmp], store=store)
        ingest_rate = summary.chunks_written / summary.seconds
        emit({"phase": "ingest", "chunks": summary.chunks_written, "seconds": round(summary.seconds, 1),
              "ingest_chunks_s": round(ingest_rate, 1)})
        after = _embed_only(settings, facts, sample)  # again, so load drift on a shared machine averages out
        embed_rate = (before + after) / 2
        emit({"phase": "embed_only_after", "chunks": sample, "embed_only_chunks_s": round(after, 1)})
        retriever = Retriever(settings, store=store)
        search = asyncio.run(_search(retriever, facts, where, queries, rng))
        emit({"phase": "search", **search})
    finally:
        if not keep:
            store.drop(collection)
        store.close()
    result = {
        "bench": "rag", "chunks": summary.chunks_written, "ingest_chunks_s": round(ingest_rate, 1),
        "embed_only_chunks_s": round(embed_rate, 1), "ingest_ratio": round(ingest_rate / embed_rate, 3),
        **search, "alpha": rag.alpha, "reranker": rag.reranker_model or "fallback(cosine+overlap)",
        "collection": collection if keep else None,
    }
    emit(result)
    return result
