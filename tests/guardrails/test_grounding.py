"""Grounding: the chunk that supports each sentence, the verbatim rule for identifiers, and quoting the documents.

Real embeddings (the packaged MiniLM); no services.
"""

from __future__ import annotations

import pytest

from engine.rag.embedder import Embedder
from engine.settings import RagSettings
from guardrails.grounding import attribute, extract, identifiers

CHUNKS = [
    "Vacation policy. Full-time employees receive 25 days of paid vacation per year. "
    "Requests go through the HR portal at least two weeks ahead.",
    "Promoting an adapter. An admin promotes a version with `ratchet adapters promote VERSION`. "
    "The command loads the version into vLLM, checks that it answers, then points production at it.",
    "NFS mounts are configured in /etc/fstab. Run `mount -a` after editing the file to mount everything listed.",
]


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
    quotes = extract("How do I promote a new adapter version?", CHUNKS, embedder, max_chars=600, min_relevance=0.35)
    assert quotes and all(q.source == 1 for q in quotes)
    assert any("ratchet adapters promote VERSION" in q.text for q in quotes)
    assert sum(len(q.text) for q in quotes) <= 600


def test_extract_quotes_nothing_for_a_question_the_documents_do_not_answer(embedder) -> None:
    assert extract("What is the capital of Australia?", CHUNKS, embedder, max_chars=600, min_relevance=0.35) == []
