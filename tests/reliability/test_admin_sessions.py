"""Admin page: sign-out ends the session on the server (a copied cookie stops working), and failed sign-ins
lock the client out for a while — on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import httpx

from bot.admin_web import auth
from bot.testing.admin_server import serve_admin_page

TOKEN = "reliability-admin-token-42"


def _sign_in(url: str, token: str = TOKEN) -> httpx.Response:
    return httpx.post(url + "/login", data={"token": token}, follow_redirects=False)


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(db_settings) -> None:
    with serve_admin_page(db_settings(admin={"admin_token": TOKEN})) as url:
        cookie = _sign_in(url).cookies[auth.COOKIE_NAME]
        copied = {auth.COOKIE_NAME: cookie}
        assert httpx.get(url + "/feedback", cookies=copied, follow_redirects=False).status_code == 200
        assert httpx.post(url + "/logout", cookies=copied, follow_redirects=False).status_code == 303
        after = httpx.get(url + "/feedback", cookies=copied, follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"] == "/login", "the session outlived sign-out"
        fresh = _sign_in(url).cookies[auth.COOKIE_NAME]  # signing in again opens a new session
        assert httpx.get(url + "/feedback", cookies={auth.COOKIE_NAME: fresh}).status_code == 200


def test_repeated_failed_sign_ins_lock_the_client_out_even_with_the_right_token(db_settings) -> None:
    settings = db_settings(admin={"admin_token": TOKEN, "sign_in_max_failures": 3, "sign_in_window_s": 600})
    with serve_admin_page(settings) as url:
        assert auth.COOKIE_NAME in _sign_in(url).cookies
        for guess in ("a", "b", "c"):
            refused = _sign_in(url, guess)
            assert refused.status_code == 303 and auth.COOKIE_NAME not in refused.cookies
        locked = _sign_in(url)
        assert locked.status_code == 429 and auth.COOKIE_NAME not in locked.cookies
        assert "Too many failed sign-ins" in locked.text
