"""Preference data built from the feedback store: DPO pairs and KTO examples in TRL's formats.

See DATASETS.md next to this file for the formats and the rules (labels, pairs, dedupe, split).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.logs import get_logger
from feedback.models import Answer

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.store import FeedbackStore

log = get_logger(__name__)

FORMATS = ("dpo", "kto")
SPLITS = ("train", "heldout", "all")


@dataclass(frozen=True)
class DpoPair:
    """One preference: the same prompt answered two ways, one preferred."""

    id: str
    kind: str  # same_question | thread_correction | admin_correction | regenerated | grounded_over_model | automatic
    question_key: str
    prompt: list[dict]
    chosen: str
    rejected: str
    chosen_id: str
    rejected_id: str
    weight: float = 1.0  # loss weight in training: human pairs 1, automatic pairs less (feedback.auto_pairs.weight)

    def trl_row(self) -> dict[str, Any]:
        """TRL's conversational preference format."""
        return {"prompt": self.prompt, "chosen": [{"role": "assistant", "content": self.chosen}],
                "rejected": [{"role": "assistant", "content": self.rejected}]}


@dataclass(frozen=True)
class KtoExample:
    """One answer with a thumbs label (unpaired)."""

    id: str
    question_key: str
    prompt: list[dict]
    completion: str
    label: bool

    def trl_row(self) -> dict[str, Any]:
        """TRL's conversational unpaired preference format."""
        return {"prompt": self.prompt, "completion": [{"role": "assistant", "content": self.completion}],
                "label": self.label}


@dataclass
class PreferenceData:
    """Everything the trainer and the gate need, split by question."""

    pairs: dict[str, list[DpoPair]]  # split -> pairs
    kto: dict[str, list[KtoExample]]
    dropped: dict[str, int] = field(default_factory=dict)
    automatic: dict[str, Any] = field(default_factory=dict)  # what adding automatic pairs did (feedback.auto_pairs)

    @property
    def snapshot_id(self) -> str:
        """A stable id of exactly these examples (changes when any example changes)."""
        ids = sorted(p.id for v in self.pairs.values() for p in v) + sorted(
            k.id for v in self.kto.values() for k in v)
        return "ds-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]

    def example_ids(self, fmt: str, split: str) -> list[str]:
        """Ids of the examples of one format and split."""
        return [e.id for e in self.rows(fmt, split)]

    def rows(self, fmt: str, split: str) -> list[DpoPair] | list[KtoExample]:
        """Examples of one format ('dpo'/'kto') and split ('train'/'heldout'/'all')."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        source = self.pairs if fmt == "dpo" else self.kto
        return source["train"] + source["heldout"] if split == "all" else source[split]

    def kto_class_weights(self) -> tuple[float, float]:
        """(desirable_weight, undesirable_weight) that balance 👍 and 👎 in the KTO training split."""
        pos = sum(1 for k in self.kto["train"] if k.label)
        neg = len(self.kto["train"]) - pos
        if not pos or not neg:
            return 1.0, 1.0
        return (neg / pos, 1.0) if neg > pos else (1.0, pos / neg)

    def flipped(self) -> PreferenceData:
        """The same examples with every preference reversed (chosen ↔ rejected, 👍 ↔ 👎): what votes from
        users who reward the wrong answers would give. The gate must reject what this trains."""
        def swap(p: DpoPair) -> DpoPair:
            return replace(p, id=p.id + "-flipped", chosen=p.rejected, rejected=p.chosen, chosen_id=p.rejected_id,
                           rejected_id=p.chosen_id)

        return PreferenceData(
            pairs={split: [swap(p) for p in rows] for split, rows in self.pairs.items()},
            kto={split: [replace(k, id=k.id + "-flipped", label=not k.label) for k in rows]
                 for split, rows in self.kto.items()},
            dropped=dict(self.dropped), automatic=dict(self.automatic))

    def pair_kinds(self, *splits: str) -> dict[str, int]:
        """Pairs per kind in the given splits (default: train and held-out)."""
        kinds: dict[str, int] = defaultdict(int)
        for split in splits or ("train", "heldout"):
            for p in self.pairs[split]:
                kinds[p.kind] += 1
        return dict(kinds)

    def stats(self) -> dict[str, Any]:
        """Counts for `ratchet feedback stats`."""
        return {
            "snapshot_id": self.snapshot_id,
            "dpo_pairs": {s: len(self.pairs[s]) for s in ("train", "heldout")},
            "dpo_pair_kinds": self.pair_kinds(),
            "kto_examples": {s: len(self.kto[s]) for s in ("train", "heldout")},
            "kto_desirable": sum(1 for s in ("train", "heldout") for k in self.kto[s] if k.label),
            "kto_class_weights": self.kto_class_weights(),
            "dropped": dict(self.dropped),
            **({"automatic": dict(self.automatic)} if self.automatic else {}),
        }


def heldout_split(question_key: str, settings: Settings) -> str:
    """'heldout' or 'train' for a question: a stable hash, so a question never changes side."""
    digest = hashlib.sha256(f"{settings.feedback.split_salt}:{question_key}".encode()).hexdigest()
    return "heldout" if int(digest[:8], 16) / 0xFFFFFFFF < settings.feedback.heldout_fraction else "train"


def build_preference_data(store: FeedbackStore) -> PreferenceData:
    """Read every voted answer and turn it into split DPO pairs and KTO examples."""
    settings = store.settings
    dropped: dict[str, int] = defaultdict(int)
    labels = human_labels(store, dropped)
    pairs = _dedupe_pairs(_pairs(labels, store), settings.feedback.max_examples_per_question, dropped)
    kto = _kto(labels, settings.feedback.max_examples_per_question)
    data = PreferenceData(pairs=_split(pairs, settings), kto=_split(kto, settings), dropped=dict(dropped))
    log.info("feedback.dataset_built", **{k: v for k, v in data.stats().items() if k != "dropped"})
    return data


def export_jsonl(data: PreferenceData, fmt: str, split: str, out: Path) -> int:
    """Write one split in TRL's JSONL format (atomically). Returns the number of rows."""
    rows = data.rows(fmt, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row.trl_row(), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(rows)


def human_labels(store: FeedbackStore, dropped: dict[str, int] | None = None) -> dict[str, tuple[Answer, int]]:
    """answer id -> (answer, +1/-1) from the current votes, after every drop rule (counted into ``dropped``)."""
    dropped = dropped if dropped is not None else defaultdict(int)
    labels = _labels(store.labelled_answers(), store.settings.feedback.contradiction_majority, dropped)
    _drop_contradictions(labels, dropped)
    return labels


def unusable_reason(answer: Answer) -> str | None:
    """Why an answer can never be a training example ('refusal', 'no_prompt'), or None when it can."""
    if answer.refused:
        return "refusal"
    if not answer.prompt or (answer.sampling or {}).get("cached"):
        return "no_prompt"  # a cached answer: the model wrote nothing for it, nothing to learn
    return None


# --- building blocks ---------------------------------------------------------------------------------------
def _labels(labelled: list[tuple[Answer, dict[str, int]]], majority: float,
            dropped: dict[str, int]) -> dict[str, tuple[Answer, int]]:
    """answer id -> (answer, +1/-1); ties and split votes below the majority share are dropped."""
    out: dict[str, tuple[Answer, int]] = {}
    for answer, votes in labelled:
        up = sum(1 for v in votes.values() if v > 0)
        down = len(votes) - up
        if up == down:
            dropped["tie"] += 1
        elif max(up, down) / (up + down) < majority:
            dropped["contradictory_votes"] += 1
        elif reason := unusable_reason(answer):
            dropped[reason] += 1
        else:
            out[answer.id] = (answer, 1 if up > down else -1)
    return out


def _answer_key(answer: Answer) -> tuple[str, str]:
    return answer.question_key, re.sub(r"\s+", " ", answer.answer.strip().lower())


def _drop_contradictions(labels: dict[str, tuple[Answer, int]], dropped: dict[str, int]) -> None:
    """The same answer to the same question liked in one place and disliked in another: drop it."""
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)
    for answer, label in labels.values():
        seen[_answer_key(answer)].add(label)
    for aid in [aid for aid, (a, _) in labels.items() if len(seen[_answer_key(a)]) > 1]:
        del labels[aid]
        dropped["contradictory_answers"] += 1


def _pair(kind: str, prompt_from: Answer, chosen: Answer, rejected: Answer) -> DpoPair:
    pid = "p-" + hashlib.sha256(f"{chosen.id}>{rejected.id}".encode()).hexdigest()[:16]
    return DpoPair(id=pid, kind=kind, question_key=prompt_from.question_key, prompt=prompt_from.prompt,
                   chosen=chosen.answer, rejected=rejected.answer, chosen_id=chosen.id, rejected_id=rejected.id)


def _pairs(labels: dict[str, tuple[Answer, int]], store: FeedbackStore) -> list[DpoPair]:
    """Pairs, most trustworthy first: corrections and picks, then thread corrections, then same question."""
    good = {aid: a for aid, (a, lab) in labels.items() if lab > 0}
    bad = {aid: a for aid, (a, lab) in labels.items() if lab < 0}
    pairs: list[DpoPair] = []
    for a in good.values():
        if a.correction_of:
            original = bad.get(a.correction_of) or _get_or_none(store, a.correction_of)
            if original is not None and labels.get(original.id, (None, -1))[1] < 0:
                pairs.append(_pair("admin_correction", original, a, original))
        elif a.alternative_of and a.alternative_of in bad:
            pairs.append(_pair("regenerated", bad[a.alternative_of], a, bad[a.alternative_of]))
    for b in bad.values():
        if b.alternative_of and b.alternative_of in good:
            pairs.append(_pair("regenerated", b, good[b.alternative_of], b))
    for a in good.values():
        grounded = grounded_pair(a)
        if grounded is not None:
            pairs.append(grounded)
    by_thread: dict[tuple[str, str], list[Answer]] = defaultdict(list)
    for a in good.values():
        if a.channel and a.thread_ts and not a.correction_of:
            by_thread[(a.channel, a.thread_ts)].append(a)
    by_question: dict[str, list[Answer]] = defaultdict(list)
    for a in good.values():
        by_question[a.question_key].append(a)
    for b in bad.values():
        later = [a for a in by_thread.get((b.channel, b.thread_ts), []) if a.created_at > b.created_at]
        if later:
            pairs.append(_pair("thread_correction", b, later[0], b))
        candidates = [a for a in by_question.get(b.question_key, []) if a.id not in {p.chosen_id for p in pairs}]
        if candidates:
            pairs.append(_pair("same_question", b, candidates[-1], b))
    return pairs


def grounded_completion(answer: Answer) -> str | None:
    """The sentences a liked answer showed, each cited with the prompt's own source number (``… [2]``)."""
    sentences = ((answer.guardrails or {}).get("grounding") or {}).get("sentences") or []
    parts = [f"{s['text'].strip()} [{s['source'] + 1}]" for s in sentences
             if s.get("text") and isinstance(s.get("source"), int)]
    return " ".join(parts) or None


def grounded_pair(answer: Answer) -> DpoPair | None:
    """A liked answer the grounding rails rewrote: its supported, cited sentences are preferred over what the
    model wrote for the same prompt (the model's text was hidden because the documents did not back it)."""
    rails = answer.guardrails or {}
    grounding = rails.get("grounding") or {}
    model_text = (rails.get("model_text") or "").strip()
    chosen = grounded_completion(answer)
    rewritten = grounding.get("answer") == "extractive" or grounding.get("held_back", 0) > 0
    if not (model_text and chosen and answer.prompt and rewritten) or chosen == model_text:
        return None
    pid = "p-" + hashlib.sha256(f"{answer.id}>grounded".encode()).hexdigest()[:16]
    return DpoPair(id=pid, kind="grounded_over_model", question_key=answer.question_key, prompt=answer.prompt,
                   chosen=chosen, rejected=model_text, chosen_id=answer.id, rejected_id=answer.id + ":model")


def _get_or_none(store: FeedbackStore, answer_id: str) -> Answer | None:
    from feedback.store import UnknownAnswer

    try:
        return store.get(answer_id)
    except UnknownAnswer:
        return None


def _dedupe_pairs(pairs: list[DpoPair], per_question: int, dropped: dict[str, int]) -> list[DpoPair]:
    """At most ``per_question`` pairs per question (first = most trustworthy), no repeated texts."""
    kept: list[DpoPair] = []
    count: dict[str, int] = defaultdict(int)
    texts: set[tuple[str, str, str]] = set()
    for p in pairs:
        key = (p.question_key, p.chosen.strip(), p.rejected.strip())
        if key in texts or count[p.question_key] >= per_question or p.chosen.strip() == p.rejected.strip():
            dropped["duplicate_pairs"] += 1
            continue
        texts.add(key)
        count[p.question_key] += 1
        kept.append(p)
    return kept


def _kto(labels: dict[str, tuple[Answer, int]], per_question: int) -> list[KtoExample]:
    """The newest ``per_question`` answers per question and label, as unpaired examples."""
    groups: dict[tuple[str, int], list[Answer]] = defaultdict(list)
    for answer, label in labels.values():
        groups[(answer.question_key, label)].append(answer)
    out = []
    for (qkey, label), answers in groups.items():
        for a in sorted(answers, key=lambda a: a.created_at)[-per_question:]:
            completion = (grounded_completion(a) if label > 0 else None) or a.answer
            out.append(KtoExample(id="k-" + a.id, question_key=qkey, prompt=a.prompt, completion=completion,
                                  label=label > 0))
    return sorted(out, key=lambda k: k.id)


def _split(examples: list, settings: Settings) -> dict[str, list]:
    out: dict[str, list] = {"train": [], "heldout": []}
    for e in examples:
        out[heldout_split(e.question_key, settings)].append(e)
    return out

