"""Schemathesis hooks for the fuzz run (test_fuzz.py): who the fuzzer is, and how it writes
the values the document describes but a JSON Schema generator cannot invent.

Loaded by `st run` through SCHEMATHESIS_HOOKS=fuzz_hooks (with this folder on PYTHONPATH);
FUZZ_BASE_URL names the server.

- Every request is authenticated as one registered user (the principal), except those that
  would end that user's session or account (logout, logout-all, DELETE /api/me, a password
  change, revoking a session): each of those gets a user of its own, registered for it, so
  the fuzzer exercises them without logging itself out for the operations after them. Those
  that ask for the password (DELETE /api/me, a password change, an address change) are sent
  with the right one.
- `format: cursor` values are real cursors (base64url of `<sort key>|<id>`, as the server
  writes them); the server answers 400 to anything else, as the document says.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import urllib.request
import uuid

import schemathesis
from hypothesis import strategies as st

BASE = os.environ["FUZZ_BASE_URL"].rstrip("/")
_addresses = itertools.count(1)

# (method, path template) of the operations that end the caller's session or account.
ENDS_THE_SESSION = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/logout-all"),
    ("DELETE", "/api/me"),
    ("POST", "/api/me/password"),
    ("DELETE", "/api/sessions/{id}"),
}


# Operations whose body must hold the caller's password to get past the 401.
PASSWORD_FIELD = {("POST", "/api/me/password"): "current_password", ("DELETE", "/api/me"): "password",
                  ("POST", "/api/me/email"): "password", ("POST", "/api/me/2fa/totp"): "password",
                  ("DELETE", "/api/me/2fa/totp"): "password"}
_passwords: dict[str, str] = {}


def register() -> str:
    """A new user's access token. Each registration comes from its own client address, so the
    per-address registration throttle (which the fuzzer's own register calls may reach) never
    stops the fuzzer from getting a user."""
    n = next(_addresses)
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    password = f"fuzz password for {email}"
    body = {"email": email, "password": password, "name": "Fuzz", "refresh_token_in": "body"}
    req = urllib.request.Request(
        f"{BASE}/api/auth/register", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "cf-connecting-ip": f"10.250.{n // 250 % 250}.{n % 250}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    _passwords[token] = password
    return token


_principal: str | None = None


@schemathesis.auth(refresh_interval=None)
class Principal:
    def get(self, case, ctx):
        global _principal
        if (case.operation.method.upper(), case.operation.path) in ENDS_THE_SESSION:
            return register()
        if _principal is None:
            _principal = register()
        return _principal

    def set(self, case, token, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        # A password change or an account deletion with the right password, so the fuzzer gets
        # past the 401 to the rest of the operation. Only over a generated string: a value of
        # another type is what a negative test is about and stays as it is.
        field = PASSWORD_FIELD.get((case.operation.method.upper(), case.operation.path))
        if field and isinstance(case.body, dict) and isinstance(case.body.get(field), str):
            case.body = {**case.body, field: _passwords[token]}


def _cursor(key: int, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{key}|{ident}".encode()).decode().rstrip("=")


schemathesis.openapi.format(
    "cursor",
    st.builds(_cursor, st.integers(min_value=0, max_value=2**31 - 1),
              st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=30)),
)
