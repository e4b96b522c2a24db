"""Grounding: the chunk that supports each sentence, the verbatim rule for identifiers, and quoting the documents.

Real embeddings (the packaged MiniLM); no services.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.rag import RetrievedChunk
from engine.rag.embedder import Embedder
from engine.settings import RagSettings
from guardrails.grounding import attribute, candidates, entry_name, evidence_text, extract, identifiers
from guardrails.sentence_ranker import FEATURES, SentenceRanker, SentenceRankerError, order, train_ranker

CHUNKS = [
    "Vacation policy. Full-time employees receive 25 days of paid vacation per year. "
    "Requests go through the HR portal at least two weeks ahead.",
    "Promoting an adapter. An admin promotes a version with `ratchet adapters promote VERSION`. "
    "The command loads the version into vLLM, checks that it answers, then points production at it.",
    "NFS mounts are configured in /etc/fstab. Run `mount -a` after editing the file to mount everything listed.",
]


def chunk(text: str, heading: str = "", score: float = 0.5) -> RetrievedChunk:
    return RetrievedChunk(chunk_id=heading or text[:20], document_id="d", source="handbook.md", title="Handbook",
                          heading=heading, text=text, score=score, groups=["public"], content_hash="h")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(RagSettings())


def test_identifiers_are_code_like_tokens() -> None:
    assert identifiers("Edit nfs_config.conf, then call os.path.join(a, b) and run() with --check.") >= {
        "nfs_config.conf", "os.path.join(a", "run()", "--check"}
    assert identifiers("It was 3.9 in e.g. Python (see the docs).") == set()
    assert identifiers("Use `ratchet adapters promote VERSION` [2].") == {"ratchet adapters promote VERSION"}


@pytest.mark.parametrize(("sentence", "source"), [
    ("Full-time employees get 25 days of paid vacation per year [1].", 0),
    ("To promote a version, run `ratchet adapters promote VERSION`.", 1),
    ("Mounts are listed in /etc/fstab and `mount -a` mounts them.", 2),
    ("ratchet adapters promote VERSION [2]", 1),  # a command line exactly as the documents write it
    ("Employees receive a generous amount of paid time off every year.", 0),  # paraphrase: by embedding
])
def test_a_supported_sentence_gets_the_chunk_that_supports_it(embedder, sentence: str, source: int) -> None:
    found = attribute(sentence, CHUNKS, embedder, 0.55)
    assert found.source == source, found


@pytest.mark.parametrize("sentence", [
    "Full-time employees receive 40 days of paid vacation per year.",  # wrong number
    "NFS mounts are configured in nfs_config.conf.",  # a file the documents never name
    "To promote a version, run `ratchet adapters deploy VERSION`.",  # an invented command
    "Post about the promotion on Facebook and in a Twitter tweet.",  # invented procedure
    "There is no command to promote an adapter version.",  # a negation the documents do not make
    "pip install ratchet adapters promote",  # a command line of words the documents use, but never wrote
])
def test_an_invented_sentence_is_not_supported(embedder, sentence: str) -> None:
    assert attribute(sentence, CHUNKS, embedder, 0.55).source is None


def test_extract_quotes_the_sentences_that_answer(embedder) -> None:
    quotes = extract("How do I promote a new adapter version?", [chunk(t) for t in CHUNKS], embedder, max_chars=600,
                     min_relevance=0.35)
    assert quotes and all(q.source == 1 for q in quotes)
    assert any("ratchet adapters promote VERSION" in q.text for q in quotes)
    assert sum(len(q.text) for q in quotes) <= 600


def test_extract_quotes_nothing_for_a_question_the_documents_do_not_answer(embedder) -> None:
    assert extract("What is the capital of Australia?", [chunk(t) for t in CHUNKS], embedder, max_chars=600,
                   min_relevance=0.35) == []
    ranker = SentenceRanker.load()
    assert ranker is not None  # the packaged ranker orders; the formula still decides "not answered"
    assert extract("What is the capital of Australia?", [chunk(t) for t in CHUNKS], embedder, max_chars=600,
                   min_relevance=0.35, ranker=ranker) == []


@pytest.mark.parametrize(("heading", "entry"), [
    ("shutil — High-level file operations > Directory and files operations > shutil.disk_usage(path)",
     "shutil.disk_usage(path)"),
    ("datetime > timedelta Objects > class datetime.timedelta(days=0, seconds=0)",
     "class datetime.timedelta(days=0, seconds=0)"),
    ("1. Command line and environment > 1.2. Environment variables > PYTHONPATH", "PYTHONPATH"),
    ("An introduction to the ipaddress module > Defining Networks", None),
    ("5. Data Structures > 5.5. Dictionaries", None),
    ("", None),
])
def test_an_api_entry_heading_is_recognised(heading: str, entry: str | None) -> None:
    assert entry_name(heading) == entry


def test_evidence_text_leads_with_the_entry_a_chunk_documents(embedder) -> None:
    described = chunk("Return disk usage statistics about the given path as a named tuple.",
                      heading="shutil > shutil.disk_usage(path)")
    assert evidence_text(described).startswith("shutil.disk_usage(path): Return disk usage")
    prose = chunk("Host addresses are grouped into networks.", heading="ipaddress > Defining Networks")
    assert evidence_text(prose) == prose.text
    # the quote keeps the name it describes, and a sentence naming the entry is supported by its description
    quotes = extract("How can I check how much free disk space there is?", [described, prose], embedder,
                     max_chars=600, min_relevance=0.2)
    assert quotes and "shutil.disk_usage(path)" in quotes[0].text
    assert attribute("Use shutil.disk_usage(path) to get disk usage statistics.", [evidence_text(described)],
                     embedder, 0.55).source == 0


def test_a_sentence_that_introduces_a_command_is_quoted_with_it(embedder) -> None:
    text = ("To create a virtual environment, run the venv module as a script with the directory path:\n"
            "python3 -m venv tutorial-env\nThis creates the tutorial-env directory.")
    quotes = extract("How do I make a virtual environment?", [chunk(text, heading="Tutorial > Creating")],
                     embedder, max_chars=600, min_relevance=0.2)
    assert any("directory path: python3 -m venv tutorial-env" in q.text for q in quotes)


def test_the_ranker_learns_which_sentences_answer_and_orders_by_it(embedder) -> None:
    pool = candidates("Which exception does a timeout raise?", [chunk(
        "The timeout argument is passed to communicate(). If the timeout expires, the child process will be "
        "killed and waited for. The TimeoutExpired exception will be re-raised after the child process has "
        "terminated.", heading="subprocess > subprocess.run(args, timeout=None)")], embedder)
    assert len(pool) == 3 and all(c.features.shape == (len(FEATURES),) for c in pool)
    rows = np.vstack([c.features for c in pool] * 4)
    labels = np.array([0, 0, 1] * 4)
    ranker = train_ranker(rows, labels, regularisation=10.0)
    assert order(pool, ranker)[0].text.startswith("The TimeoutExpired exception")
    with pytest.raises(SentenceRankerError):
        train_ranker(rows, np.zeros(len(rows), dtype=int))


def test_a_ranker_for_other_features_is_refused(tmp_path) -> None:
    path = tmp_path / "ranker.json"
    packaged = SentenceRanker.load()
    assert packaged is not None and packaged.manifest["questions"] > 0
    data = packaged.to_json()
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(SentenceRankerError, match="other features"):
        SentenceRanker.load(path)
    assert SentenceRanker.load(tmp_path / "missing.json") is None
