"""End to end: the whole nightly graph in-process on the SF 0.01 sample, then a bad row.

The first run loads the full (shortened) sample history and builds every mart, forecast
and alert. The second run reruns one day after a bad row was dropped into that day's
orders export: the orders gate must fail and neither the forecast nor the alert may run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import build_definitions
from orchestration.defs.jobs import NIGHTLY_JOB
from orchestration.defs.transform import DBT_PROJECT_DIR
from orchestration.lib.settings import get_settings
from tests.conftest import SAMPLE_END, SAMPLE_ENV, apply_env, restore_env

pytestmark = pytest.mark.slow

FORECAST = dg.AssetKey(["forecast", "demand_forecast"])
FACTS_AND_DEMAND = """
    SELECT (SELECT count(*) FROM intermediate.int_order_lines_converted),
           (SELECT round(sum(net_revenue_usd), 4) FROM intermediate.int_order_lines_converted),
           (SELECT count(*) FROM marts.demand_sku_market_daily),
           (SELECT sum(units) FROM marts.demand_sku_market_daily)
"""
ALERT = dg.AssetKey(["alerts", "freight_spike_alerts"])


def run_range(start: dt.date, end: dt.date, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions().resolve_job_def(NIGHTLY_JOB)
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("e2e") / "data"
    previous = apply_env({**SAMPLE_ENV, "TRADEWINDS_DATA_DIR": str(data)})
    instance = dg.DagsterInstance.ephemeral()
    try:
        started = time.time()
        result = run_range(get_settings().sample.resolved_start_date(), SAMPLE_END, instance)
        yield {"result": result, "data": data, "instance": instance, "started": started}
    finally:
        restore_env(previous)


@pytest.fixture
def wh(nightly) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(nightly["data"] / "warehouse.duckdb"), read_only=True)
    yield conn
    conn.close()


def test_full_nightly_run_succeeds(nightly):
    result = nightly["result"]
    failures = [e.message for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert FORECAST in materialized
    assert ALERT in materialized
    for mart in ("selection_sku_market", "service_market_daily", "risk_lane_weekly", "demand_sku_market_daily"):
        assert dg.AssetKey(["marts", mart]) in materialized


def test_the_build_leaves_its_parse_state_for_the_next_night(nightly):
    """dbt's partial_parse.msgpack of tonight's build (nightly vars, warehouse path) is the project's now."""

    state = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    assert state.is_file() and state.stat().st_mtime >= nightly["started"]


def test_every_gate_passed(nightly):
    evaluations = nightly["result"].get_asset_check_evaluations()
    assert evaluations, "no asset checks ran"
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert not failed
    names = {e.check_name for e in evaluations}
    for family_table in ("orders", "freight_rates", "vat_rates", "emission_factors"):
        assert f"gx_raw_{family_table}" in names


def test_mart_tests_the_gates_repeat_are_left_to_the_gates(nightly):
    """The dbt build ran none of the mart tests a mart's GX gate repeats; the gates ran instead,
    and the mart tests they do not repeat (expressions, relationships to models) still ran."""
    from orchestration.defs.transform import dbt_project, tests_left_to_gates

    left = set(tests_left_to_gates(json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))))
    evaluated = {(e.asset_key.path[0], e.check_name) for e in nightly["result"].get_asset_check_evaluations()}
    assert left and not {name for _, name in evaluated} & left
    assert any(schema == "marts" and name.startswith("expression_is_true_") for schema, name in evaluated)
    assert {("marts", "gx_mart_risk_sku"), ("marts", "gx_mart_traffic_sku_market_daily")} <= evaluated


def test_raw_tables_loaded(wh):
    for table in (
        "orders",
        "catalog",
        "tickets",
        "reviews",
        "freight_rates",
        "vat_rates",
        "duty_rates",
        "emission_factors",
    ):
        assert wh.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0] > 0, table


def test_selection_mart_plausible(wh):
    rows, median_margin, bad_cost = wh.execute(
        """SELECT count(*), median(landed_margin_pct), count(*) FILTER (WHERE landed_cost_usd <= 0)
           FROM marts.selection_sku_market"""
    ).fetchone()
    assert rows > 0
    assert -50 < median_margin < 90
    assert bad_cost == 0
    markets = wh.execute("SELECT count(DISTINCT destination_country) FROM marts.selection_sku_market").fetchone()[0]
    assert markets >= 10


def test_service_mart_plausible(wh):
    rows, p50, p90, csat = wh.execute(
        """SELECT count(*), median(first_response_p50_hours), median(first_response_p90_hours), avg(csat_avg)
           FROM marts.service_market_daily"""
    ).fetchone()
    assert rows > 0
    assert 0 <= p50 <= p90 < 24 * 14
    assert 1 <= csat <= 5


def test_risk_mart_has_red_sea_spike(wh):
    rows, spikes = wh.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_spike) FROM marts.risk_lane_weekly"
    ).fetchone()
    assert rows > 0
    assert spikes > 0
    # Ocean FCL to Europe in July 2024 stands well above its level in 2023.
    ratio = wh.execute(
        """SELECT avg(rate_usd) FILTER (WHERE rate_week BETWEEN DATE '2024-07-01' AND DATE '2024-07-31')
                / avg(rate_usd) FILTER (WHERE rate_week BETWEEN DATE '2023-09-01' AND DATE '2023-10-31')
           FROM marts.risk_lane_weekly WHERE mode = 'ocean_fcl_40ft' AND destination_country IN ('DE', 'NL', 'FR')"""
    ).fetchone()[0]
    assert ratio > 2


def test_forecast_written(wh):
    rows, negatives, series = wh.execute(
        """SELECT count(*), count(*) FILTER (WHERE yhat_units < 0), count(DISTINCT (sku, destination_country))
           FROM forecast.demand_forecast"""
    ).fetchone()
    assert rows > 0 and negatives == 0
    assert series == 3  # TRADEWINDS_FORECAST__TOP_SERIES


def test_rerun_of_a_day_is_idempotent_and_bad_row_blocks_forecast_and_alert(nightly):
    """Runs after the checks above (file order): rerun one day with a bad order line."""
    data: Path = nightly["data"]
    day = SAMPLE_END
    previous = apply_env({**SAMPLE_ENV, "TRADEWINDS_DATA_DIR": str(data)})
    try:
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
            before = conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
            built_before = conn.execute(FACTS_AND_DEMAND).fetchone()
        # A clean rerun of the day replaces its rows: same count, no duplicates.
        clean = run_range(day, day, nightly["instance"])
        assert clean.success
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == before
            # The incremental facts recomputed that day only and came out the same.
            assert conn.execute(FACTS_AND_DEMAND).fetchone() == pytest.approx(built_before)
        # The policy tables did not change: the views over them (and their tests) were left out
        # of the build, the marts built from them were not, and the views are still there. The
        # orders did change: the view over them keeps its SQL (left out), the tables built from
        # it and its tests run.
        built = {e.asset_key for e in clean.get_asset_materialization_events()}
        assert dg.AssetKey(["staging", "stg_policy__vat_rates"]) not in built
        assert dg.AssetKey(["staging", "stg_platform__orders"]) not in built
        assert dg.AssetKey(["intermediate", "int_order_lines_converted"]) in built
        assert dg.AssetKey(["marts", "risk_market_policy"]) in built
        messages = [e.user_message for e in nightly["instance"].all_logs(clean.run_id) if e.step_key == "dbt_models"]
        assert any("left out as unchanged since their last build" in m and "view models" in m for m in messages)
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM staging.stg_policy__vat_rates").fetchone()[0] > 0
        invocation = next((DBT_PROJECT_DIR / "target").glob(f"dbt_models-{clean.run_id[:7]}-*"))
        ran = {r["unique_id"] for r in json.loads((invocation / "run_results.json").read_text())["results"]}
        assert "model.tradewinds.stg_policy__vat_rates" not in ran
        assert "model.tradewinds.stg_platform__orders" not in ran
        assert any(r.startswith("test.tradewinds.unique_stg_platform__orders_order_line_id") for r in ran)
        assert "model.tradewinds.selection_sku_market" in ran
        # A test between a rebuilt and a left-out model still runs (dbt's eager selection would drop it).
        assert "model.tradewinds.stg_platform__catalog" not in ran
        assert any(r.startswith("test.tradewinds.relationships_stg_platform__orders_sku__sku__ref_stg") for r in ran)
        compiled = invocation / "compiled"
        facts_sql = next(compiled.rglob("int_order_lines_converted.sql")).read_text()
        assert f"and cast('{day.isoformat()}' as date)" in facts_sql, "the day's window did not reach dbt"

        landing = data / "landing" / "platform" / "orders" / f"{day.isoformat()}.csv"
        with landing.open() as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames
            first = next(reader)
        bad = {**first, "order_line_id": "BAD-LINE-1", "unit_price": "-12.50"}
        with landing.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=fields, lineterminator="\n").writerow(bad)

        result = run_range(day, day, nightly["instance"])
        assert not result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        gate = checks["gx_raw_orders"]
        assert not gate.passed
        assert "unit_price" in json.dumps({k: str(v.value) for k, v in gate.metadata.items()})
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert FORECAST not in materialized
        assert ALERT not in materialized
        assert dg.AssetKey(["marts", "selection_sku_market"]) not in materialized
    finally:
        restore_env(previous)


def test_the_build_ran_in_the_runs_warm_dbt_process(nightly):
    """The nightly's dbt build was handed to the dbt process started with the run (``lib/warm_dbt.py``)."""
    run_id = nightly["result"].run_id
    messages = [e.user_message for e in nightly["instance"].all_logs(run_id) if e.step_key == "dbt_models"]
    assert any("warm dbt process" in m and "takes the command" in m for m in messages), messages[:20]
    assert any("tradewinds-dbt build" in m for m in messages)
    # It ran on the manifest that process parsed during the ingest (the nightly's vars, target and
    # environment were those the parse had).
    assert any("ran on the manifest its warm process parsed during the ingest" in m for m in messages), [
        m for m in messages if "parsed" in m
    ]
    # ...and the forecast workers' forkserver booted beside it (``transform.boot_forecast_workers``).
    assert any("forkserver booting beside the build" in m for m in messages)
