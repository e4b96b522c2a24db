"""The knowledge base page against the real Weaviate: counts, last ingest, stale documents, re-ingest."""

from __future__ import annotations

import os
import re
import time

import httpx
from weaviate.classes.query import Filter

from bot.admin_web.knowledge_data import knowledge_overview
from engine.process import free_port
from engine.rag import WeaviateStore
from tests.admin.conftest import ADMIN_TOKEN


def row_of(html: str, name: str) -> str:
    match = re.search(rf'<tr class="collection-row" data-collection="{name}".*?</tr>', html, re.S)
    assert match, f"collection {name} is not listed"
    return match.group(0)


def test_stale_documents_are_flagged_and_reingest_keeps_groups(admin_settings, kb_collection, admin_url) -> None:
    name, root = kb_collection
    client = httpx.Client(base_url=admin_url, timeout=120)
    client.post("/login", data={"token": ADMIN_TOKEN})
    row = row_of(client.get("/knowledge").text, name)
    assert '<td class="documents">3</td>' in row
    assert time.strftime("%Y-%m-%d", time.gmtime()) in row, "last ingest is today"
    assert '<td class="stale">none</td>' in row

    (root / "docs" / "travel.md").write_text("# Travel\n\nBook trains and flights through the travel desk.\n")
    future = time.time() + 120
    (root / "salaries.md").write_text("# Salaries\n\nSalary bands are reviewed every May.\n")
    os.utime(root / "docs" / "expenses.md", (future, future))  # touched, same bytes: not stale
    stale = row_of(client.get("/knowledge").text, name).split('class="stale"')[1]
    assert "travel.md" in stale and "salaries.md" in stale and "expenses.md" not in stale

    resp = client.post("/knowledge/reingest", data={"collection": name, "tenant": "default"},
                       follow_redirects=True)
    assert "re-ingested" in resp.text and "2 updated" in resp.text and "1 unchanged" in resp.text
    row = row_of(resp.text, name)
    assert '<td class="stale">none</td>' in row and '<td class="documents">3</td>' in row

    store = WeaviateStore(admin_settings.rag)
    try:
        hits = store.chunks(name, "default").query.fetch_objects(
            filters=Filter.by_property("title").equal("Salaries"), limit=5).objects
        assert hits and all(h.properties["groups"] == ["hr"] for h in hits), "re-ingest kept the hr group"
    finally:
        store.close()
    bad = client.post("/knowledge/reingest", data={"collection": "NoSuchKb", "tenant": "default"},
                      follow_redirects=True)
    assert "re-ingest failed" in bad.text
    client.close()


def test_an_unreachable_weaviate_is_shown_as_not_available(make_settings) -> None:
    settings = make_settings(rag={"weaviate_url": f"http://127.0.0.1:{free_port()}",
                                  "weaviate_grpc_port": free_port()})
    overview = knowledge_overview(settings)
    assert overview.section == "knowledge" and "Weaviate cannot be read" in overview.reason
