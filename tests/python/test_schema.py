"""schema.sql is the full current schema: the same database as the migrations applied in order."""
import importlib.util
import pathlib
import sqlite3

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("schema", ROOT / "scripts" / "schema.py")
schema = importlib.util.module_from_spec(spec)
spec.loader.exec_module(schema)


def test_schema_sql_equals_the_migrations_applied_in_order():
    from_schema = sqlite3.connect(":memory:")
    from_schema.executescript((ROOT / "schema.sql").read_text())
    assert schema.objects(from_schema) == schema.objects(schema.migrated())


def test_every_migration_applies_on_top_of_the_previous_ones():
    db = sqlite3.connect(":memory:")
    for path in sorted((ROOT / "migrations").glob("*.sql")):
        db.executescript(path.read_text())  # raises on the first broken one
    assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] >= 10
