"""The admin page in a real headless Chromium against the real vLLM: sign in, versions, promote, roll back."""

from __future__ import annotations

from pathlib import Path

from engine.llm_client import LLMClient
from engine.registry import AdapterRegistry
from feedback import AnswerRecord, FeedbackStore
from guardrails.refusals import save_refusal
from tests.admin.conftest import ADMIN_TOKEN, ARTIFACTS


async def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, f"screenshot {name} looks empty"
    return path


def record_votes(settings, version: str | None, ups: int, downs: int, channel: str) -> None:
    """Answers by ``version`` with ``ups`` 👍 and ``downs`` 👎 (one vote per answer)."""
    store = FeedbackStore(settings)
    for n in range(ups + downs):
        answer_id = store.record_answer(AnswerRecord(
            question=f"How do I file expenses? ({n})", standalone_query=None, history=[], chunk_ids=[f"doc-{n}#0"],
            chunk_hashes=["h"], prompt=[{"role": "user", "content": "q"}], answer=f"Use the portal ({n}).",
            adapter_version=version, alias="production", sampling={}, guardrails={}, timings_ms={},
            source="slack", channel=channel, user=f"U{n}"))
        store.record_vote(answer_id, f"U{n}", 1 if n < ups else -1, "slack")


async def served_adapters(settings) -> set[str]:
    async with LLMClient.from_settings(settings.engine) as client:
        return set(await client.served())


async def test_sign_in_promote_and_roll_back_in_chromium(admin_settings, admin_url, admin_adapters,
                                                         kb_collection, browser_page) -> None:
    page = browser_page
    registry = AdapterRegistry(admin_settings)
    v1 = registry.register(admin_adapters[0])
    v2 = registry.register(admin_adapters[1], parent_version=v1.id, dataset_snapshot_id="snap-7")
    registry.set_gate_report(v1.id, {"passed": True, "checks": []})
    registry.set_gate_report(v2.id, {"passed": False, "reward_accuracy": 0.41})
    record_votes(admin_settings, None, ups=3, downs=1, channel="C-general")
    record_votes(admin_settings, v1.id, ups=1, downs=2, channel="C-help")

    await page.goto(admin_url + "/")
    assert page.url.endswith("/login"), "unauthenticated visitors land on the sign-in form"
    assert await page.locator("#versions").count() == 0
    await page.fill("input[name=token]", "wrong")
    await page.click("button[type=submit]")
    assert "wrong admin token" in await page.locator(".error").inner_text()
    await shot(page, "01-sign-in-refused")

    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#versions")
    for v in (v1, v2):
        assert await page.locator(f"tr[data-version='{v.id}'] .status").inner_text() == "candidate"
    v2_row = page.locator(f"tr[data-version='{v2.id}']")
    assert f"{v2.id} ← {v1.id}" in await v2_row.locator(".lineage").inner_text()
    assert "snap-7" in await v2_row.inner_text()
    await v2_row.locator(".gate summary").click()
    assert "reward_accuracy" in await v2_row.locator(".gate pre").inner_text()
    assert await page.locator("#rate svg circle").count() == 2, "today's 👍 rate: one point per version"
    legend = await page.locator("#rate svg .legend").all_text_contents()
    assert legend == ["base (production)", v1.id]
    await shot(page, "02-versions")

    await page.click(f"tr[data-version='{v2.id}'] button[data-action=promote]")
    assert "failed its evaluation gate" in await page.locator(".error").inner_text()
    assert registry.aliases()["production"][0] is None, "a refused promotion changes nothing"
    for v in (v1, v2):
        row = f"tr[data-version='{v.id}']"
        if v is v2:
            await page.check(f"{row} form[action='/adapters/promote'] input[name=force]")
        await page.click(f"{row} button[data-action=promote]")
        await page.wait_for_selector(".notice")
        assert f"production is now {v.id}" in await page.locator(".notice").inner_text()
        assert await page.locator("tr[data-alias=production] .alias-version").inner_text() == v.id
    assert registry.route("thread-1").version_id == v2.id
    assert {v1.id, v2.id} <= await served_adapters(admin_settings)
    await shot(page, "03-promoted")

    await page.click("#rollback")
    await page.wait_for_selector(".notice")
    assert f"rolled back to {v1.id}" in await page.locator(".notice").inner_text()
    assert await page.locator(f"tr[data-version='{v1.id}'] .status").inner_text() == "production"
    assert registry.route("thread-1").version_id == v1.id

    await page.fill(f"tr[data-version='{v2.id}'] input[name=percent]", "150")
    await page.click(f"tr[data-version='{v2.id}'] button[data-action=canary]")
    assert "between 0 and 100" in await page.locator(".error").inner_text()
    assert registry.aliases()["canary"] == (None, 0.0), "a refused action changes nothing"
    canary_form = f"tr[data-version='{v2.id}'] form[action='/adapters/canary']"
    await page.fill(f"{canary_form} input[name=percent]", "25")
    await page.check(f"{canary_form} input[name=force]")
    await page.click(f"{canary_form} button[data-action=canary]")
    await page.wait_for_selector(".notice")
    assert registry.aliases()["canary"] == (v2.id, 25.0)
    audit = await page.locator("#audit .audit-row").all_inner_texts()
    assert sum("production.set" in row for row in audit) == 2 and any("production.rollback" in r for r in audit)
    assert any("promote" in row and "\tno\t" in row for row in audit), "the refused promotion is audited"
    await shot(page, "04-rolled-back-and-canary")

    await page.click("text=Feedback")
    await page.wait_for_selector(".answer-row")
    assert await page.locator(".answer-row").count() == 7
    await page.select_option("select[name=channel]", "C-help")
    await page.check("input[name=down]")
    await page.click("#filters button[type=submit]")
    await page.wait_for_load_state()
    rows = page.locator(".answer-row")
    assert await rows.count() == 2, "C-help has two 👎 answers"
    assert "doc-" in await rows.first.inner_text(), "retrieved sources are listed"
    await shot(page, "05-feedback-downvoted")

    await page.click("text=Knowledge base")
    row = page.locator(f"tr[data-collection='{kb_collection[0]}']")
    assert await row.locator(".documents").inner_text() == "3"
    await shot(page, "06-knowledge-base")

    save_refusal(admin_settings.db_url, rail="input.secrets", masked_input="my token is [SECRET]",
                 message="I can't help with that.", user="U1", channel="C-general")
    await page.click("text=Guardrails")
    assert "my token is [SECRET]" in await page.locator(".blocked-row .masked").inner_text()
    assert await page.locator("#refusals svg circle").count() == admin_settings.admin.plot_days
    await shot(page, "07-guardrails")
