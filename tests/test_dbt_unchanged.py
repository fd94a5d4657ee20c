"""Which dbt nodes a night leaves out as unchanged (``orchestration/defs/transform/unchanged.py``).

A hand-made manifest of two raw tables (orders changes, vat_rates does not) and the nodes built
from them, against a real DuckDB file for the fingerprints, the relations and the records. The
nightly leaves these nodes out for real in ``tests/test_pipeline_e2e.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from orchestration.defs.transform import unchanged as u


def _node(kind: str, name: str, parents: list[str], **extra: Any) -> dict[str, Any]:
    materialized = extra.pop("materialized", {"test": "test", "seed": "seed", "snapshot": "snapshot"}.get(kind, "view"))
    schema = extra.pop("schema", {"test": "dbt_test__audit", "seed": "reference"}.get(kind, "staging"))
    return {
        "resource_type": kind,
        "name": name,
        "schema": schema,
        "alias": name,
        "raw_code": extra.pop("raw_code", f"select * from {name}_input"),
        "checksum": {"name": "sha256", "checksum": name},
        "config": {"materialized": materialized},
        "depends_on": {"nodes": parents, "macros": extra.pop("macros", [])},
        **extra,
    }


def manifest() -> dict[str, Any]:
    src = "source.tw.policy.vat_rates"
    orders = "source.tw.platform.orders"
    nodes = {
        "model.tw.stg_vat": _node("model", "stg_vat", [src]),
        "model.tw.stg_orders": _node("model", "stg_orders", [orders]),
        "seed.tw.markets": _node("seed", "markets", []),
        "model.tw.int_vat_by_market": _node(
            "model", "int_vat_by_market", ["model.tw.stg_vat", "seed.tw.markets"], materialized="table"
        ),
        "model.tw.int_order_taxes": _node(
            "model", "int_order_taxes", ["model.tw.stg_orders", "model.tw.int_vat_by_market"], materialized="table"
        ),
        "model.tw.vat_mart": _node("model", "vat_mart", ["model.tw.int_vat_by_market"], schema="marts"),
        "model.tw.int_vat_today": _node(
            "model",
            "int_vat_today",
            ["model.tw.stg_vat"],
            materialized="table",
            raw_code="select * from x where valid_from <= current_date",
        ),
        "model.tw.int_vat_noted": _node(
            "model",
            "int_vat_noted",
            ["model.tw.stg_vat"],
            materialized="table",
            raw_code="-- the rates in force today (a comment reads no clock)\nselect * from x {# now() #}",
        ),
        # A view reading the clock stores its SQL, not rows: left out; what is built from it is not.
        "model.tw.stg_vat_clock": _node(
            "model", "stg_vat_clock", [src], raw_code="select *, current_date as seen_on from x"
        ),
        "model.tw.int_from_clock": _node("model", "int_from_clock", ["model.tw.stg_vat_clock"], materialized="table"),
        "model.tw.int_vat_windowed": _node(
            "model", "int_vat_windowed", ["model.tw.stg_vat"], macros=["macro.tw.partition_window"]
        ),
        "test.tw.not_null_stg_vat_rate": _node(
            "test", "not_null_stg_vat_rate", ["model.tw.stg_vat"], macros=["macro.dbt.get_where_subquery"]
        ),
        "test.tw.relationships_orders_vat": _node(
            "test", "relationships_orders_vat", ["model.tw.stg_orders", "model.tw.stg_vat"]
        ),
        "test.tw.not_null_vat_mart": _node("test", "not_null_vat_mart", ["model.tw.vat_mart"]),
        "operation.tw.on-run-start": _node("operation", "on-run-start", []),
    }
    window = "{% set d = env_var('TRADEWINDS_DBT_MIN_DATE', '') %}"
    macros = {
        "macro.tw.partition_window": {"name": "partition_window", "package_name": "tw", "macro_sql": window},
        # The project's override of dbt's macro: reached by name, not listed by the test.
        "macro.tw.get_where_subquery": {
            "name": "get_where_subquery",
            "package_name": "tw",
            "macro_sql": window + "{{ return(relation) }}",
        },
        "macro.dbt.get_where_subquery": {"name": "get_where_subquery", "package_name": "dbt", "macro_sql": "{{ x }}"},
        "macro.dbt.snapshot_get_time": {"name": "snapshot_get_time", "package_name": "dbt", "macro_sql": "now()"},
    }
    sources = {
        src: {"schema": "raw", "name": "vat_rates", "identifier": "vat_rates"},
        orders: {"schema": "raw", "name": "orders", "identifier": "orders"},
    }
    return {"metadata": {"project_name": "tw"}, "nodes": nodes, "sources": sources, "macros": macros}


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    conn.execute("CREATE SCHEMA raw; CREATE SCHEMA staging; CREATE SCHEMA reference; CREATE SCHEMA marts")
    conn.execute("CREATE TABLE raw.vat_rates (country VARCHAR, rate DOUBLE, _loaded_at TIMESTAMP)")
    conn.execute("CREATE TABLE raw.orders (order_id VARCHAR, _loaded_at TIMESTAMP)")
    conn.execute("INSERT INTO raw.vat_rates VALUES ('DE', 19, TIMESTAMP '2025-07-01 02:00:00')")
    conn.execute("INSERT INTO raw.orders VALUES ('o1', TIMESTAMP '2025-07-01 02:00:00')")
    for schema, name in [
        ("staging", "stg_vat"),
        ("staging", "stg_orders"),
        ("reference", "markets"),
        ("staging", "int_vat_by_market"),
        ("staging", "int_order_taxes"),
        ("marts", "vat_mart"),
        ("staging", "int_vat_today"),
        ("staging", "int_vat_windowed"),
        ("staging", "int_vat_noted"),
        ("staging", "stg_vat_clock"),
        ("staging", "int_from_clock"),
    ]:
        conn.execute(f"CREATE TABLE {schema}.{name} (x INTEGER)")
    yield conn
    conn.close()


def night(conn: duckdb.DuckDBPyConnection, env: dict[str, str] | None = None, key: str = "k") -> u.SkipPlan:
    """What the dbt asset does before its build (plan, forget), then a build where every node it ran passed."""
    m = manifest()
    fingerprints = u.source_fingerprints(conn, m)
    env = env or {"TRADEWINDS_DBT_MIN_DATE": "2025-07-01"}
    signatures = u.node_signatures(m, fingerprints, env, key, u.source_schemas(conn, m))
    plan = u.plan_skips(m, signatures, u.read_records(conn), u.existing_relations(conn), fingerprints)
    ran = [n for n in signatures if n not in plan.skipped]
    u.forget(conn, ran)
    results = {"results": [{"unique_id": n, "status": "pass" if n.startswith("test.") else "success"} for n in ran]}
    u.record(conn, results, signatures, fingerprints, "run-1")
    return plan


def load_orders(conn: duckdb.DuckDBPyConnection, day: str) -> None:
    conn.execute("INSERT INTO raw.orders (order_id, _loaded_at) VALUES (?, now()::TIMESTAMP)", [f"o-{day}"])


def test_the_second_night_leaves_out_the_nodes_of_unchanged_tables(warehouse):
    first = night(warehouse)
    assert first.skipped == []  # nothing recorded yet
    assert first.reasons["not built here before (or its last build failed)"] > 0

    load_orders(warehouse, "2025-07-02")
    second = night(warehouse, {"TRADEWINDS_DBT_MIN_DATE": "2025-07-02"})
    assert second.changed_sources == ["platform.orders"]
    assert second.unchanged_sources == ["policy.vat_rates"]
    assert second.skipped == [
        "model.tw.int_vat_by_market",
        "model.tw.int_vat_noted",
        # A view over the orders: new rows leave its SQL as it was.
        "model.tw.stg_orders",
        "model.tw.stg_vat",
        "model.tw.stg_vat_clock",
        "seed.tw.markets",
        # The windowed test reads tonight's window, but vat_rates wrote no row in it.
        "test.tw.not_null_stg_vat_rate",
    ]
    # Built: what is built or tested from the orders' rows, the mart and its test, what reads the
    # clock, the view whose SQL reads the window.
    assert {"model.tw.int_order_taxes", "test.tw.relationships_orders_vat"} <= set(second.signatures) - set(
        second.skipped
    )
    summary = second.summary(manifest())
    assert "1 data tests, 1 seeds, 2 table models, 3 view models" in summary
    assert second.reasons["marts and their tests"] == 2


def test_a_changed_table_its_code_or_the_window_rebuild_what_they_feed(warehouse):
    night(warehouse)
    # Same everything: all but the always-built and the clock readers are left out.
    again = night(warehouse)
    assert "model.tw.int_vat_windowed" in again.skipped and "model.tw.stg_orders" in again.skipped
    assert "model.tw.int_vat_today" not in again.skipped and "model.tw.int_from_clock" not in again.skipped
    assert "model.tw.vat_mart" not in again.skipped

    # Another window: the model reading it is built again; the tests ignore the window.
    moved = night(warehouse, {"TRADEWINDS_DBT_MIN_DATE": "2025-07-03"})
    assert "model.tw.int_vat_windowed" not in moved.skipped
    assert "test.tw.not_null_stg_vat_rate" in moved.skipped

    # A load that only deletes changes the count: everything built or tested from vat_rates runs
    # (the view over it keeps its SQL).
    warehouse.execute("DELETE FROM raw.vat_rates")
    emptied = night(warehouse, {"TRADEWINDS_DBT_MIN_DATE": "2025-07-03"})
    assert emptied.changed_sources == ["policy.vat_rates"]
    assert not {"model.tw.int_vat_by_market", "test.tw.not_null_stg_vat_rate"} & set(emptied.skipped)
    assert "model.tw.stg_vat" in emptied.skipped

    # Another build key (the project's files, dbt's version, the vars): everything runs.
    changed = night(warehouse, {"TRADEWINDS_DBT_MIN_DATE": "2025-07-03"}, key="other code")
    assert changed.skipped == []
    assert changed.reasons["inputs or code changed"] > 0


def test_a_view_is_built_again_only_when_its_definition_changes(warehouse):
    """A view stores its SQL: it is left out whatever its parents' rows did or whether they are
    built tonight, and built again when its code, a parent's code, the environment variables its
    SQL reads or a raw table's columns change."""
    night(warehouse)
    load_orders(warehouse, "2025-07-02")
    plan = night(warehouse)
    assert "model.tw.stg_orders" in plan.skipped and "model.tw.int_order_taxes" not in plan.skipped

    # Its raw table's columns change: the view is built again (and it is built, not only tested).
    warehouse.execute("ALTER TABLE raw.orders ADD COLUMN channel VARCHAR")
    altered = night(warehouse)
    assert "model.tw.stg_orders" not in altered.skipped
    assert "model.tw.stg_orders" in night(warehouse).skipped

    # A parent's code changes: the view over it is built again.
    m = manifest()
    m["nodes"]["model.tw.int_vat_noted_view"] = _node("model", "int_vat_noted_view", ["model.tw.int_vat_noted"])
    fingerprints = u.source_fingerprints(warehouse, m)
    schemas = u.source_schemas(warehouse, m)
    before = u.node_signatures(m, fingerprints, {}, "k", schemas)
    m["nodes"]["model.tw.int_vat_noted"]["checksum"] = {"name": "sha256", "checksum": "edited"}
    after = u.node_signatures(m, fingerprints, {}, "k", schemas)
    assert before["model.tw.int_vat_noted_view"] != after["model.tw.int_vat_noted_view"]
    # New rows under it change the signature of the table it reads, never its own.
    load_orders(warehouse, "2025-07-03")
    moved = u.node_signatures(m, u.source_fingerprints(warehouse, m), {}, "k", schemas)
    assert moved["model.tw.stg_orders"] == after["model.tw.stg_orders"]
    assert moved["model.tw.int_order_taxes"] != after["model.tw.int_order_taxes"]


def test_a_node_is_built_when_its_relation_is_gone_and_so_is_all_it_feeds(warehouse):
    night(warehouse)
    warehouse.execute("DROP TABLE staging.stg_vat")
    plan = night(warehouse)
    assert plan.reasons["its relation is missing"] == 1
    assert not {"model.tw.stg_vat", "model.tw.int_vat_by_market", "test.tw.not_null_stg_vat_rate"} & set(plan.skipped)


def test_a_failed_build_leaves_its_nodes_unrecorded(warehouse):
    """The records of the nodes a build runs are forgotten before it starts; a node that failed
    (or a build killed half-way) is built again the next night."""
    m = manifest()
    night(warehouse)
    fingerprints = u.source_fingerprints(warehouse, m)
    signatures = u.node_signatures(m, fingerprints, {}, "k2", u.source_schemas(warehouse, m))
    plan = u.plan_skips(m, signatures, u.read_records(warehouse), u.existing_relations(warehouse), fingerprints)
    u.forget(warehouse, [n for n in signatures if n not in plan.skipped])
    results = {
        "results": [
            {"unique_id": "model.tw.stg_vat", "status": "success"},
            {"unique_id": "test.tw.not_null_stg_vat_rate", "status": "fail"},
            {"unique_id": "seed.tw.markets", "status": "error"},
        ]
    }
    assert u.record(warehouse, results, signatures, fingerprints, "run-2") == 1
    records = u.read_records(warehouse)
    assert records["model.tw.stg_vat"] == signatures["model.tw.stg_vat"]
    assert "test.tw.not_null_stg_vat_rate" not in records and "seed.tw.markets" not in records
    nxt = u.plan_skips(m, signatures, records, u.existing_relations(warehouse), fingerprints)
    assert "test.tw.not_null_stg_vat_rate" not in nxt.skipped
    assert "model.tw.stg_vat" in nxt.skipped


def test_a_table_without_loaded_at_leaves_nothing_out(warehouse):
    warehouse.execute("ALTER TABLE raw.vat_rates DROP COLUMN _loaded_at")
    night(warehouse)
    plan = night(warehouse)
    assert not any("vat" in n for n in plan.skipped)
    assert u.source_fingerprints(warehouse, manifest())["source.tw.policy.vat_rates"] is None


def test_the_prepared_manifest_is_trusted_only_with_the_files_it_was_parsed_from(tmp_path):
    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    (project / "models" / "a.sql").write_text("select 1")
    manifest_path = project / "target" / "manifest.json"
    manifest_path.write_text("{}")
    assert u.manifest_matches_files(project, manifest_path) is None  # never recorded
    u.write_files_digest(project, manifest_path)
    digest = u.manifest_matches_files(project, manifest_path)
    assert digest is not None
    (project / "target" / "run_results.json").write_text("{}")  # the target folder is not code
    (project / "README.md").write_text("how to run it")  # nor is a README
    (project / "models" / "__pycache__").mkdir()
    (project / "models" / "__pycache__" / "x.cpython-311.py").write_text("compiled")  # nor are caches
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text(str(dt.datetime.now()))
    assert u.manifest_matches_files(project, manifest_path) == digest
    (project / "models" / "a.sql").write_text("select 2")
    assert u.manifest_matches_files(project, manifest_path) is None


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def _context(subset: bool = False) -> SimpleNamespace:
    keys = {"stg_vat": "staging/stg_vat"}
    assets_def = SimpleNamespace(
        keys_by_output_name=keys if subset else {**keys, "stg_orders": "staging/stg_orders"},
        node_keys_by_output_name={**keys, "stg_orders": "staging/stg_orders"},
        check_specs_by_output_name={},
        node_check_specs_by_output_name={},
    )
    return SimpleNamespace(assets_def=assets_def, log=_Log())


def test_the_dbt_step_leaves_out_nothing_until_the_manifest_matches_the_files(tmp_path, monkeypatch):
    """The dbt asset's planning (``plan_unchanged``) on a real warehouse: an unprepared project,
    a subset from the UI and the setting turned off leave nothing out; a prepared one does."""
    from orchestration.defs.transform import plan_unchanged
    from orchestration.lib.settings import get_settings
    from orchestration.lib.warehouse import WarehouseResource

    project = SimpleNamespace(project_dir=tmp_path / "dbt", manifest_path=tmp_path / "dbt" / "target" / "manifest.json")
    (project.project_dir / "models").mkdir(parents=True)
    (project.project_dir / "target").mkdir()
    (project.project_dir / "models" / "stg_vat.sql").write_text("select 1")
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    with resource.connect() as conn:
        conn.execute("CREATE SCHEMA raw; CREATE SCHEMA staging; CREATE SCHEMA reference; CREATE SCHEMA marts")
        conn.execute("CREATE TABLE raw.vat_rates (rate DOUBLE, _loaded_at TIMESTAMP)")
        conn.execute("CREATE TABLE raw.orders (order_id VARCHAR, _loaded_at TIMESTAMP)")
        for name in ("stg_vat", "stg_orders", "int_vat_by_market", "int_vat_noted", "stg_vat_clock"):
            conn.execute(f"CREATE TABLE staging.{name} (x INTEGER)")
        conn.execute("CREATE TABLE reference.markets (x INTEGER)")
    settings = get_settings()
    m = manifest()

    def plan(context: SimpleNamespace) -> u.SkipPlan | None:
        found = plan_unchanged(context, settings, m, project, resource, ["build"], ["not_null_vat_mart"])
        if found is not None:  # the build "passed" every node it ran
            ran = [{"unique_id": n, "status": "success"} for n in found.signatures if n not in found.skipped]
            with resource.connect() as conn:
                u.record(conn, {"results": ran}, found.signatures, found.fingerprints, "run")
        return found

    unprepared = _context()
    plan(unprepared)
    again = _context()
    assert plan(again).skipped == []
    assert any("run `tradewinds prepare`" in line for line in again.log.lines)

    # Prepared: the records of those nights are read (they name the files they were built from,
    # and a node whose graph the stale manifest got wrong has another signature now).
    u.write_files_digest(project.project_dir, project.manifest_path)
    prepared = _context()
    found = plan(prepared)
    assert "test.tw.not_null_vat_mart" not in found.signatures  # left to the gates: never run, never counted
    assert {"model.tw.stg_vat", "seed.tw.markets", "model.tw.stg_orders"} <= set(found.skipped)
    assert any(line.startswith(f"dbt: {len(found.skipped)} of 1") for line in prepared.log.lines)
    assert not any("tradewinds prepare" in line for line in prepared.log.lines)

    subset = _context(subset=True)
    assert plan_unchanged(subset, settings, m, project, resource, ["build"], []) is None
    monkeypatch.setattr(settings.dbt, "skip_unchanged", False)
    assert plan_unchanged(_context(), settings, m, project, resource, ["build"], []) is None


def test_no_node_of_the_project_reads_the_clock() -> None:
    """A node whose code or macros read the clock (``current_timestamp()``, ``now()``...) and all
    it feeds are built every night. In the project's own code that is a choice to make knowingly:
    one such call in the Spark branch of ``policy_history`` once kept 128 of its 303 models and
    tests in every nightly build. Reading the clock in a view is fine (the view stores SQL); list
    a node here with the reason if it must read the clock."""
    import json

    from orchestration.defs.transform import dbt_project

    manifest = json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))
    fingerprints = {source: "rows" for source in manifest["sources"]}
    signatures = u.node_signatures(manifest, fingerprints, {}, "key", {source: "columns" for source in fingerprints})
    assert len(signatures) > 200
    assert sorted(n for n, signature in signatures.items() if signature is None) == []
