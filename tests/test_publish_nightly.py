"""The real nightly job on the SF 0.01 sample, with a BI reader reading the publication all along.

One warehouse and one Dagster instance, six runs:

1. the history up to 2025-06-27: every gate passes, release 1 is published;
2. one day (06-28), clean: release 2 replaces it;
3. one day (06-29) with an implausible order line (a EUR unit price of 250,000): the orders
   gate fails, nothing downstream runs, release 2 stays; on-call gets a run page and a gate page;
4. the next scheduled night (the schedule's 2025-07-01 02:00 tick, partition 06-30) on clean
   data: tonight's gates pass, but 06-29's failed rows are still in ``raw.orders``; the
   ``upstream_gates`` checks keep the demand forecast and the publication from running;
5. 06-29 fixed and reloaded with 06-30, where an order line now names a SKU missing from the
   catalog: the raw gates pass (the 06-29 failure is closed), a dbt relationships test fails:
   the dbt step fails and nothing reading the marts runs;
6. a later forecast refresh that does not rebuild the marts (forecasts, alerts and the marts'
   ``upstream_gates`` checks only): the failed dbt test still keeps the demand forecast from running.

A separate process reads ``published/current/marts.duckdb`` in a loop from before run 1 to the
end: no read error, every read sees one night (the publication's run id on every Parquet file
it reads, row counts as published, no order day after the as-of date), and only runs 1 and 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration.defs.alerts import page_failed_gates, page_failed_run
from orchestration.defs.jobs import NIGHTLY_JOB
from orchestration.defs.quality import open_gate_failures
from orchestration.lib.settings import get_settings
from tests.conftest import SAMPLE_END, SAMPLE_ENV, apply_env, restore_env

pytestmark = pytest.mark.slow

DEMAND_FORECAST = dg.AssetKey(["forecast", "demand_forecast"])
PUBLISH = dg.AssetKey(["publish", "bi_release"])
DOCS = dg.AssetKey(["quality", "gx_data_docs"])
ORDERS_GATE = dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "gx_raw_orders")
DAY1 = SAMPLE_END - dt.timedelta(days=3)  # 06-27: end of the first run
DAY2, DAY3, DAY4 = (SAMPLE_END - dt.timedelta(days=n) for n in (2, 1, 0))
BAD_LINE = "BAD-PRICE-1"
UNKNOWN_SKU = "SKU-NOT-IN-CATALOG"
#: What is tested here is across runs: shorter histories and one backtest origin per forecast
#: (the forecasts' quality is tested in test_forecast.py) keep six nights affordable.
ENV = {
    **SAMPLE_ENV,
    "TRADEWINDS_SAMPLE__HISTORY_DAYS": "120",
    "TRADEWINDS_SAMPLE__FREIGHT_START": "2024-06-03",
    "TRADEWINDS_FORECAST__BACKTEST_ORIGINS": "1",
    "TRADEWINDS_FORECAST__FREIGHT_BACKTEST_ORIGINS": "1",
    "TRADEWINDS_FORECAST__PLOT_SERIES": "0",
    "TRADEWINDS_PUBLISH__KEEP_RELEASES": "2",
}

READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    root, stop, out = sys.argv[1:4]
    current = os.path.join(root, "current", "marts.duckdb")
    log = open(out, "a", buffering=1)
    while not os.path.exists(stop):
        if not os.path.exists(current):
            log.write(json.dumps({"kind": "none"}) + "\\n")
            time.sleep(0.2)
            continue
        try:
            conn = duckdb.connect(current, read_only=True)
            try:
                passes = []
                for _ in range(2):  # the same connection twice, a switch may happen in between
                    run_id, as_of = conn.execute("SELECT run_id, as_of_date FROM tradewinds.publication").fetchone()
                    release = conn.execute("SELECT release FROM tradewinds.publication").fetchone()[0]
                    tables = conn.execute("SELECT table_name, rows FROM tradewinds.published_tables").fetchall()
                    seen = {}
                    for name, rows in tables:
                        view = name.split(".")[-1]
                        count = conn.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0]
                        files = []
                        for file, file_rows, written_by in conn.execute(
                            "SELECT file, rows, written_by_run_id FROM tradewinds.published_files "
                            "WHERE table_name = ?", [name]).fetchall():
                            kv = dict(conn.execute(
                                "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)", [file]).fetchall())
                            n = conn.execute(
                                "SELECT sum(num_rows) FROM parquet_file_metadata(?)", [file]).fetchone()[0]
                            files.append([release in file.split(os.sep), n == file_rows, written_by,
                                          kv.get("tradewinds_run_id"), kv.get("tradewinds_as_of")])
                        seen[name] = [count, rows, files]
                    late = conn.execute(
                        "SELECT count(*) FROM demand_sku_market_daily WHERE order_date > ?", [as_of]).fetchone()[0]
                    huge = conn.execute(
                        "SELECT count(*) FROM demand_sku_market_daily WHERE avg_unit_price_usd > 100000").fetchone()[0]
                    passes.append({"run_id": run_id, "as_of": str(as_of), "tables": seen, "late": late, "huge": huge})
                    time.sleep(0.05)
            finally:
                conn.close()
            log.write(json.dumps({"kind": "read", "passes": passes}) + "\\n")
        except Exception as exc:
            log.write(json.dumps({"kind": "error", "error": f"{type(exc).__name__}: {exc}"}) + "\\n")
        time.sleep(0.05)
    """
)


def nightly_job():
    from orchestration.definitions import build_definitions

    return build_definitions().resolve_job_def(NIGHTLY_JOB)


def run_range(instance: dg.DagsterInstance, first: dt.date, last: dt.date) -> dg.ExecuteInProcessResult:
    return nightly_job().execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def run_scheduled(instance: dg.DagsterInstance, tick: dt.datetime) -> dg.ExecuteInProcessResult:
    """What the 02:00 schedule launches at ``tick``, executed in process."""
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    schedule = defs.resolve_schedule_def("nightly_schedule")
    [request] = schedule.evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
    ).run_requests
    return defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
        instance=instance, raise_on_error=False, partition_key=request.partition_key, tags=dict(request.tags)
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    }


def orders_file(data: Path, day: dt.date) -> Path:
    return get_settings().landing / "platform" / "orders" / f"{day.isoformat()}.csv"


def add_order_line(data: Path, day: dt.date, **changes: str) -> None:
    """Append a copy of the day's first order line with ``changes`` to its landing file.

    The day is landed first if no run has landed it yet (what the sample connector would
    write; it never overwrites a landed day).
    """
    from orchestration.lib.sample import write_landing

    path = orders_file(data, day)
    if not path.exists():
        sample = get_settings().sample
        write_landing(get_settings().landing, day, day, seed=sample.seed, scale=sample.scale, tables=["orders"])
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, first = reader.fieldnames, next(reader)
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=fields, lineterminator="\n").writerow({**first, **changes})


def remove_order_line(data: Path, day: dt.date, order_line_id: str) -> None:
    path = orders_file(data, day)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith(order_line_id + ",")))


def read_outbox() -> list[dict[str, Any]]:
    path = get_settings().outbox
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("publish_nightly")
    data = base / "data"
    previous = apply_env({**ENV, "TRADEWINDS_DATA_DIR": str(data)})
    instance = dg.DagsterInstance.ephemeral()
    published = get_settings().published
    stop, reads = base / "stop-reader", base / "reads.jsonl"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(published), str(stop), str(reads)])
    out: dict[str, Any] = {"data": data, "instance": instance, "published": published, "times": {}}
    try:
        t0 = time.monotonic()
        out["r1"] = run_range(instance, get_settings().sample.resolved_start_date(), DAY1)
        out["release1"] = json.loads((published / "current.json").read_text()) if out["r1"].success else None
        out["r2"] = run_range(instance, DAY2, DAY2)
        out["release2"] = json.loads((published / "current.json").read_text()) if out["r2"].success else None

        add_order_line(data, DAY3, order_line_id=BAD_LINE, unit_price="250000.0", currency="EUR", quantity="1")
        out["r3"] = run_range(instance, DAY3, DAY3)
        before = len(read_outbox())  # freight-spike alerts of the good nights are in the outbox too
        page_failed_run(instance, out["r3"].run_id, get_settings())  # what `tradewinds nightly` does
        out["r3_pages"] = read_outbox()[before:]

        out["r4"] = run_scheduled(instance, dt.datetime.combine(DAY4 + dt.timedelta(days=1), dt.time(2), dt.UTC))
        out["r4_gate_pages"] = page_failed_gates(instance, out["r4"].run_id, get_settings())

        remove_order_line(data, DAY3, BAD_LINE)
        add_order_line(data, DAY4, order_line_id="UNKNOWN-SKU-1", sku=UNKNOWN_SKU)
        out["r5"] = run_range(instance, DAY3, DAY4)
        out["r5_gate_pages"] = page_failed_gates(instance, out["r5"].run_id, get_settings())
        out["orders_gate_after_r5"] = open_gate_failures(instance, [ORDERS_GATE])

        out["r6"] = forecast_refresh(instance)
        out["times"]["total"] = time.monotonic() - t0
        stop_reader(reader, stop)
        out["reads"] = [json.loads(line) for line in reads.read_text().splitlines()] if reads.exists() else []
        yield out
    finally:
        stop_reader(reader, stop)
        restore_env(previous)


def stop_reader(reader: subprocess.Popen, stop: Path) -> None:
    stop.touch()
    try:
        reader.wait(timeout=30)
    except subprocess.TimeoutExpired:
        reader.kill()


def forecast_refresh(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The demand forecast and the alerts again without rebuilding the marts, with the marts' upstream gates."""
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    readers = [DEMAND_FORECAST, *(k for k in graph.materializable_asset_keys if graph.get(k).group_name == "alerts")]
    gates = [k for k in graph.asset_check_keys if k.name == "upstream_gates"]
    job = dg.define_asset_job(
        "forecast_refresh",
        selection=dg.AssetSelection.assets(*readers) | dg.AssetSelection.checks(*gates),
        executor_def=dg.in_process_executor,
    )
    refreshed = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    return refreshed.resolve_job_def("forecast_refresh").execute_in_process(instance=instance, raise_on_error=False)


# ---------------------------------------------------------------- the good nights


def test_good_nights_publish_a_release_each(nights) -> None:
    for name in ("r1", "r2"):
        result = nights[name]
        failures = [e.message for e in result.all_events if e.is_step_failure]
        assert result.success, failures
        assert {PUBLISH, DEMAND_FORECAST, DOCS} <= materialized(result)
    release1, release2 = nights["release1"], nights["release2"]
    assert release1["run_id"] == nights["r1"].run_id and release1["as_of"] == DAY1.isoformat()
    assert release2["run_id"] == nights["r2"].run_id and release2["as_of"] == DAY2.isoformat()
    assert set(release2["tables"]) >= {
        "marts.selection_sku_market",
        "marts.demand_sku_market_daily",
        "marts.service_market_daily",
        "marts.risk_lane_weekly",
        "forecast.demand_forecast",
    }
    assert all(t["rows"] > 0 for t in release2["tables"].values())


def test_load_checks_compare_with_the_previous_load(nights) -> None:
    checks = {e.check_name: e for e in nights["r2"].get_asset_check_evaluations()}
    orders = {k: v.value for k, v in checks["gx_load_orders"].metadata.items()}
    assert checks["gx_load_orders"].passed
    assert orders["baseline"].startswith(f"run {nights['r1'].run_id[:8]}")
    assert orders["expected_days"] == 1 and orders["rows_min"] <= orders["rows_in_load"] <= orders["rows_max"]
    assert orders["latest_partition"] == DAY2.isoformat()
    first = {e.check_name: e for e in nights["r1"].get_asset_check_evaluations()}
    assert first["gx_load_orders"].metadata["baseline"].value.startswith("none")


def test_data_docs_are_built_into_the_named_folder(nights) -> None:
    index = nights["data"] / "gx" / "data_docs" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "load_orders" in html and "raw_orders" in html


# ---------------------------------------------------------------- the failed night


def test_failed_gate_stops_the_night_and_keeps_the_last_publication(nights) -> None:
    result = nights["r3"]
    assert not result.success
    gate = failed_checks(result)["raw/orders:gx_raw_orders"]
    assert (
        "unit_price" in gate.metadata["failed_expectations"].value
        and BAD_LINE in gate.metadata["failed_expectations"].value
    )
    assert not ({PUBLISH, DEMAND_FORECAST} & materialized(result))
    manifest = json.loads((nights["published"] / "current.json").read_text())
    assert manifest["run_id"] == nights["r2"].run_id


def test_failed_gate_pages_once_through_the_cli_path(nights) -> None:
    run_id = nights["r3"].run_id
    keys = [p["dedup_key"] for p in nights["r3_pages"]]
    assert keys == [f"failed_run:{run_id}", f"failed_gate:raw/orders:gx_raw_orders:{run_id}"]
    gate_page = nights["r3_pages"][1]
    assert gate_page["payload"]["partitions"] == DAY3.isoformat()
    assert gate_page["payload"]["failures"][0]["columns"] == ["unit_price"]
    assert gate_page["payload"]["data_docs"].endswith("index.html")
    # The next night the same gate is still failing (not reloaded): no second gate page.
    assert nights["r4_gate_pages"] == []


def test_a_failed_gate_keeps_the_next_scheduled_forecast_from_running(nights) -> None:
    result = nights["r4"]
    assert result.dagster_run.tags["dagster/schedule_name"] == "nightly_schedule"
    assert result.dagster_run.tags["dagster/partition"] == DAY4.isoformat()
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}
    assert checks["raw/orders:gx_raw_orders"].passed  # tonight's orders are fine
    blocked = checks["marts/demand_sku_market_daily:upstream_gates"]
    assert not blocked.passed
    assert "raw/orders:gx_raw_orders" in blocked.description and DAY3.isoformat() in blocked.description
    assert {k for k in failed_checks(result) if not k.endswith(":upstream_gates")} == set()
    assert DEMAND_FORECAST not in materialized(result)
    assert PUBLISH not in materialized(result)
    assert dg.AssetKey(["marts", "demand_sku_market_daily"]) in materialized(result)  # dbt itself ran


# ---------------------------------------------------------------- dbt tests


def test_a_failed_dbt_test_stops_the_readers_now_and_later(nights) -> None:
    same = nights["r5"]
    assert nights["orders_gate_after_r5"] == []  # 06-29 reloaded and passed: the raw failure is closed
    dbt_failures = [k for k in failed_checks(same) if not k.startswith(("raw/", "marts/"))]
    assert any("relationships" in k and "stg_platform__orders" in k for k in dbt_failures), dbt_failures
    assert not ({PUBLISH, DEMAND_FORECAST, dg.AssetKey(["alerts", "freight_spike_alerts"])} & materialized(same))
    assert any(p["dedup_key"].startswith("failed_gate:staging/stg_platform__orders:") for p in nights["r5_gate_pages"])

    later = nights["r6"]
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in later.get_asset_check_evaluations()}
    assert "dagster/partition" not in later.dagster_run.tags  # not a nightly: the marts were not rebuilt
    demand_gate = checks["marts/demand_sku_market_daily:upstream_gates"]
    assert not demand_gate.passed and "stg_platform__orders" in demand_gate.description
    assert DEMAND_FORECAST not in materialized(later)


# ---------------------------------------------------------------- the BI reader


def test_reader_never_failed_and_never_mixed_two_nights(nights) -> None:
    reads = nights["reads"]
    errors = [r["error"] for r in reads if r["kind"] == "error"]
    assert errors == []
    done = [r for r in reads if r["kind"] == "read"]
    assert len(done) >= 20, f"only {len(done)} reads"
    good = {nights["r1"].run_id: DAY1.isoformat(), nights["r2"].run_id: DAY2.isoformat()}
    seen, linked = set(), set()
    for read in done:
        first, second = read["passes"]
        assert first["run_id"] == second["run_id"]  # one connection, one night, even across a switch
        for one in read["passes"]:
            assert one["run_id"] in good, "a failed night was published"
            assert one["as_of"] == good[one["run_id"]]
            for name, (count, rows, files) in one["tables"].items():
                assert count == rows and files, name
                for in_release, rows_match, written_by, kv_run, kv_as_of in files:
                    # Every file of the release folder, written this night or linked unchanged from the
                    # good night before; the file says which.
                    assert in_release and rows_match and kv_run == written_by, name
                    assert written_by in good and kv_as_of == good[written_by], name
                    if written_by != one["run_id"]:
                        linked.add(name)
            assert one["late"] == 0 and one["huge"] == 0
            seen.add(one["run_id"])
    assert seen == set(good), "the reader should have seen both good nights"
    # The second night is one day: the months before it and the tables it left unchanged are linked.
    assert "marts.traffic_sku_market_daily" in linked and "marts.demand_sku_market_daily" in linked


def test_releases_on_disk(nights) -> None:
    published = nights["published"]
    releases = sorted(p.name for p in (published / "releases").iterdir() if not p.name.startswith("."))
    assert len(releases) == 2 and releases[-1].endswith(nights["r2"].run_id)
    assert (published / "current").resolve() == published / "releases" / releases[-1]
    conn = duckdb.connect(str(published / "current" / "marts.duckdb"), read_only=True)
    try:
        assert conn.execute("SELECT run_id FROM tradewinds.publication").fetchone()[0] == nights["r2"].run_id
        assert conn.execute("SELECT count(*) FROM marts.selection_sku_market").fetchone()[0] > 0
    finally:
        conn.close()
    assert (published / "current" / "marts.duckdb").stat().st_mode & 0o222 == 0  # files are read-only
