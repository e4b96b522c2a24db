"""`ratchet status` reports the admin page: disabled without a token, healthy when it answers, else a hint."""

from __future__ import annotations

from urllib.parse import urlparse

from engine.process import free_port
from engine.services import status
from tests.admin.conftest import ADMIN_TOKEN


def admin_row(settings):
    return next(row for row in status(settings) if row.name == "admin web")


def test_status_shows_the_admin_page(make_settings, admin_url) -> None:
    running = make_settings(admin={"admin_token": ADMIN_TOKEN, "web_port": urlparse(admin_url).port})
    assert admin_row(running).healthy and admin_row(running).detail.endswith("/healthz")
    stopped = make_settings(admin={"admin_token": ADMIN_TOKEN, "web_port": free_port()})
    row = admin_row(stopped)
    assert not row.healthy and "ratchet admin" in row.detail
    disabled = admin_row(make_settings())
    assert disabled.healthy and "disabled" in disabled.detail
