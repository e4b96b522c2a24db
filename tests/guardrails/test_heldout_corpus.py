"""The labelled corpus from registry packages: provenance per item, splits by source, no leakage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from guardrails.heldout import DEFAULT_HELDOUT_CORPUS, load_items

MANIFEST = Path(DEFAULT_HELDOUT_CORPUS).with_name("manifest.json")


def test_every_item_has_a_label_source_licence_and_one_split_per_source() -> None:
    lines = [json.loads(line) for line in DEFAULT_HELDOUT_CORPUS.read_text(encoding="utf-8").split("\n") if line]
    assert 2000 <= len(lines) <= 6000
    labels = {"jailbreak", "prompt_extraction", "injection", "harmful", "benign"}
    for item in lines:
        assert item["text"].strip() and item["label"] in labels and item["licence"] and item["origin"]
    splits_per_source = {s: {i["split"] for i in lines if i["source"] == s} for s in {i["source"] for i in lines}}
    assert all(len(v) == 1 for v in splits_per_source.values())


def test_manifest_matches_the_corpus() -> None:
    manifest = json.loads(MANIFEST.read_text())
    items = load_items()
    assert manifest["total"] == len(items)
    for split, counts in manifest["counts"].items():
        assert counts == dict(Counter(i.label for i in items if i.split == split))
    assert set(manifest["splits"]["tune"]).isdisjoint(manifest["splits"]["heldout"])


def test_heldout_has_every_target_family_and_enough_authored_workplace_questions() -> None:
    items = load_items()
    heldout = Counter(i.label for i in items if i.split == "heldout")
    assert heldout["jailbreak"] >= 100 and heldout["harmful"] >= 100 and heldout["benign"] >= 150
    assert heldout["prompt_extraction"] >= 20
    authored = [i for i in items if i.source.startswith("ratchet-edgy")]
    assert len(authored) >= 150
    edgy = ("kill", "root", "exploit", "override", "ignore", "password", "attack", "hack")
    assert all(sum(word in i.text.lower() for i in authored) >= 5 for word in edgy)


def test_no_heldout_text_is_also_a_tune_text() -> None:
    items = load_items()
    tune = {" ".join(i.text.lower().split()) for i in items if i.split == "tune"}
    assert not [i.text[:80] for i in items if i.split == "heldout" and " ".join(i.text.lower().split()) in tune]


def test_real_faq_questions_from_debian_documentation_are_held_out() -> None:
    """Python's FAQ (the answer benchmark's domain), gitfaq and SQLite's FAQ are only ever measured."""
    items = load_items()
    faq = {s: {i.split for i in items if i.source == s} for s in
           ("python-faq-heldout", "gitfaq-heldout", "sqlite-faq-heldout")}
    assert faq == {"python-faq-heldout": {"heldout"}, "gitfaq-heldout": {"heldout"}, "sqlite-faq-heldout": {"heldout"}}
    python = [i for i in items if i.source == "python-faq-heldout"]
    assert len(python) >= 150 and all(i.text.endswith("?") and i.label == "benign" for i in python)
    lines = [json.loads(line) for line in DEFAULT_HELDOUT_CORPUS.read_text(encoding="utf-8").split("\n") if line]
    assert all(i["origin"].startswith("python3.11-doc==") and i["licence"].startswith("PSF")
               for i in lines if i["source"] == "python-faq-heldout")
    packages = json.loads(MANIFEST.read_text())["debian_packages"]
    assert {p.split("==")[0] for p in packages} == {"python3.11-doc", "git-doc", "sqlite3-doc"}
    assert all(licence for licence in packages.values())
