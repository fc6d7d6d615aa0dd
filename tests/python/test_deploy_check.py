"""scripts/deploy_check.py (`make deploy-check`): what it refuses before a deploy ships."""
import copy
import gzip
import importlib.util
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "scripts" / "deploy_check.py")
dc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dc)

CONFIG = tomllib.loads((ROOT / "wrangler.toml").read_text())
SOURCES = dc.read_sources(ROOT / "src")


def config():
    return copy.deepcopy(CONFIG)


def test_the_repository_configuration_declares_everything_the_code_uses():
    assert dc.check_config(CONFIG, SOURCES) == []
    assert set(dc.environments(CONFIG)) == {"production", "staging"}


def test_the_code_s_bindings_are_found_by_literal_and_by_const():
    used = dc.used_bindings(SOURCES)
    assert used == {
        "DB": "d1_databases", "KV": "kv_namespaces", "ASSETS": "assets", "EMAIL": "send_email",
        "CONVERSATIONS": "durable_objects", "ORG_LIMITS": "durable_objects", "DISPATCHER": "durable_objects",
        "FILES": "r2_buckets",
    }
    assert dc.durable_object_classes(SOURCES) == {"Conversation", "OrgLimiter", "Dispatcher"}


def test_a_binding_missing_from_staging_is_named_with_its_environment():
    c = config()
    del c["env"]["staging"]["kv_namespaces"]
    assert dc.check_config(c, SOURCES) == [
        "[env.staging]: the code uses the binding KV (kv_namespaces), which is not declared"
    ]


def test_a_binding_the_code_starts_using_must_be_declared():
    sources = {**SOURCES, "new.rs": 'fn f(env: &Env) { let _ = env.queue("JOBS"); }'}
    problems = dc.check_config(CONFIG, sources)
    assert problems == [
        "[production]: the code uses the binding JOBS (queues), which is not declared",
        "[env.staging]: the code uses the binding JOBS (queues), which is not declared",
    ]


def test_the_email_binding_is_needed_only_where_cloudflare_sends_the_mail():
    c = config()
    c["vars"]["EMAIL_PROVIDER"] = "cloudflare"
    assert dc.check_config(c, SOURCES) == [
        "[production]: the code uses the binding EMAIL (send_email), which is not declared"
    ]
    c["send_email"] = [{"name": "EMAIL"}]
    assert dc.check_config(c, SOURCES) == []


def test_a_durable_object_class_needs_a_binding_and_a_migration():
    c = config()
    c["migrations"] = [m for m in c["migrations"] if "Dispatcher" not in m.get("new_sqlite_classes", [])]
    c["env"]["staging"]["durable_objects"]["bindings"] = [
        b for b in c["env"]["staging"]["durable_objects"]["bindings"] if b["class_name"] != "Dispatcher"
    ]
    problems = dc.check_config(c, SOURCES)
    assert "[production]: the Durable Object class Dispatcher is in no [[migrations]]" in problems
    assert "[env.staging]: the Durable Object class Dispatcher has no binding" in problems
    assert "[env.staging]: the code uses the binding DISPATCHER (durable_objects), which is not declared" in problems


def test_a_var_set_only_at_the_top_level_is_missing_from_staging():
    c = config()
    c["vars"]["NEW_LIMIT"] = "5"
    assert dc.check_config(c, SOURCES) == ["[env.staging]: [vars] lacks NEW_LIMIT (vars are not inherited)"]


def test_the_benchmarks_storage_delay_never_ships():
    c = config()
    c["env"]["staging"]["vars"]["BENCH_STORAGE_DELAY_MS"] = "d1=60"
    assert dc.check_config(c, SOURCES) == [
        "[env.staging]: BENCH_STORAGE_DELAY_MS is set: it is for benchmarks on a development server only"
    ]


def test_a_scheduled_handler_needs_crons():
    c = config()
    del c["triggers"]
    problems = dc.check_config(c, SOURCES)
    assert problems == [
        "[production]: the code has a scheduled handler but [triggers] has no crons",
        "[env.staging]: the code has a scheduled handler but [triggers] has no crons",
    ]


def test_the_size_limit_is_the_plan_the_configuration_needs():
    assert dc.plan(CONFIG) == "paid", "limits.cpu_ms = 30000 needs Workers Paid"
    c = config()
    del c["limits"]
    assert dc.plan(c) == "free"
    assert dc.check_size(10 * dc.MIB, "paid") == []
    assert dc.check_size(10 * dc.MIB + 1, "paid") == [
        "the Worker is 10.00 MiB gzipped, over the paid plan's 10 MiB"
    ]
    assert dc.check_size(3 * dc.MIB + 1, "free") != []


def test_the_worker_s_size_is_its_modules_gzipped_together_without_source_maps(tmp_path):
    wasm, js = bytes(range(256)) * 1000, b"export default {};" * 100
    (tmp_path / "abc-index_bg.wasm").write_bytes(wasm)
    (tmp_path / "index.js").write_bytes(js)
    (tmp_path / "index.js.map").write_bytes(b"x" * 10_000_000)
    (tmp_path / "README.md").write_text("not uploaded")
    assert dc.worker_gzip_size(tmp_path) == len(gzip.compress(wasm + js, compresslevel=6))


def test_a_migration_that_does_not_apply_to_an_empty_database_is_named(tmp_path):
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (id TEXT PRIMARY KEY);")
    (tmp_path / "0002_b.sql").write_text("ALTER TABLE missing ADD COLUMN x INTEGER;")
    problems = dc.migrations_apply_in_sqlite(tmp_path)
    assert len(problems) == 1 and "0002_b.sql" in problems[0] and "missing" in problems[0]
    assert dc.migrations_apply_in_sqlite(ROOT / "migrations") == []


def test_the_dry_run_s_configuration_has_no_build_and_absolute_paths():
    text = dc.without_build((ROOT / "wrangler.toml").read_text(), ROOT)
    c = tomllib.loads(text)
    assert "build" not in c, "the dry run must not rebuild"
    assert c["main"] == f"{ROOT}/build/index.js"
    assert c["assets"]["directory"] == f"{ROOT}/build/web"
    assert c["d1_databases"][0]["migrations_dir"] == f"{ROOT}/migrations"
    assert c["env"]["staging"]["d1_databases"][0]["migrations_dir"] == f"{ROOT}/migrations"
    rest = {k: v for k, v in c.items() if k not in ("main", "assets", "d1_databases", "env")}
    assert rest == {k: v for k, v in CONFIG.items() if k not in ("main", "assets", "d1_databases", "env", "build")}
