#!/usr/bin/env python3
"""Checks that the Worker in build/ deploys with wrangler.toml, without deploying it:

    python3 scripts/deploy_check.py       # `make deploy-check`, part of `make test`

For production (the top level) and every [env.*] (staging):
- every binding the code uses (`env.d1("DB")`, `kv("KV")`, `assets("ASSETS")`, the Durable
  Object namespaces, `send_email` when EMAIL_PROVIDER is "cloudflare") is declared, every
  Durable Object class the code exports has a binding and a migration, every var of [vars] is
  set (wrangler inherits neither bindings nor vars into an environment), and the crons are
  there when the code has a scheduled handler;
- `wrangler deploy --dry-run` succeeds on the finished build (a copy of wrangler.toml without
  its [build], so nothing is rebuilt: scripts/serve.sh does the same) and the Worker it would
  upload, gzipped as wrangler measures it, fits the plan's limit: 10 MiB on Workers Paid,
  which the configuration needs (its `limits.cpu_ms` above the free plan's 10 ms), else the
  free plan's 3 MiB;
- the migrations apply, in order, to an empty database: in Python's SQLite and in wrangler's
  local D1 (a fresh state directory).

Exits non-zero with every failure listed. tests/python/test_deploy_check.py tests the checks.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
# The Worker's size after compression (wrangler's own measure: gzip of all its modules).
SIZE_LIMITS = {"free": 3 * MIB, "paid": 10 * MIB}
FREE_PLAN_CPU_MS = 10

# How the code reaches a binding (`env.d1("DB")`, `.durable_object(NAME)` with a `const NAME`),
# and the wrangler.toml table that declares that kind.
ACCESSORS = {
    "d1": "d1_databases",
    "kv": "kv_namespaces",
    "assets": "assets",
    "durable_object": "durable_objects",
    "send_email": "send_email",
    "bucket": "r2_buckets",
    "queue": "queues",
    "service": "services",
    "hyperdrive": "hyperdrive",
    "analytics_engine": "analytics_engine_datasets",
}
ACCESS_RE = re.compile(r"\.(%s)\(\s*(\"([A-Z][A-Z0-9_]*)\"|([A-Za-z_][A-Za-z0-9_]*))\s*\)" % "|".join(ACCESSORS))
# src/durable.rs: `durable::stub(env, "ORG_LIMITS", name)` and `durable::fetch(env, "NAME", …)`
# (which every request to an object goes through) reach a namespace by name.
STUB_RE = re.compile(r"\bdurable::(?:stub|fetch)\(\s*[^,()]+,\s*\"([A-Z][A-Z0-9_]*)\"")
CONST_RE = re.compile(r"\bconst\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*\"([^\"]*)\"")
DO_CLASS_RE = re.compile(r"#\[durable_object[^\]]*\]\s*(?:pub(?:\([^)]*\))?\s+)?struct\s+([A-Za-z_][A-Za-z0-9_]*)")
SCHEDULED_RE = re.compile(r"#\[event\(scheduled\)\]")

# Bindings only some configurations need: name -> (var, value that needs it).
CONDITIONAL = {"EMAIL": ("EMAIL_PROVIDER", "cloudflare")}


def used_bindings(sources: dict[str, str]) -> dict[str, str]:
    """{binding name: wrangler.toml table} for every binding the Rust sources reach by a
    literal name or a `const` of the same file."""
    used: dict[str, str] = {}
    for text in sources.values():
        consts = dict(CONST_RE.findall(text))
        for accessor, _, literal, ident in ACCESS_RE.findall(text):
            name = literal or consts.get(ident)
            if name:
                used[name] = ACCESSORS[accessor]
        for name in STUB_RE.findall(text):
            used[name] = "durable_objects"
    return used


def durable_object_classes(sources: dict[str, str]) -> set[str]:
    return {c for text in sources.values() for c in DO_CLASS_RE.findall(text)}


def has_scheduled_handler(sources: dict[str, str]) -> bool:
    return any(SCHEDULED_RE.search(text) for text in sources.values())


def read_sources(src: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(src)): p.read_text() for p in sorted(src.rglob("*.rs"))}


def environments(config: dict) -> dict[str, dict]:
    """{"production": the top level, "<name>": each [env.<name>] with what it inherits}."""
    envs = {"production": config}
    for name, env in config.get("env", {}).items():
        inherited = {k: v for k, v in config.items() if k in ("assets", "triggers", "migrations", "limits")}
        envs[name] = {**inherited, **env}
    return envs


def declared_bindings(env: dict) -> dict[str, str]:
    """{binding name: table} that one environment declares."""
    declared: dict[str, str] = {}
    for table in ("d1_databases", "kv_namespaces", "send_email", "r2_buckets", "services",
                  "hyperdrive", "analytics_engine_datasets"):
        for b in env.get(table, []):
            declared[b.get("binding") or b.get("name")] = table
    for b in env.get("durable_objects", {}).get("bindings", []):
        declared[b["name"]] = "durable_objects"
    for b in env.get("queues", {}).get("producers", []):
        declared[b["binding"]] = "queues"
    if env.get("assets", {}).get("binding"):
        declared[env["assets"]["binding"]] = "assets"
    return declared


def check_config(config: dict, sources: dict[str, str]) -> list[str]:
    """What is missing from the configuration for the code, per environment."""
    problems = []
    used = used_bindings(sources)
    classes = durable_object_classes(sources)
    top_vars = set(config.get("vars", {}))
    for env_name, env in environments(config).items():
        where = f"[{env_name}]" if env_name == "production" else f"[env.{env_name}]"
        declared = declared_bindings(env)
        env_vars = env.get("vars", {})
        for name, table in sorted(used.items()):
            if name in CONDITIONAL:
                var, value = CONDITIONAL[name]
                if str(env_vars.get(var, "")).strip().lower() != value:
                    continue
            if name not in declared:
                problems.append(f"{where}: the code uses the binding {name} ({table}), which is not declared")
            elif declared[name] != table:
                problems.append(f"{where}: {name} is declared in {declared[name]}, the code uses it as {table}")
        bound = {b["class_name"]: b["name"] for b in env.get("durable_objects", {}).get("bindings", [])}
        migrated = {c for m in env.get("migrations", [])
                    for c in m.get("new_sqlite_classes", []) + m.get("new_classes", [])}
        for c in sorted(classes):
            if c not in bound:
                problems.append(f"{where}: the Durable Object class {c} has no binding")
            if c not in migrated:
                problems.append(f"{where}: the Durable Object class {c} is in no [[migrations]]")
        for c in sorted(set(bound) - classes):
            problems.append(f"{where}: {bound[c]} binds the class {c}, which the code does not export")
        # The benchmark's simulated storage distance (src/store/delay.rs) never ships.
        if str(env_vars.get("BENCH_STORAGE_DELAY_MS", "")).strip():
            problems.append(f"{where}: BENCH_STORAGE_DELAY_MS is set: it is for benchmarks on a development server only")
        missing = sorted(top_vars - set(env_vars))
        if missing:
            problems.append(f"{where}: [vars] lacks {', '.join(missing)} (vars are not inherited)")
        if has_scheduled_handler(sources) and not env.get("triggers", {}).get("crons"):
            problems.append(f"{where}: the code has a scheduled handler but [triggers] has no crons")
    return problems


def plan(config: dict) -> str:
    """The Workers plan the configuration needs: paid once it asks for more CPU than free has."""
    cpu_ms = config.get("limits", {}).get("cpu_ms", 0)
    return "paid" if cpu_ms > FREE_PLAN_CPU_MS else "free"


def worker_gzip_size(outdir: pathlib.Path) -> int:
    """The gzipped size of the modules `wrangler deploy --dry-run --outdir` wrote, measured as
    wrangler measures it (gzip, default level, of the modules together); source maps and its
    README are not uploaded."""
    modules = sorted(p for p in outdir.iterdir()
                     if p.is_file() and p.suffix != ".map" and p.name != "README.md")
    if not modules:
        raise RuntimeError(f"{outdir} holds no modules")
    return len(gzip.compress(b"".join(p.read_bytes() for p in modules), compresslevel=6))


def check_size(size: int, plan_name: str) -> list[str]:
    limit = SIZE_LIMITS[plan_name]
    if size > limit:
        return [f"the Worker is {size / MIB:.2f} MiB gzipped, over the {plan_name} plan's {limit / MIB:.0f} MiB"]
    return []


def migrations_apply_in_sqlite(migrations: pathlib.Path) -> list[str]:
    db = sqlite3.connect(":memory:")
    for path in sorted(migrations.glob("*.sql")):
        try:
            db.executescript(path.read_text())
        except sqlite3.Error as e:
            return [f"migration {path.name} does not apply after the ones before it: {e}"]
    return []


def without_build(toml_text: str, root: pathlib.Path) -> str:
    """wrangler.toml without its [build] table and with absolute paths, to be read from
    another directory (the same rewrite as scripts/serve.sh's)."""
    out, skip = [], False
    for line in toml_text.splitlines():
        if re.match(r"^\[build\]", line):
            skip = True
            continue
        if line.startswith("["):
            skip = False
        if skip:
            continue
        if line.startswith("main = "):
            line = f'main = "{root}/build/index.js"'
        elif line.startswith('directory = "build/web"'):
            line = f'directory = "{root}/build/web"'
        elif line.startswith("migrations_dir = "):
            line = f'migrations_dir = "{root}/migrations"'
        out.append(line)
    return "\n".join(out) + "\n"


def wrangler(args: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "CLOUDFLARE_CF_FETCH_ENABLED": "false",
           "WRANGLER_LOG_PATH": str(cwd / "logs")}
    return subprocess.run(["npx", "--no-install", "wrangler", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def main() -> int:
    started = time.monotonic()
    if not (ROOT / "build" / "index.js").exists():
        print("deploy-check: no build: run scripts/build.sh (make build) first", file=sys.stderr)
        return 1
    toml_text = (ROOT / "wrangler.toml").read_text()
    config = tomllib.loads(toml_text)
    problems = check_config(config, read_sources(ROOT / "src"))
    problems += migrations_apply_in_sqlite(ROOT / "migrations")
    plan_name = plan(config)
    sizes = []
    with tempfile.TemporaryDirectory(prefix="chatgate-deploy-check-") as tmp:
        work = pathlib.Path(tmp)
        copy = work / "wrangler.toml"
        copy.write_text(without_build(toml_text, ROOT))
        for env_name in environments(config):
            target = "" if env_name == "production" else env_name
            outdir = work / f"out-{env_name}"
            run = wrangler(["deploy", "--dry-run", f"--env={target}", "--outdir", str(outdir),
                            "--config", str(copy)], work)
            if run.returncode != 0:
                problems.append(f"wrangler deploy --dry-run --env={target!r} failed:\n{run.stdout}{run.stderr}")
                continue
            size = worker_gzip_size(outdir)
            sizes.append(f"{env_name} {size / MIB:.2f} MiB")
            problems += check_size(size, plan_name)
        run = wrangler(["d1", "migrations", "apply", "DB", "--local", "--env=", "--config", str(copy),
                        "--persist-to", str(work / "state")], work)
        if run.returncode != 0:
            problems.append(f"the migrations do not apply to an empty local D1:\n{run.stdout}{run.stderr}")
    if problems:
        print("deploy-check: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"deploy-check: ok in {time.monotonic() - started:.1f} s: {', '.join(environments(config))}; "
          f"gzipped {'; '.join(sizes)} (limit {SIZE_LIMITS[plan_name] / MIB:.0f} MiB, {plan_name} plan); "
          f"migrations apply to an empty database")
    return 0


if __name__ == "__main__":
    sys.exit(main())
