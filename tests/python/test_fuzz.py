"""The OpenAPI document says what the server does: schemathesis, driven by the document the
server serves, sends requests the document allows (and some it forbids) to every operation and
checks each answer against it. Bounded and repeatable: a fixed seed, a few examples per
operation, one worker, no stored examples (about a minute here). `make fuzz` runs it alone.

The server is one of its own (fresh state; the demo model without its per-token delay, so long
generated messages do not slow the run). tests/python/fuzz_hooks.py authenticates the fuzzer
and writes cursors; tests/python/schemathesis.toml has the few per-operation exceptions, each
with its reason. On a failure the whole report is in tests/artifacts/fuzz.txt, with a curl
line and `st replay` id per finding.
"""
from __future__ import annotations

import os
import pathlib
import shlex
import subprocess
import sys
import time

import pytest

from conftest import ROOT, started

HERE = pathlib.Path(__file__).resolve().parent

def fuzz_command(base: str) -> list[str]:
    """`st run` as the suite runs it (also what to run by hand against a server, with the
    environment of `fuzz_env`)."""
    return [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"), "run", f"{base}/openapi.json",
        "--checks", "all", "--phases", "examples,coverage,fuzzing",
        "--seed", "1", "--max-examples", "5", "--workers", "1", "--generation-database", "none",
        "--no-color", "--output-truncate", "false",
    ]


def fuzz_env(base: str) -> dict:
    return dict(os.environ, SCHEMATHESIS_HOOKS="fuzz_hooks", PYTHONPATH=str(HERE), FUZZ_BASE_URL=base)


@pytest.fixture(scope="module")
def fuzz_server():
    with started(DEMO_TOKEN_DELAY_MS="0") as s:
        yield s


def test_the_server_answers_as_its_openapi_document_says(fuzz_server):
    command = fuzz_command(fuzz_server.base)
    started_at = time.monotonic()
    run = subprocess.run(command, env=fuzz_env(fuzz_server.base), cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    took = time.monotonic() - started_at
    report = ROOT / "tests" / "artifacts" / "fuzz.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"$ {shlex.join(command)}\n\n{run.stdout}\n{run.stderr}")
    tail = "\n".join(run.stdout.splitlines()[-40:])
    assert run.returncode == 0, f"schemathesis found failures ({took:.0f} s); the report: {report}\n{tail}\n{run.stderr}"
    document = fuzz_server.request("GET", "/openapi.json").json()
    operations = sum(1 for item in document["paths"].values() for method in item
                     if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"})
    assert f"Tested: {operations}\n" in run.stdout, f"not every operation was exercised\n{tail}"
