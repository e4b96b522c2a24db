"""Sign-in, sessions, request ids and /metrics over real HTTP (no browser)."""

from __future__ import annotations

import httpx
import pytest

from bot.admin_web import auth
from tests.admin.conftest import ADMIN_TOKEN

PAGES = ["/", "/feedback", "/knowledge", "/guardrails"]


def signed_in(admin_url: str) -> httpx.Client:
    client = httpx.Client(base_url=admin_url, follow_redirects=False)
    resp = client.post("/login", data={"token": ADMIN_TOKEN})
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    return client


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_visible_without_signing_in(admin_url: str, path: str) -> None:
    resp = httpx.get(admin_url + path, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    forged = httpx.get(admin_url + path, cookies={auth.COOKIE_NAME: "9999999999.deadbeef"}, follow_redirects=False)
    assert forged.status_code == 303
    post = httpx.post(admin_url + "/adapters/rollback", follow_redirects=False)
    assert post.status_code == 303 and post.headers["location"] == "/login"


def test_wrong_token_is_refused_with_a_clear_message(admin_url: str) -> None:
    resp = httpx.post(admin_url + "/login", data={"token": "nope"}, follow_redirects=True)
    assert "wrong admin token" in resp.text
    assert auth.COOKIE_NAME not in resp.cookies


def test_sign_in_then_every_page_renders_and_sign_out_ends_it(admin_url: str) -> None:
    client = signed_in(admin_url)
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "Sign out" in resp.text
    assert "No adapter versions yet" in client.get("/").text
    client.post("/logout")
    assert client.get("/").status_code == 303
    client.close()


def test_sessions_expire_and_die_with_a_new_token() -> None:
    cookie = auth.issue_session("tok", lifetime_s=60, now=1000)
    assert auth.session_valid("tok", cookie, now=1059)
    assert not auth.session_valid("tok", cookie, now=1061)
    assert not auth.session_valid("other-token", cookie, now=1001)
    assert not auth.session_valid(None, cookie, now=1001)
    with pytest.raises(auth.AuthError, match="disabled"):
        auth.check_token(None, "anything")


def test_request_id_is_echoed_or_made(admin_url: str) -> None:
    given = httpx.get(admin_url + "/healthz", headers={"x-request-id": "slack-evt-123"})
    assert given.headers["x-request-id"] == "slack-evt-123"
    made = httpx.get(admin_url + "/healthz").headers["x-request-id"]
    assert len(made) == 16 and made != "slack-evt-123"


def test_metrics_endpoint_exposes_every_stage_metric(admin_url: str) -> None:
    resp = httpx.get(admin_url + "/metrics")
    assert resp.status_code == 200
    for name in ("ratchet_answers_total", "ratchet_stage_seconds", "ratchet_ttft_seconds",
                 "ratchet_tokens_per_second", "ratchet_votes_total", "ratchet_refusals_total",
                 "ratchet_training_runs_total", "ratchet_training_seconds", "ratchet_queue_depth"):
        assert f"# TYPE {name}" in resp.text, name
    assert 'ratchet_adapter_in_use{alias="production",version="base"} 1.0' in resp.text
