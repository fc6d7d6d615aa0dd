"""`make dev`'s way of serving: scripts/serve.sh with a relative state directory and the
secrets file it generates, as a new user runs it (the other suites pass absolute paths)."""

from __future__ import annotations

import json
import os
import shutil
import uuid

from conftest import ROOT, free_port, http, serving


def test_serve_with_relative_paths_has_its_secrets(tmp_path):
    name = f"serve-test-{uuid.uuid4().hex[:8]}"
    state_dir = ROOT / ".state" / name  # /.state/ is git-ignored
    vars_file = state_dir.with_suffix(".vars")
    state_dir.parent.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        PORT=str(free_port()),
        STATE_DIR=f".state/{name}",
        VARS_FILE=f".state/{name}.vars",  # created by scripts/dev-vars.sh, as make dev does
    )
    try:
        with serving(env, tmp_path / "wrangler.log") as base:
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
        shutil.rmtree(state_dir, ignore_errors=True)
        vars_file.unlink(missing_ok=True)
