"""`make dev`'s way of serving: scripts/serve.sh with a relative state directory and the
secrets file it generates, as a new user runs it (the other suites pass absolute paths)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

from conftest import ROOT, free_port, http


def test_serve_with_relative_paths_has_its_secrets(tmp_path):
    name = f"serve-test-{uuid.uuid4().hex[:8]}"
    state_dir = ROOT / ".state" / name  # /.state/ is git-ignored
    vars_file = state_dir.with_suffix(".vars")
    state_dir.parent.mkdir(exist_ok=True)
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        STATE_DIR=f".state/{name}",
        VARS_FILE=f".state/{name}.vars",  # created by scripts/dev-vars.sh, as make dev does
    )
    log = open(tmp_path / "wrangler.log", "w")
    server = subprocess.Popen(
        ["bash", "tests/support/watchdog.sh", "bash", "scripts/serve.sh"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status = http("GET", f"{base}/health", timeout=2).status_code
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        assert status == 200, f"/health answered {status}; see {tmp_path / 'wrangler.log'}"
        assert vars_file.exists(), "serve.sh did not create the secrets file"
        account = {
            "email": f"serve-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse battery staple 9",
            "name": "Serve",
        }
        r = http("POST", f"{base}/api/auth/register", {"content-type": "application/json"},
                 json.dumps(account).encode())
        assert r.status_code == 201, r.text
        assert json.loads(r.text)["access_token"]
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(state_dir, ignore_errors=True)
        vars_file.unlink(missing_ok=True)
