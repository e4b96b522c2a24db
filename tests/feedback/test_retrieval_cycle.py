"""The whole retrieval learning cycle on a small corpus: simulated votes → retrieval data → trained embedder and
reranker → gate (the shuffled-positives pair rejected) → promotion with a re-embed under search load (0 failed
queries) → the retriever serves the trained models.

The corpus is a team's internal tools known by code names: each page describes its tool without ever naming what
employees ask about ("Heron" is the payroll system, the page never says "payroll"), so the packaged model and BM25
rarely find the right page, and the votes teach the association. The figures are held-out questions of the
feedback split (never trained on)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from engine.rag import collections, ingest_paths
from engine.rag.live import Pin
from engine.rag.weaviate_client import WeaviateStore
from engine.retrieval_registry import RetrievalRegistry
from engine.settings import Settings
from feedback.answer_quality import ReferenceQuestion
from feedback.datasets import heldout_split
from feedback.retrieval_bench import SearchLoad, simulate_votes
from feedback.retrieval_data import build_retrieval_data
from feedback.retrieval_gate import heldout_questions, measure
from feedback.retrieval_jobs import train_and_gate
from feedback.store import FeedbackStore, question_key

TOOLS = {
    "heron": ("Heron runs on the 25th of each month. Changes reach it through Dana Weiss before the 20th; Heron "
              "statements stay in the portal for ten years.",
              ["When is payroll run?", "Who do I tell about a salary change?", "Where are my old payslips?",
               "When is my salary paid?"]),
    "quokka": ("Quokka keeps one entry per device with its serial number and owner. Broken units go to the desk on "
               "floor two; replacements ship within three days.",
               ["My laptop screen is cracked, what do I do?", "How fast do I get a replacement laptop?",
                "Where do I bring a broken computer?", "Who owns which notebook computer?"]),
    "marmot": ("Marmot books seats on trains and planes. Bookings above 800 euros need a second approval; hotel "
               "nights are added in the same Marmot trip.",
               ["How do I book a flight for a business trip?", "Can I book a train to a customer visit?",
                "Who approves expensive travel?", "Where do I add a hotel to my trip?"]),
    "ibis": ("Ibis hands out stickers for the underground garage. A sticker is valid for one licence plate; lost "
             "stickers cost 15 euros.",
             ["How do I get a parking permit?", "Can I park my car in the garage?",
              "I lost my parking sticker, what now?", "Is the car park permit tied to my plate?"]),
    "lynx": ("Lynx resets passwords after a check of your phone number. Accounts lock after five wrong attempts "
             "and unlock after thirty minutes.",
             ["I forgot my password, how do I reset it?", "My account is locked, what can I do?",
              "How many login attempts before lockout?", "Who can unlock my login?"]),
    "otter": ("Otter lists the meals of the canteen for the week. Vegetarian dishes are marked green; the kitchen "
              "closes at 14:30.",
              ["What is for lunch today?", "Is there a vegetarian meal at the cafeteria?",
               "Until when can I get food at the canteen?", "Where is the lunch menu?"]),
    "gecko": ("Gecko records days away from work. Requests need two weeks of notice; unused days move to March of "
              "the next year.",
              ["How do I request vacation?", "Can I carry over holiday days?",
               "How early must I ask for time off?", "Where do I enter my leave?"]),
    "walrus": ("Walrus collects receipts. Submit them within thirty days; team dinners are refunded up to 45 "
               "euros per person.",
               ["How do I get money back for a purchase?", "What is the limit for a team dinner?",
                "How long do I have to file an expense?", "Where do I upload receipts?"]),
}


def _corpus(root):
    questions = []
    for name, (text, asked) in TOOLS.items():
        (root / f"{name}.md").write_text(f"# {name.title()}\n\n## About {name.title()}\n\n{text}\n", encoding="utf-8")
        questions += [ReferenceQuestion(id=f"{name}-{i}", question=q, kind="paraphrased", source=f"{name}.md",
                                        facts=[], split="train", evidence=[text[:30]]) for i, q in enumerate(asked)]
    return questions


@pytest.fixture
def cycle_settings(weaviate_endpoint: dict, tmp_path) -> Settings:
    """The session's Weaviate, a collection of this test's own, small and fast training settings."""
    return Settings(data_dir=tmp_path / "data", rag={
        "weaviate_url": weaviate_endpoint["url"], "weaviate_grpc_port": weaviate_endpoint["grpc_port"],
        "collection": f"TestCycle{uuid.uuid4().hex[:8]}", "models_refresh_s": 0.2, "cache_enabled": False,
        "max_chunks_per_document": 1, "top_k": 2,  # the bot shows two sources: a miss is a 👎
    }, feedback={"heldout_fraction": 0.25, "retrieval": {
        "epochs": 4, "batch_size": 8, "max_seq_length": 64, "learning_rate": 1e-4, "reranker_learning_rate": 1e-4,
        "min_train_questions": 4, "gate_min_heldout": 3, "gate_min_recall_gain": 0.0, "gate_min_mrr_gain": 0.05}})


def test_votes_train_retrieval_the_gate_rejects_shuffled_and_the_swap_loses_no_query(cycle_settings, tmp_path):
    settings = cycle_settings
    docs = tmp_path / "docs"
    docs.mkdir()
    questions = _corpus(docs)
    heldout = [q for q in questions if heldout_split(question_key(q.question), settings) == "heldout"]
    assert 4 <= len(heldout) <= 14  # the split is a stable hash of each question
    tenant = settings.rag.default_tenant
    store = WeaviateStore(settings.rag)
    started = time.perf_counter()
    try:
        ingest_paths(settings, [docs], store=store, show_progress=False)
        feedback = FeedbackStore(settings)
        votes = asyncio.run(simulate_votes(settings, store, feedback, questions, docs, tenant))
        assert votes["down"] == votes["corrections"] > 0  # the packaged model misses pages: corrections teach
        data = build_retrieval_data(feedback, store)
        assert data.stats()["questions_with_positives"]["train"] >= 20 and not data.dropped.get("chunk_gone")

        registry = RetrievalRegistry(settings)
        trained = {o.kind: o for o in train_and_gate(settings, data, store=store, registry=registry, notes="test")}
        shuffled = train_and_gate(settings, data.shuffled(), store=store, registry=registry, notes="shuffled")
        assert [o.gate["passed"] for o in shuffled] == [False, False]
        for kind, outcome in trained.items():
            version = registry.get(outcome.version_id)
            assert version.dataset_snapshot_id == data.snapshot_id and version.metrics["steps"] > 0
            assert version.hyperparameters["dataset"]["heldout_example_ids"], kind
        embedder = trained["embedder"].gate
        assert embedder["passed"], embedder  # held-out recall@5 and MRR above production by the margins
        before = measure(settings, store, heldout_questions(data), pin=Pin())

        with SearchLoad(settings, heldout_questions(data), tenant) as load:
            time.sleep(0.5)
            registry.promote(trained["embedder"].version_id, store=store)
            if trained["reranker"].gate["passed"]:
                registry.promote(trained["reranker"].version_id)
            time.sleep(1.0)
        assert load.failures == [] and load.latencies_ms
        assert collections.resolve(store, settings.rag.collection) == embedder["collection"]
        after = measure(settings, store, heldout_questions(data), pin=Pin())
        assert after["mrr"] > before["mrr"] and after["recall_at_5"] >= before["recall_at_5"]
    finally:
        for c in collections.physical_collections(store, settings.rag.collection):
            store.drop(c.name)
        if store.client.alias.exists(alias_name=collections.alias_name(settings.rag.collection)):
            store.client.alias.delete(alias_name=collections.alias_name(settings.rag.collection))
        store.close()
    assert time.perf_counter() - started < 600
