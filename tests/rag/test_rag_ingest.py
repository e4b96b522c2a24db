"""Ingestion into the real Weaviate: idempotence, replacement, pruning, bad files, all-or-none."""

from __future__ import annotations

from pathlib import Path

from weaviate.classes.query import Filter

from engine.rag import Retriever, ingest_paths
from engine.rag import ingest as ingest_module
from engine.rag.ingest import document_id_for
from engine.rag.weaviate_client import WeaviateStore
from engine.settings import Settings
from tests.rag.helpers import CORPUS, make_pdf, write


def _corpus(root: Path) -> Path:
    for name, text in CORPUS.items():
        write(root, name, text)
    return root


def _stored(settings: Settings, source: Path | None = None, tenant: str | None = None) -> list[dict]:
    store = WeaviateStore(settings.rag)
    try:
        handle = store.chunks(tenant=tenant)
        where = Filter.by_property("source").equal(str(source.resolve())) if source else None
        result = handle.query.fetch_objects(filters=where, limit=1000)
        return [o.properties for o in result.objects]
    finally:
        store.close()


async def _top(settings: Settings, question: str, groups=("public",)) -> list:
    retriever = Retriever(settings)
    try:
        return (await retriever.retrieve(question, groups=list(groups))).chunks
    finally:
        retriever.close()


async def test_reingest_is_idempotent_and_change_replaces_chunks(rag_settings: Settings, tmp_path: Path,
                                                                  monkeypatch) -> None:
    root = _corpus(tmp_path / "kb")
    first = ingest_paths(rag_settings, [root], show_progress=False)
    assert first.counts() == {"added": 4}
    total = len(_stored(rag_settings))
    assert total == first.chunks_written >= 4

    again = ingest_paths(rag_settings, [root], show_progress=False)
    assert again.counts() == {"unchanged": 4} and again.chunks_written == 0
    assert len(_stored(rag_settings)) == total

    # a new reader (loaders or chunker changed) reads every document again, replacing its chunks
    monkeypatch.setattr(ingest_module, "READER_VERSION", ingest_module.READER_VERSION + 1)
    reread = ingest_paths(rag_settings, [root], show_progress=False)
    assert reread.counts() == {"updated": 4} and len(_stored(rag_settings)) == total

    vpn = root / "it" / "vpn.md"
    vpn.write_text("# VPN access\n\n## Client\n\nUse the OpenVPN client with the profile hq-tunnel.ovpn.\n")
    changed = ingest_paths(rag_settings, [root], show_progress=False)
    assert changed.counts() == {"updated": 1, "unchanged": 3}
    chunks = _stored(rag_settings, vpn)
    assert len(chunks) == 1 and "hq-tunnel.ovpn" in chunks[0]["text"]
    assert all("WireGuard" not in c["text"] for c in _stored(rag_settings))  # no stale chunk survives
    top = await _top(rag_settings, "Which VPN client profile do I import?")
    assert top[0].source == str(vpn.resolve()) and "hq-tunnel" in top[0].text


async def test_prune_deletes_vanished_files_only_when_asked(rag_settings: Settings, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "kb")
    other = write(tmp_path / "elsewhere", "note.md", "# Note\n\nThe cafeteria opens at 8 am.\n")
    ingest_paths(rag_settings, [root, other], show_progress=False)
    wifi = root / "office" / "wifi.txt"
    wifi.unlink()

    kept = ingest_paths(rag_settings, [root], show_progress=False)
    assert kept.counts() == {"unchanged": 3} and _stored(rag_settings, wifi)

    pruned = ingest_paths(rag_settings, [root], prune=True, show_progress=False)
    assert [(f.source, f.status) for f in pruned.by_status("deleted")] == [(str(wifi.resolve()), "deleted")]
    assert _stored(rag_settings, wifi) == []
    assert _stored(rag_settings, other)  # outside the pruned folder: untouched
    assert all("Visitors-5G" not in c.text for c in await _top(rag_settings, "guest wifi password"))


def test_bad_files_are_skipped_and_the_run_continues(rag_settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    good = write(root, "good.md", "# Parking\n\nParking permits are renewed every January.\n")
    write(root, "empty.md", "")
    (root / "junk.txt").write_bytes(bytes(range(256)) * 64)
    make_pdf(root / "locked.pdf", ["Salaries 2026"], password="hunter2")
    pdf = make_pdf(root / "bikes.pdf", ["Bicycles can be stored in the basement of building C."])
    with (root / "huge.txt").open("wb") as handle:
        handle.truncate(int(rag_settings.rag.max_file_mb * 1024 * 1024) + 1)
    summary = ingest_paths(rag_settings, [root, tmp_path / "missing.md"], show_progress=False)

    reasons = {Path(f.source).name: f.message for f in summary.files if f.status in ("skipped", "failed")}
    assert set(reasons) == {"empty.md", "junk.txt", "locked.pdf", "huge.txt", "missing.md"}
    assert "empty" in reasons["empty.md"] and "binary" in reasons["junk.txt"]
    assert "encrypted" in reasons["locked.pdf"] and "too large" in reasons["huge.txt"]
    assert "no such file" in reasons["missing.md"]
    assert {Path(f.source).name for f in summary.by_status("added")} == {"good.md", "bikes.pdf"}
    assert {c["source"] for c in _stored(rag_settings)} == {str(good.resolve()), str(pdf.resolve())}


def test_acl_and_metadata_are_stored(rag_settings: Settings, tmp_path: Path) -> None:
    doc = write(tmp_path, "pay.md", "# Payroll\n\n## Dates\n\nSalaries are paid on the 25th.\n")
    ingest_paths(rag_settings, [doc], acl=["hr", "finance", "hr"], show_progress=False)
    public = write(tmp_path, "lunch.md", "# Lunch\n\nLunch is served at noon.\n")
    ingest_paths(rag_settings, [public], show_progress=False)
    [chunk] = _stored(rag_settings, doc)
    assert chunk["groups"] == ["finance", "hr"] and chunk["heading"] == "Payroll > Dates"
    assert chunk["document_id"] == document_id_for(str(doc.resolve())) and chunk["title"] == "Payroll"
    assert _stored(rag_settings, public)[0]["groups"] == ["public"]  # default ACL

    regrouped = ingest_paths(rag_settings, [doc], acl=["hr"], show_progress=False)
    assert regrouped.counts() == {"updated": 1}  # an ACL change is a new version
    assert [c["groups"] for c in _stored(rag_settings, doc)] == [["hr"]]


def test_urls_are_ingested_and_bad_urls_reported(rag_settings: Settings, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    write(site, "policy.html", CORPUS["finance/expenses.html"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        summary = ingest_paths(rag_settings, [f"{base}/policy.html", f"{base}/missing.html"], show_progress=False)
    finally:
        server.shutdown()
        server.server_close()
    outcomes = {f.source: f for f in summary.files}
    assert outcomes[f"{base}/policy.html"].status == "added"
    assert outcomes[f"{base}/missing.html"].status == "skipped"
    assert "404" in outcomes[f"{base}/missing.html"].message
    chunks = _stored(rag_settings)
    assert {c["source"] for c in chunks} == {f"{base}/policy.html"}
    assert {c["heading"] for c in chunks} == {"Expense reports > Deadlines", "Expense reports > Meals"}
