"""`make dev`'s way of serving: scripts/serve.sh with a relative state directory and the
secrets file it generates, as a new user runs it (the other suites pass absolute paths)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import uuid

from conftest import ROOT, free_port, http, serving


def test_serve_with_relative_paths_has_its_secrets(tmp_path):
    name = f"serve-test-{uuid.uuid4().hex[:8]}"
    state_dir = ROOT / ".state" / name  # /.state/ is git-ignored
    vars_file = state_dir.with_suffix(".vars")
    state_dir.mkdir(parents=True)
    # What an earlier run may have left: a secrets file anyone on the machine could read.
    stale = state_dir / "runtime.env"
    stale.write_text("JWT_SECRET=left-over\n")
    stale.chmod(0o644)
    env = dict(
        os.environ,
        PORT=str(free_port()),
        STATE_DIR=f".state/{name}",
        VARS_FILE=f".state/{name}.vars",  # created by scripts/dev-vars.sh, as make dev does
    )
    try:
        with serving(env, tmp_path / "wrangler.log") as base:
            assert vars_file.exists(), "serve.sh did not create the secrets file"
            # Both hold the JWT secret and the encryption keys: their owner's only.
            assert mode(vars_file) == 0o600, oct(mode(vars_file))
            assert mode(state_dir / "runtime.env") == 0o600, oct(mode(state_dir / "runtime.env"))
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


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_dev_vars_writes_a_private_secrets_file_and_makes_an_existing_one_private(tmp_path):
    fresh = tmp_path / "fresh.vars"
    subprocess.run(["bash", "scripts/dev-vars.sh", str(fresh)], cwd=ROOT, check=True)
    assert "JWT_SECRET=" in fresh.read_text()
    assert mode(fresh) == 0o600, oct(mode(fresh))

    old = tmp_path / "old.vars"
    old.write_text("JWT_SECRET=kept-as-it-is-0123456789abcdef0123\n")
    old.chmod(0o644)
    subprocess.run(["bash", "scripts/dev-vars.sh", str(old)], cwd=ROOT, check=True)
    assert old.read_text() == "JWT_SECRET=kept-as-it-is-0123456789abcdef0123\n"
    assert mode(old) == 0o600, oct(mode(old))
