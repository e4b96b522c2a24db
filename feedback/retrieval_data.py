"""Retrieval training data built from votes: which chunks answered a question, and which did not.

See DATASETS.md ("Retrieval data") for the rules. In short: a 👍 answer's cited chunks (the per-sentence
citations of the grounding rails) are positives for its question, its retrieved-but-not-cited chunks are hard
negatives; a 👎 answer's cited chunks (all its retrieved chunks if it cited none) are hard negatives. Questions
are split into train and held-out exactly like the preference data (``feedback.datasets.heldout_split``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.logs import get_logger
from engine.rag.collections import chunk_text, chunks_by_id
from engine.rag.weaviate_client import WeaviateStore
from feedback.datasets import _drop_contradictions, _labels, heldout_split
from feedback.models import Answer

if TYPE_CHECKING:
    from feedback.store import FeedbackStore

log = get_logger(__name__)
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class RetrievalExample:
    """One question with the chunks that answered it (positives) and chunks that did not (hard negatives)."""

    question_key: str
    query: str
    positives: tuple[str, ...]  # chunk ids
    negatives: tuple[str, ...]

    @property
    def id(self) -> str:
        body = f"{self.question_key}|{','.join(self.positives)}|{','.join(self.negatives)}"
        return "r-" + hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass
class RetrievalData:
    """Examples per split plus the text and document of every chunk they name."""

    examples: dict[str, list[RetrievalExample]]
    chunks: dict[str, dict]  # chunk id -> {"text": embedded text, "document_id": ...}
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def snapshot_id(self) -> str:
        """A stable id of exactly these examples."""
        ids = sorted(e.id for rows in self.examples.values() for e in rows)
        return "rds-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    def with_positives(self, split: str) -> list[RetrievalExample]:
        """Examples of a split that have at least one positive (what the embedder and the gate use)."""
        return [e for e in self.examples[split] if e.positives]

    def triplets(self, split: str = "train") -> list[dict[str, str]]:
        """(anchor, positive, negative) rows for MultipleNegativesRankingLoss: one per positive; the negative is a
        hard negative of the question when it has one, else another question's positive (cycled)."""
        rows = []
        examples = self.with_positives(split)
        for i, e in enumerate(examples):
            for j, pos in enumerate(e.positives):
                if e.negatives:
                    neg = e.negatives[j % len(e.negatives)]
                else:
                    other = examples[(i + 1) % len(examples)]
                    neg = other.positives[0] if other is not e else None
                if neg is None or neg in e.positives:
                    continue
                rows.append({"anchor": e.query, "positive": self.chunks[pos]["text"],
                             "negative": self.chunks[neg]["text"]})
        return rows

    def labelled_pairs(self, split: str = "train", negatives_per_question: int = 3) -> list[dict[str, Any]]:
        """(query, text, label) rows for a cross-encoder: 1 for positives, 0 for up to ``negatives_per_question``
        hard negatives of each question."""
        rows = []
        for e in self.examples[split]:
            rows += [{"query": e.query, "text": self.chunks[c]["text"], "label": 1.0} for c in e.positives]
            rows += [{"query": e.query, "text": self.chunks[c]["text"], "label": 0.0}
                     for c in e.negatives[:negatives_per_question]]
        return rows

    def shuffled(self, seed: int = 0) -> RetrievalData:
        """Every question given another question's positives (votes that reward the wrong chunks): what the gate
        must reject when trained on."""
        rng = random.Random(seed)
        out = {}
        for split, rows in self.examples.items():
            with_pos = [k for k, e in enumerate(rows) if e.positives]
            rng.shuffle(with_pos)
            # one cycle through the questions that have positives: nobody keeps their own
            donor = {with_pos[k]: with_pos[(k + 1) % len(with_pos)] for k in range(len(with_pos))}
            out[split] = [replace(e, positives=rows[donor[k]].positives, negatives=e.positives) if k in donor else e
                          for k, e in enumerate(rows)]
        return RetrievalData(out, self.chunks, dict(self.dropped))

    def export_rows(self, split: str) -> list[dict[str, Any]]:
        """The JSONL rows of one split (see DATASETS.md)."""
        return [{"id": e.id, "query": e.query,
                 "positives": [self.chunks[c]["text"] for c in e.positives],
                 "negatives": [self.chunks[c]["text"] for c in e.negatives],
                 "positive_ids": list(e.positives), "negative_ids": list(e.negatives),
                 "positive_documents": sorted({self.chunks[c]["document_id"] for c in e.positives})}
                for e in self.examples[split]]

    def stats(self) -> dict[str, Any]:
        """Counts for reports and lineage."""
        return {
            "snapshot_id": self.snapshot_id,
            "questions": {s: len(self.examples[s]) for s in SPLITS},
            "questions_with_positives": {s: len(self.with_positives(s)) for s in SPLITS},
            "positives": {s: sum(len(e.positives) for e in self.examples[s]) for s in SPLITS},
            "hard_negatives": {s: sum(len(e.negatives) for e in self.examples[s]) for s in SPLITS},
            "dropped": dict(self.dropped),
        }


def cited_chunk_ids(answer: Answer) -> list[str]:
    """The chunks an answer's shown sentences cite (the grounding rails record each sentence's source)."""
    sentences = ((answer.guardrails or {}).get("grounding") or {}).get("sentences") or []
    cited = []
    for s in sentences:
        source = s.get("source")
        if isinstance(source, int) and 0 <= source < len(answer.chunk_ids) and answer.chunk_ids[source] not in cited:
            cited.append(answer.chunk_ids[source])
    return cited


def _votes_to_examples(labels: dict[str, tuple[Answer, int]]) -> dict[str, RetrievalExample]:
    positives: dict[str, list[str]] = defaultdict(list)
    negatives: dict[str, list[str]] = defaultdict(list)
    query: dict[str, str] = {}
    for answer, label in sorted(labels.values(), key=lambda pair: (pair[0].created_at, pair[0].id)):
        key = answer.question_key
        query.setdefault(key, answer.standalone_query or answer.question)
        cited = cited_chunk_ids(answer)
        if label > 0:
            positives[key] += [c for c in cited if c not in positives[key]]
            negatives[key] += [c for c in answer.chunk_ids if c not in cited]
        else:
            negatives[key] += cited or list(answer.chunk_ids)
    out = {}
    for key in query:
        pos = tuple(positives[key])
        neg = tuple(dict.fromkeys(c for c in negatives[key] if c not in pos))
        if pos or neg:
            out[key] = RetrievalExample(key, query[key], pos, neg)
    return out


def voted_examples(store: FeedbackStore) -> tuple[dict[str, RetrievalExample], dict[str, int]]:
    """Examples (chunk ids only) per question key from the current votes, and what was dropped (labels are those of
    the preference data: ties, split votes, refusals, cached answers and contradictions do not count)."""
    dropped: dict[str, int] = defaultdict(int)
    labels = _labels(store.labelled_answers(), store.settings.feedback.contradiction_majority, dropped)
    _drop_contradictions(labels, dropped)
    return _votes_to_examples(labels), dropped


def build_retrieval_data(store: FeedbackStore, weaviate: WeaviateStore | None = None, *,
                         collection: str | None = None, tenant: str | None = None) -> RetrievalData:
    """Read every voted answer and turn it into split retrieval examples (chunk texts read from the live collection;
    chunks no longer there — their document changed — are dropped and counted)."""
    settings = store.settings
    examples, dropped = voted_examples(store)
    wanted = sorted({c for e in examples.values() for c in (*e.positives, *e.negatives)})
    own = weaviate is None
    weaviate = weaviate or WeaviateStore(settings.rag)
    try:
        found = chunks_by_id(weaviate, collection or settings.rag.collection, tenant or settings.rag.default_tenant,
                             wanted)
    finally:
        if own:
            weaviate.close()
    chunks = {cid: {"text": chunk_text(p), "document_id": p["document_id"]} for cid, p in found.items()}
    dropped["chunk_gone"] += len(set(wanted) - chunks.keys())
    split: dict[str, list[RetrievalExample]] = {s: [] for s in SPLITS}
    for key, e in sorted(examples.items()):
        e = replace(e, positives=tuple(c for c in e.positives if c in chunks),
                    negatives=tuple(c for c in e.negatives if c in chunks))
        if e.positives or e.negatives:
            split[heldout_split(key, settings)].append(e)
    data = RetrievalData(split, chunks, {k: v for k, v in dropped.items() if v})
    log.info("feedback.retrieval_dataset_built", **{k: v for k, v in data.stats().items() if k != "dropped"})
    return data


def export_retrieval_jsonl(data: RetrievalData, split: str, out: Path) -> int:
    """Write one split (``train``/``heldout``/``all``) as JSONL (atomically). Returns the number of rows."""
    rows = data.export_rows("train") + data.export_rows("heldout") if split == "all" else data.export_rows(split)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(rows)
