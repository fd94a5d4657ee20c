"""The code location loads, with one asset group per domain, the nightly job and schedule."""

from __future__ import annotations

import json

import dagster as dg

from orchestration.defs.ingest.partitions import daily_partitions
from orchestration.defs.transform import (
    TradewindsTranslator,
    build_dbt_args,
    dbt_environment,
    group_from_path,
    model_schema,
    prune_invocations,
    run_window,
    window_env,
)
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import Settings, get_settings
from orchestration.lib.warehouse import WarehouseResource

DOMAIN_GROUPS = {
    "platform",
    "freight",
    "policy",
    "carbon",  # ingest, one group per source family
    "staging",
    "intermediate",
    "selection",
    "service",
    "risk",  # dbt
    "forecast",
    "alerts",
    "reference",
}


def test_definitions_load_with_a_group_per_domain(sample_env):
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.materializable_asset_keys}
    assert groups >= DOMAIN_GROUPS
    for table in RAW_TABLES:
        assert dg.AssetKey(["raw", table]) in graph.materializable_asset_keys
    # The job's daily partitions are inferred from its assets (define_asset_job's partitions_def is deprecated).
    assert defs.resolve_job_def("nightly").partitions_def == daily_partitions
    assert defs.resolve_schedule_def("nightly_schedule").cron_schedule == "0 2 * * *"
    assert defs.resolve_sensor_def("oncall_run_failure").name == "oncall_run_failure"
    # dbt tests are asset checks too
    check_keys = graph.asset_check_keys
    assert any(k.asset_key.path[0] == "marts" for k in check_keys)


def test_module_import_does_no_work(monkeypatch):
    """Importing the definitions module must not read settings (nor, through them, parse dbt)."""
    import importlib

    import orchestration.definitions as mod
    import orchestration.lib.settings as settings_mod

    def forbidden():
        raise AssertionError("settings read at import time")

    monkeypatch.setattr(settings_mod, "get_settings", forbidden)
    try:
        importlib.reload(mod)
    finally:
        monkeypatch.undo()
        importlib.reload(mod)


def test_translator_keys_and_groups_come_from_dbt_metadata():
    t = TradewindsTranslator()
    source = {"resource_type": "source", "name": "orders", "source_name": "platform"}
    assert t.get_asset_key(source) == dg.AssetKey(["raw", "orders"])
    model = {
        "resource_type": "model",
        "name": "risk_lane_weekly",
        "config": {"schema": "marts"},
        "fqn": ["tradewinds", "marts", "risk", "risk_lane_weekly"],
        "original_file_path": "models/marts/risk/risk_lane_weekly.sql",
    }
    assert t.get_asset_key(model) == dg.AssetKey(["marts", "risk_lane_weekly"])
    assert t.get_group_name(model) == "risk"
    assert group_from_path("models/staging/platform/stg_platform__orders.sql") == "staging"
    assert group_from_path("seeds/markets.csv") == "reference"
    assert group_from_path("analyses/x.sql") is None
    assert model_schema({"fqn": ["tradewinds", "intermediate", "x", "int_x"], "config": {}}) == "intermediate"


def test_dbt_command_carries_thresholds_from_settings(monkeypatch):
    monkeypatch.setenv("TRADEWINDS_THRESHOLDS__FREIGHT_SPIKE_WOW_PCT", "30")
    args = build_dbt_args(Settings())
    assert args[0] == "build" and args[-2] == "--vars"
    assert json.loads(args[-1])["freight_spike_wow_pct"] == 30


def test_dbt_build_gets_the_run_window_and_skips_unit_tests():
    """The run's days reach dbt as the incremental models' window; unit tests stay in CI."""
    start, end = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
    assert run_window({start: "2025-06-01", end: "2025-06-30"}) == ("2025-06-01", "2025-06-30")
    assert run_window({"dagster/partition": "2025-06-30"}) == ("2025-06-30", "2025-06-30")
    assert run_window({"team": "data-engineering"}) is None
    assert window_env(("2025-06-29", "2025-06-30")) == {
        "TRADEWINDS_DBT_MIN_DATE": "2025-06-29",
        "TRADEWINDS_DBT_MAX_DATE": "2025-06-30",
        "TRADEWINDS_DBT_WINDOWED": "1",
    }
    # No window: all cleared, so a window of an earlier run in this process never leaks.
    assert window_env(None) == {
        "TRADEWINDS_DBT_MIN_DATE": "",
        "TRADEWINDS_DBT_MAX_DATE": "",
        "TRADEWINDS_DBT_WINDOWED": "",
    }
    args = build_dbt_args(Settings())
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"


def test_every_threshold_dbt_reads_comes_from_settings(monkeypatch):
    """Alerts recompute from settings; the marts' flags must use the same thresholds."""
    monkeypatch.setenv("TRADEWINDS_THRESHOLDS__TRANSIT_DELAY_HOURS", "72")
    monkeypatch.setenv("TRADEWINDS_THRESHOLDS__SUPPLIER_CONCENTRATION_SHARE", "0.9")
    passed = json.loads(build_dbt_args(Settings())[-1])
    assert passed["transit_delay_hours"] == 72
    assert passed["supplier_concentration_share"] == 0.9
    assert passed["tickets_restatement_days"] == 45
    assert {"add_to_cart_surge_rate", "add_to_cart_surge_days", "first_response_sla_hours"} <= passed.keys()


def test_workspace_loads_in_dagster_cli(sample_env, tmp_path):
    """What `dagster dev -w workspace.yaml` loads, validated by Dagster's own CLI."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dagster = Path(sys.executable).parent / "dagster"
    home = tmp_path / "dagster_home"
    home.mkdir()
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(root / "workspace.yaml")],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_old_dbt_build_folders_are_pruned(tmp_path):
    """Each build leaves ~30 MB under dbt_project/target: only the newest are kept."""
    import os

    for age, name in enumerate(["dbt_models-ccc-3", "dbt_models-bbb-2", "dbt_models-aaa-1"]):
        folder = tmp_path / name
        (folder / "compiled").mkdir(parents=True)
        os.utime(folder, (1_700_000_000 - age * 86400, 1_700_000_000 - age * 86400))
    (tmp_path / "partial_parse.msgpack").write_bytes(b"state")
    removed = prune_invocations(tmp_path, keep=2)
    assert [p.name for p in removed] == ["dbt_models-aaa-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dbt_models-bbb-2",
        "dbt_models-ccc-3",
        "partial_parse.msgpack",
    ]


def test_the_dbt_resource_knows_dbts_version_without_running_dbt(monkeypatch):
    """dagster-dbt ran `dbt --version` (2.6 s) before every build; ours reads dbt-core's metadata."""
    import importlib.metadata
    from unittest import mock

    from dagster_dbt import DbtCliResource

    from orchestration.defs.transform import DBT_PROJECT_DIR, TradewindsDbtCliResource, dbt_executable

    # The override replaces a private member of dagster-dbt: if a release renames it, ours is dead code.
    assert "_cli_version" in vars(DbtCliResource), "dagster-dbt no longer has _cli_version: revisit the override"

    resource = TradewindsDbtCliResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable())
    with mock.patch("dagster_dbt.core.resource.check_output", side_effect=AssertionError("dbt --version ran")):
        found = resource._cli_version
    assert str(found) == importlib.metadata.version("dbt-core") and found.major == 1


def test_dbt_process_environment_comes_from_the_settings(monkeypatch, tmp_path):
    """dbt's threads are settings dbt.threads; DuckDB's memory limit and threads the warehouse's."""
    monkeypatch.setenv("TRADEWINDS_DBT__THREADS", "6")
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"), threads=1, memory_limit="1GB")
    env = dbt_environment(Settings(), warehouse, ("2025-06-30", "2025-06-30"))
    assert env["TRADEWINDS_DBT_THREADS"] == "6"
    assert env["TRADEWINDS_DUCKDB_MEMORY_LIMIT"] == "1GB"
    assert env["TRADEWINDS_DUCKDB_THREADS"] == "1"
    assert env["TRADEWINDS_WAREHOUSE"] == str(tmp_path / "w.duckdb")
    assert env["TRADEWINDS_DBT_MIN_DATE"] == env["TRADEWINDS_DBT_MAX_DATE"] == "2025-06-30"
    monkeypatch.delenv("TRADEWINDS_DBT__THREADS")
    default = dbt_environment(Settings(), WarehouseResource(path="w.duckdb"), None)
    assert default["TRADEWINDS_DBT_THREADS"] == "4"
    assert "TRADEWINDS_DUCKDB_MEMORY_LIMIT" not in default
    assert "TRADEWINDS_DUCKDB_THREADS" not in default


def test_forecast_head_start_begins_when_the_dbt_build_is_done(monkeypatch, tmp_path):
    """The nightly begins the forecasts' head start after the dbt step (not before: memory peak), on
    the run's warehouse, and the forecast steps run after the other steps ready to run."""
    from orchestration.defs import jobs
    from orchestration.defs.forecast import assets as forecast_assets

    begun: list[tuple[object, int | None]] = []

    def start(conn, settings):
        begun.append((conn.execute("SELECT current_database()").fetchone()[0], settings.workers))
        return {"demand": 3}

    monkeypatch.setattr(forecast_assets, "start_head_start", start)
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))

    def after(op_name: str) -> None:
        op = dg.op(name=op_name)(lambda: None)
        with dg.build_hook_context(op=op, resources={"warehouse": warehouse}) as context:
            jobs.after_step(context)

    after("raw__orders")
    assert begun == []
    after(jobs.HEAD_START_AFTER_STEP)
    assert begun == [("w", None)]
    get_settings.cache_clear()
    nightly = dg.Definitions(
        jobs=jobs.build_jobs_and_schedules()[0], resources={"warehouse": warehouse}
    ).resolve_job_def(jobs.NIGHTLY_JOB)
    assert jobs.after_step in nightly.hook_defs
    for asset in (forecast_assets.demand_forecast, forecast_assets.freight_rate_forecast):
        assert asset.op.tags["dagster/priority"] == "-1"
