"""The server the Python tests drive: the mock upstream (target/debug/chatgate-mock) and the
built Worker under `wrangler dev` with fresh state, started once per session and only when
a test asks for it (`server` fixture). `make python` builds the mock first; the Worker must
be built (`bash scripts/build.sh`)."""
from __future__ import annotations

import base64
import contextlib
import itertools
import os
import pathlib
import socket
import sqlite3
import subprocess
import json as jsonlib
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

import openai
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
JWT_SECRET = "python-tests-jwt-secret-0123456789abcdef"
SERVICE_KEYS = {
    "OPENAI_API_KEY": "sk-service-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-service-0123456789abcdef",
    "GEMINI_API_KEY": "AIzaService0123456789abcdefgh",
}
# The test server's LiveKit settings (test_livekit.py checks its tokens with LiveKit's SDK).
LIVEKIT = {
    "LIVEKIT_URL": "wss://livekit.example.test",
    "LIVEKIT_API_KEY": "APIpythontests",
    "LIVEKIT_API_SECRET": "python-tests-livekit-secret-0123456789abcdef",
}
_addresses = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check, timeout: float = 15.0, interval: float = 0.2):
    """Retries `check` until it returns a truthy value (usage is recorded after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@dataclass
class User:
    id: str
    email: str
    token: str
    org: str


@dataclass
class Reply:
    """A plain HTTP answer (the standard library's, so the tests need no extra package)."""
    status_code: int
    headers: dict
    text: str

    def json(self):
        return jsonlib.loads(self.text)


def http(method: str, url: str, headers: dict | None = None, body: bytes | None = None,
         timeout: float = 60) -> Reply:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode())


class Server:
    def __init__(self, base: str, mock_base: str, state_dir: pathlib.Path | None = None):
        self.base = base
        self.mock_base = mock_base
        self.state_dir = state_dir

    def d1(self) -> sqlite3.Connection:
        """The local D1 database, for checking what the API cannot show (pruned rows)."""
        files = [p for p in (self.state_dir / "v3" / "d1").glob("*/*.sqlite") if p.name != "metadata.sqlite"]
        assert len(files) == 1, files
        return sqlite3.connect(files[0], timeout=10)

    # --- plain HTTP, for the chatgate routes the OpenAI client does not cover -----------

    def request(self, method: str, path: str, token: str | None = None, json=None,
                params: dict | None = None, headers: dict | None = None) -> Reply:
        # Each request gets its own client address, so the per-address registration
        # throttle of one test never reaches another.
        n = next(_addresses)
        headers = {"cf-connecting-ip": f"10.{os.getpid() % 250}.{n // 250 % 250}.{n % 250}",
                   **(headers or {})}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers["content-type"] = "application/json"
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        return http(method, url, headers, body)

    def register(self, tag: str) -> User:
        email = f"{tag}-{uuid.uuid4().hex[:12]}@example.com"
        r = self.request(
            "POST",
            "/api/auth/register",
            json={"email": email, "password": f"pw for {email} is long", "name": tag,
                  "refresh_token_in": "body"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        self.verify(email)
        me = self.request("GET", "/api/me", token).json()
        return User(id=me["id"], email=email, token=token, org=me["orgs"][0]["id"])

    def verify(self, email: str) -> None:
        """Opens the verification link mailed to `email` (it goes out after the response)."""
        def link():
            items = self.request("GET", "/api/dev/mailbox", params={"to": email}).json()["items"]
            texts = [m["text"] for m in items if m["subject"] == "Confirm your email address"]
            return texts[0] if texts else None
        text = eventually(link)
        assert text, f"no verification mail to {email}"
        token = text.split("/verify-email?token=", 1)[1].split()[0]
        r = self.request("POST", "/api/auth/verify-email", json={"token": token})
        assert r.status_code == 204, r.text

    def api_key(self, user: User, org: str | None = None, scopes=("chat",)) -> str:
        r = self.request(
            "POST", "/api/keys", user.token,
            json={"name": "python tests", "org_id": org or user.org, "scopes": list(scopes)},
        )
        assert r.status_code == 201, r.text
        return r.json()["key"]

    def set_settings(self, user: User, settings: dict, org: str | None = None) -> dict:
        r = self.request("PATCH", f"/api/orgs/{org or user.org}", user.token, json={"settings": settings})
        assert r.status_code == 200, f"PATCH /api/orgs settings: {r.status_code} {r.text}"
        return r.json()

    def usage(self, user: User, org: str | None = None, **params) -> Reply:
        return self.request("GET", f"/api/orgs/{org or user.org}/usage", user.token, params=params)

    def openai(self, key: str, **kw) -> openai.OpenAI:
        """The official client pointed at chatgate; no retries, so every 429 is seen."""
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key=key, max_retries=0, timeout=60, **kw)


def _wait_for_line(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """Reads the process's stdout until a line containing `marker` (the mock's ready line)."""
    found: list[str] = []

    def read():
        for line in proc.stdout:
            if marker in line:
                found.append(line)
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    if not found:
        raise RuntimeError(f"the process did not print {marker!r} within {timeout} s")
    return found[0]


@contextlib.contextmanager
def serving(env: dict, log_path: pathlib.Path, timeout: float = 90):
    """scripts/serve.sh (under the watchdog) with `env`, which must set PORT: yields its base
    URL once /health answers 200, fails the test if it never does, and stops it on exit.
    Mail stays here, in the dev mailbox (Server.verify reads it), unless `env` says otherwise."""
    env = {"DEV_MAILBOX": "on", **env}
    log = open(log_path, "w")
    # The watchdog ends the server's whole process group when its stdin closes: kept open
    # while in use, closed below (or by the OS if this process dies).
    worker = subprocess.Popen(
        ["bash", "tests/support/watchdog.sh", "bash", "scripts/serve.sh"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    status = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            status = http("GET", f"{base}/health", timeout=2).status_code
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.25)
    try:
        if status != 200:
            pytest.fail(f"wrangler dev did not become healthy (/health answered {status}); see {log_path}")
        yield base
    finally:
        if worker.stdin:
            worker.stdin.close()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


@contextlib.contextmanager
def started(**overrides: str):
    """The mock upstream and the built Worker with fresh state (`overrides` set more of the
    Worker's variables): yields a `Server`, stops both on exit."""
    mock_bin = ROOT / "target" / "debug" / "chatgate-mock"
    if not mock_bin.exists():
        pytest.fail("build the mock first: cargo build -p chatgate-mock (make python does)")
    if not (ROOT / "build" / "index.js").exists():
        pytest.fail("build the Worker first: bash scripts/build.sh")

    mock_port = free_port()
    mock = subprocess.Popen([str(mock_bin), "--port", str(mock_port)], stdout=subprocess.PIPE, text=True)
    _wait_for_line(mock, "listening on", 30)
    mock_base = f"http://127.0.0.1:{mock_port}"

    state_dir = pathlib.Path(tempfile.mkdtemp(prefix="chatgate-python-"))
    vars_file = state_dir / "test.vars"
    vars_file.write_text(
        f"JWT_SECRET={JWT_SECRET}\nENCRYPTION_KEYS=1:{base64.b64encode(os.urandom(32)).decode()}\n"
    )
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        DEVTOOLS="off",  # as in tests/api/helpers.rs: its proxy drops requests under bursts
        STATE_DIR=str(state_dir),
        VARS_FILE=str(vars_file),
        OPENAI_BASE_URL=f"{mock_base}/v1",
        ANTHROPIC_BASE_URL=mock_base,
        GEMINI_BASE_URL=mock_base,
        DEMO_TOKEN_DELAY_MS="10",
        # Each request sends its own CF-Connecting-IP (Server.request): believed here, as
        # behind Cloudflare, so per-address throttles do not cross tests.
        TRUST_CF_CONNECTING_IP="true",
        **SERVICE_KEYS,
        **LIVEKIT,
    )
    env.update(overrides)
    try:
        with serving(env, state_dir / "wrangler.log") as base:
            yield Server(base, mock_base, state_dir)
    finally:
        mock.terminate()
        mock.wait(timeout=10)


@pytest.fixture(scope="session")
def server():
    with started() as s:
        yield s
