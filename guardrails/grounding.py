"""Grounding: which retrieved chunk supports each sentence of an answer, and quoting the documents instead.

A sentence is supported by a chunk when every number and every identifier it contains (``file_name.conf``,
``os.path.join``, ``/etc/fstab``, ``--flag``, ``run()``, anything in backticks) appears verbatim in that chunk,
and either most of its content words appear in the chunk or its embedding is close to one of the chunk's
sentences. The verbatim rule is what stops invented commands and file names: a sentence that names a file
the documents never mention is not supported, however similar it sounds. Runs offline; no LLM call (a 135M
model's yes/no on entailment is noise).

:func:`attribute` gives each sentence its supporting chunk (or none); :func:`extract` picks the few
sentences of the chunks that answer a question best — the answer shown when the model's own text is not
supported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.rag.embedder import Embedder
from engine.rag.types import RetrievedChunk
from guardrails.sentence_ranker import Candidate, SentenceRanker, feature_row, formula_relevance, log_words, order

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_TICKED = re.compile(r"`([^`\n]+)`")
_TOKEN = re.compile(r"[\w./:~()\[\]-]+")
_IDENTIFIER = re.compile(r"^-{1,2}[a-z]|\w\w\.[a-z_]|\w\.[a-z_]\w|\)\.[a-z_]|\w_\w|/\w|\w\(\)", re.IGNORECASE)
_MARKER = re.compile(r"\s*\[\d{1,2}\]")
_STOP = frozenset(
    "a an the and or but if of to in on at for with by from as is are was were be been it this that these "
    "those you your i we our they their he she his her them can may will would should could do does did "
    "not no yes have has had there here what which who how when where why also so than then just about "
    "into over under more most some any all each per".split()
)
MIN_SENTENCE_WORDS = 3


@dataclass(frozen=True)
class Support:
    """How much of an answer the chunks support."""

    ratio: float
    unsupported: list[str]
    checked: int

    @classmethod
    def of(cls, claims: list[str], unsupported: list[str]) -> "Support":
        """Support of ``claims`` given the ones found unsupported (no claims = fully supported)."""
        if not claims:
            return cls(1.0, [], 0)
        return cls(1 - len(unsupported) / len(claims), unsupported, len(claims))


_BLOCK_START = re.compile(r"^\s*(?:[-*+•>#|]|\d+[.)]\s|```|\S+:\s*$)|^\s{4}")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|no|fig)\.|\b[A-Z]\.)$", re.IGNORECASE)


def unwrap(text: str) -> str:
    """Join hard-wrapped lines of a paragraph (a line break inside a sentence is not a boundary); list
    items, quotes, headings, table rows, code and blank lines still start a new line."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        if out and out[-1].strip() and line.strip() and not _BLOCK_START.match(line) \
                and not out[-1].rstrip().endswith((":", "```")):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def split_text(text: str) -> list[str]:
    """Every sentence and line of ``text`` (unwrapped first; no split after "e.g." and the like)."""
    pieces: list[str] = []
    for part in _SENTENCE.split(unwrap(text)):
        part = (part or "").strip()
        if not part:
            continue
        if pieces and _ABBREVIATION.search(pieces[-1]) and "\n" not in pieces[-1]:
            pieces[-1] += " " + part
        else:
            pieces.append(part)
    return pieces


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences long enough to carry a claim."""
    return [p for p in split_text(text) if _carries_claim(p)]


def _carries_claim(piece: str) -> bool:
    return len(_WORD.findall(piece.lower())) >= MIN_SENTENCE_WORDS


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return _WORD.findall(text.lower())


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def identifiers(text: str) -> set[str]:
    """Code-like tokens that must appear verbatim to be supported: backticked spans, file names, dotted
    names, paths, flags, calls (trailing sentence punctuation removed)."""
    found = {t.strip() for t in _TICKED.findall(text) if t.strip()}
    for token in _TOKEN.findall(_TICKED.sub(" ", text)):
        token = token.rstrip(".:,;").lstrip("([")
        if token.endswith(")") and token.count("(") < token.count(")"):
            token = token.rstrip(")")
        if token and _IDENTIFIER.search(token) and not _NUMBER.fullmatch(token):
            found.add(token)
    return found


def strip_markers(text: str) -> str:
    """``text`` without citation markers like ``[2]`` (the model's own numbering is not trusted)."""
    return _MARKER.sub("", text).strip()


def _lexically_supported(sentence: str, chunk_words: set[str], chunk_text: str) -> bool:
    numbers = _NUMBER.findall(sentence)
    if any(n not in chunk_text for n in numbers):
        return False
    words = _content_words(sentence)
    return bool(words) and len(words & chunk_words) / len(words) >= 0.6


def support(answer: str, chunk_texts: Sequence[str], embedder: Embedder, similarity: float) -> Support:
    """The share of the answer's sentences supported by ``chunk_texts``."""
    claims = sentences(answer)
    return Support.of(claims, unsupported_claims(claims, chunk_texts, embedder, similarity))


def unsupported_claims(claims: list[str], chunk_texts: Sequence[str], embedder: Embedder,
                       similarity: float) -> list[str]:
    """The ``claims`` (sentences) that ``chunk_texts`` do not support.

    Lexical support is checked first; only the remaining sentences are embedded (chunk sentence vectors
    are cached per process), so a well-grounded answer costs little or no embedding.
    """
    if not claims or not chunk_texts:
        return list(claims)
    joined = "\n".join(chunk_texts)
    chunk_words = _content_words(joined)
    unsupported = [c for c in claims if any(n not in joined for n in _NUMBER.findall(c))]
    open_claims = [c for c in claims if c not in unsupported and not _lexically_supported(c, chunk_words, joined)]
    if open_claims:
        evidence = _evidence_vectors(tuple(chunk_texts), embedder)
        sims = np.atleast_2d(embedder.embed(open_claims) @ evidence.T)
        unsupported += [c for c, row in zip(open_claims, sims) if float(np.max(row)) < similarity]
    return unsupported


_EVIDENCE_CACHE_SIZE = 512
_evidence_cache: dict[tuple[str, str], np.ndarray] = {}


def _chunk_vectors(text: str, embedder: Embedder) -> np.ndarray:
    """Vectors of one chunk's sentences, in :func:`sentences` order (cached per process)."""
    key = (embedder.path, text)
    if key not in _evidence_cache:
        if len(_evidence_cache) >= _EVIDENCE_CACHE_SIZE:
            _evidence_cache.pop(next(iter(_evidence_cache)))
        _evidence_cache[key] = embedder.embed(sentences(text) or [text])
    return _evidence_cache[key]


def _evidence_vectors(chunk_texts: tuple[str, ...], embedder: Embedder) -> np.ndarray:
    """Sentence vectors of every chunk, stacked."""
    return np.vstack([_chunk_vectors(text, embedder) for text in chunk_texts])


# --- attribution: the chunk that supports each sentence ------------------------------------------------------
@dataclass(frozen=True)
class GroundedSentence:
    """A sentence and the index of the chunk that supports it (None: no chunk does)."""

    text: str
    source: int | None
    score: float = 0.0

    @property
    def supported(self) -> bool:
        return self.source is not None


_COMMAND = re.compile(r"^\s*(?:\$\s*)?(?:pip3?|python3?(?:\.\d+)?|py|apt(?:-get)?|dpkg|git|sudo|npm|conda|"
                      r"ratchet|docker|kubectl|systemctl|curl|ssh|make|bash|sh|source)\s+\S", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _verbatim_ok(sentence: str, chunk_text: str) -> bool:
    lowered = chunk_text.lower()
    names = {i.split("(")[0] or i for i in identifiers(sentence)}  # json.dumps(obj) -> json.dumps
    if _COMMAND.match(sentence):  # a command line is right only as the documents write it
        command = _SPACES.sub(" ", strip_markers(sentence).rstrip(".:;").lstrip("$ ").strip()).lower()
        if command not in _SPACES.sub(" ", lowered):
            return False
    return (all(n in chunk_text for n in _NUMBER.findall(sentence))
            and all(name.lower() in lowered for name in names))


def attribute(sentence: str, chunk_texts: Sequence[str], embedder: Embedder, similarity: float) -> GroundedSentence:
    """The chunk that supports ``sentence`` best (lexically first, then by embedding), or none."""
    claim = strip_markers(sentence)
    allowed = [i for i, text in enumerate(chunk_texts) if _verbatim_ok(claim, text)]
    if not allowed:
        return GroundedSentence(sentence, None)
    words = _content_words(claim)
    negated = bool(_NEGATION.search(claim))
    if words:
        overlaps = [(_window_overlap(words, chunk_texts[i], negated), i) for i in allowed]
        best, index = max(overlaps, key=lambda pair: (pair[0], -pair[1]))
        if best >= LEXICAL_SUPPORT:
            return GroundedSentence(sentence, index, best)
    vector = embedder.embed([claim])[0]
    best, index = -1.0, None
    for i in allowed:
        parts = sentences(chunk_texts[i]) or [chunk_texts[i]]
        sims = _chunk_vectors(chunk_texts[i], embedder) @ vector
        for part, sim in zip(parts, sims):
            if float(sim) > best and (not negated or _NEGATION.search(part)):
                best, index = float(sim), i
    return GroundedSentence(sentence, index if best >= similarity else None, best)


LEXICAL_SUPPORT = 0.7
_NEGATION = re.compile(r"\b(?:no|not|never|none|cannot|can't|don't|doesn't|isn't|aren't|won't|without)\b|n't\b",
                       re.IGNORECASE)


def _window_overlap(words: set[str], chunk_text: str, negated: bool) -> float:
    """The share of ``words`` found in the best window of two consecutive chunk sentences (a whole chunk
    holds enough words to "support" any on-topic sentence); a negated claim needs a negated window."""
    parts = split_text(chunk_text) or [chunk_text]
    best = 0.0
    for k in range(len(parts)):
        window = " ".join(parts[k:k + 2])
        if negated and not _NEGATION.search(window):
            continue
        best = max(best, len(words & _content_words(window)) / len(words))
    return best


# --- evidence: what a chunk supports claims with --------------------------------------------------------------
_ENTRY_KEYWORD = re.compile(r"^(?:class|exception|async|awaitable|abstractmethod|classmethod|staticmethod|"
                            r"coroutine|property|method|function|attribute|data)\s+")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{2,}")


def entry_name(heading: str) -> str | None:
    """The API entry a heading path ends in (``shutil.disk_usage(path)``, ``class datetime.timedelta(...)``,
    ``PYTHONPATH``, ``--user``), or None for a prose heading (``Defining Networks``)."""
    last = heading.rsplit(" > ", 1)[-1].strip()
    bare = _ENTRY_KEYWORD.sub("", last)
    name = bare.split("(", 1)[0]
    if not name or " " in name:
        return None
    if "(" in bare or identifiers(name) or _ENV_NAME.fullmatch(name):
        return last
    return None


class Evidence(Protocol):
    """What grounding reads of a chunk (a :class:`RetrievedChunk` is one)."""

    text: str
    heading: str


def evidence_text(chunk: Evidence) -> str:
    """The text a chunk supports sentences with: its own, led by the API entry its heading names
    (``shutil.disk_usage(path): Return disk usage …``), so a quote keeps the name it describes and a
    sentence naming the entry is checked against the entry's own description."""
    entry = entry_name(chunk.heading or "")
    if entry is None or chunk.text.lstrip().startswith(entry):
        return chunk.text
    return f"{entry}: {chunk.text.lstrip()}"


# --- extraction: quote the documents -----------------------------------------------------------------------
QUOTE_MAX_CHARS = 300


def candidates(question: str, chunks: Sequence[RetrievedChunk], embedder: Embedder) -> list[Candidate]:
    """Every quotable sentence of ``chunks`` with its ranking features (see :mod:`guardrails.sentence_ranker`)."""
    entries = [(c.heading or "").rsplit(" > ", 1)[-1] for c in chunks]
    vectors = embedder.embed([question, *entries])
    q_vector, heading_vectors = vectors[0], vectors[1:]
    q_words = _content_words(question)
    out: list[Candidate] = []
    for i, chunk in enumerate(chunks):
        text = evidence_text(chunk)
        lines = split_text(text)
        parts = [(at, line) for at, line in enumerate(lines) if _carries_claim(line)]  # = sentences(text)
        if not parts:
            continue
        sims = _chunk_vectors(text, embedder) @ q_vector
        heading_words = _content_words(chunk.heading or "")
        heading_similarity = float(heading_vectors[i] @ q_vector)
        api_entry = int(entry_name(chunk.heading or "") is not None)
        starts_inside = chunk.text.lstrip()[:1].islower()  # overlap with the previous chunk
        for j, ((at, part), sim) in enumerate(zip(parts, sims)):
            if j == 0 and starts_inside:
                continue  # a piece of a sentence is not quotable
            overlap = len(q_words & _content_words(part)) / max(1, len(q_words))
            features = feature_row(
                sentence_similarity=float(sim), heading_similarity=heading_similarity, question_overlap=overlap,
                heading_overlap=len(q_words & heading_words) / max(1, len(q_words)), chunk_rank=i,
                chunk_score=chunk.score, position=min(j, 10), first_sentence=int(j == 0),
                has_identifier=int(bool(identifiers(part))), log_words=log_words(len(words(part))),
                code_example=int(part.lstrip().startswith((">>>", "..."))),
                api_entry=api_entry,
                negated=int(bool(_NEGATION.search(part))), table_row=int("|" in part))
            out.append(Candidate(chunk=i, position=j, text=part,
                                 following=lines[at + 1] if at < len(lines) - 1 else "",
                                 relevance=formula_relevance(float(sim), overlap, i), features=features))
    return out


def _quote(candidate: Candidate) -> str:
    """The sentence as quoted: with the line it introduces when it ends in ":" (a command, a value), and
    at most ``QUOTE_MAX_CHARS``."""
    text = candidate.text
    if text.rstrip().endswith(":") and candidate.following:
        text = f"{text} {candidate.following}"
    return text if len(text) <= QUOTE_MAX_CHARS else text[:QUOTE_MAX_CHARS].rsplit(" ", 1)[0] + " …"


def extract(question: str, chunks: Sequence[RetrievedChunk], embedder: Embedder, *, max_chars: int,
            min_relevance: float, quote_min_relevance: float | None = None, ranker: SentenceRanker | None = None,
            max_sentences: int = 4) -> list[GroundedSentence]:
    """The chunk sentences that answer ``question`` best, at most ``max_chars`` in all, in reading order.

    The documents answer only when some sentence reaches ``min_relevance`` by the fixed formula (cosine to
    the question plus keyword overlap, a little less for lower-ranked chunks); else the result is empty.
    Which sentences are quoted is the ranker's choice (the formula's without one), among those that reach
    ``quote_min_relevance`` (default ``min_relevance``) by the formula."""
    pool = candidates(question, chunks, embedder)
    if not pool or max(c.relevance for c in pool) < min_relevance:
        return []
    floor = min_relevance if quote_min_relevance is None else quote_min_relevance
    pool = [c for c in pool if c.relevance >= floor]
    picked: list[tuple[Candidate, str]] = []
    used = 0
    seen: set[str] = set()
    for candidate in order(pool, ranker):
        if len(picked) >= max_sentences:
            break
        key = " ".join(words(candidate.text))
        if key in seen:
            continue  # the same sentence from an overlapping or duplicate chunk
        seen.add(key)
        quote = _quote(candidate)
        if picked and used + len(quote) > max_chars:
            continue
        picked.append((candidate, quote))
        used += len(quote)
    picked.sort(key=lambda pair: (pair[0].chunk, pair[0].position))
    return [GroundedSentence(quote, c.chunk, c.relevance) for c, quote in picked]
