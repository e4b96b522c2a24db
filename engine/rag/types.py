"""The shapes other packages code against: retrieved chunks, a retrieval, a cached answer, an ingest summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class RetrievedChunk:
    """One chunk returned by the retriever, with what a citation needs."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    heading: str
    text: str
    score: float
    groups: list[str]
    content_hash: str


@dataclass
class Retrieval:
    """The result of one retrieval."""

    query: str  # the standalone query actually searched
    chunks: list[RetrievedChunk]
    enough_evidence: bool
    timings_ms: dict[str, float]


@dataclass
class CachedAnswer:
    """An answer found in the semantic cache."""

    answer: str
    citations: list[dict]
    similarity: float


@dataclass
class FileOutcome:
    """What ingestion did with one file or URL."""

    source: str
    status: str  # added | updated | unchanged | skipped | failed | deleted
    chunks: int = 0
    message: str = ""


@dataclass
class IngestSummary:
    """Per-file outcomes of one ``ingest_paths`` run."""

    collection: str
    tenant: str
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Number of files per status."""
        return dict(Counter(f.status for f in self.files))

    @property
    def chunks_written(self) -> int:
        """Chunks inserted by this run."""
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    def by_status(self, status: str) -> list[FileOutcome]:
        """The outcomes with one status."""
        return [f for f in self.files if f.status == status]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {**asdict(self), "counts": self.counts(), "chunks_written": self.chunks_written}
