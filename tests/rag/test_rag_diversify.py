"""The per-document cap applied to a reranked list (no services)."""

from __future__ import annotations

from engine.rag.rerank import diversify


def test_at_most_n_per_document_first_then_the_rest_in_order() -> None:
    ranked = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("a", 4), ("c", 1), ("b", 2), ("b", 3)]
    out = diversify(ranked, lambda item: item[0], 2)
    assert out == [("a", 1), ("a", 2), ("b", 1), ("c", 1), ("b", 2), ("a", 3), ("a", 4), ("b", 3)]
    assert out[:5] != ranked[:5] and sorted(out) == sorted(ranked)  # reordered, nothing dropped


def test_cap_zero_keeps_the_ranking() -> None:
    ranked = ["x", "x", "x", "y"]
    assert diversify(ranked, lambda item: item, 0) == ranked
    assert diversify([], lambda item: item, 2) == []
