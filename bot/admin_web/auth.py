"""Sign-in for the admin page: the configured admin token, then a signed, expiring session cookie.

The cookie holds ``<expiry>.<session id>.<hmac>`` where the HMAC key is derived from the admin token, so
changing the token signs everybody out; the session id names a row of :mod:`bot.admin_web.sessions`, which
sign-out closes on the server. Nothing but the sign-in form and ``/healthz`` is served without a valid cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from engine.errors import RatchetError

COOKIE_NAME = "ratchet_admin"


class AuthError(RatchetError, PermissionError):
    """Sign-in refused (wrong or missing token); the message says what to do."""


def _key(admin_token: str) -> bytes:
    return hashlib.sha256(b"ratchet-admin-session:" + admin_token.encode()).digest()


def _sign(admin_token: str, payload: str) -> str:
    return hmac.new(_key(admin_token), payload.encode(), hashlib.sha256).hexdigest()


def check_token(admin_token: str | None, offered: str) -> None:
    """Raise :class:`AuthError` unless ``offered`` equals the configured token (constant time)."""
    if not admin_token:
        raise AuthError("the admin page is disabled: set admin.admin_token (RATCHET_ADMIN__ADMIN_TOKEN)")
    if not hmac.compare_digest(admin_token.encode(), offered.strip().encode()):
        raise AuthError("wrong admin token")


def issue_session(admin_token: str, lifetime_s: float, now: float | None = None, session_id: str = "") -> str:
    """A cookie value for ``session_id``, valid for ``lifetime_s`` seconds."""
    payload = f"{int((now or time.time()) + lifetime_s)}.{session_id}"
    return f"{payload}.{_sign(admin_token, payload)}"


def session_valid(admin_token: str | None, cookie: str | None, now: float | None = None) -> bool:
    """True if ``cookie`` was issued with the current token and has not expired (the signature only: whether
    the session is still open is the server's :class:`~bot.admin_web.sessions.SessionStore`'s to say)."""
    if not admin_token or not cookie or cookie.count(".") != 2:
        return False
    payload, signature = cookie.rsplit(".", 1)
    expiry = payload.split(".", 1)[0]
    if not expiry.isdigit() or not hmac.compare_digest(signature, _sign(admin_token, payload)):
        return False
    return int(expiry) > (now or time.time())


def session_id(cookie: str) -> str:
    """The session id a (valid) cookie names."""
    return cookie.split(".")[1]
