"""Which held-out prompts the gate generates from: spread over the whole list, identified exactly."""

from __future__ import annotations

from feedback.gate import items_id, spread
from feedback.quality_eval import EvalItem


def _items(n: int, unanswerable_from: int) -> list[EvalItem]:
    return [EvalItem(prompt=[{"role": "user", "content": f"question {i}"}], sources=["s"],
                     answerable=i < unanswerable_from) for i in range(n)]


def test_the_sample_reaches_the_end_of_the_list() -> None:
    # a question set lists its unanswerable questions last: a prefix of 48 of 64 never judged refusals
    items = _items(64, unanswerable_from=56)
    sample = spread(items, 48)
    assert len(sample) == 48 and len({id(i) for i in sample}) == 48
    assert sample[0] is items[0] and sample[-1] is items[-1]
    assert sum(not i.answerable for i in sample) >= 5
    assert spread(items, 100) == items and spread(items, 1) == items[:1]


def test_items_id_names_exactly_the_prompts() -> None:
    items = _items(10, unanswerable_from=10)
    assert items_id(items) == items_id(list(items))
    assert items_id(items) != items_id(items[:9]) != items_id(spread(items, 9))
