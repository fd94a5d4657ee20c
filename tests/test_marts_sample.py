"""The dbt project on the SF 0.01 sample data: full build, one-day incremental build, docs.

The raw tables are generated with the sample generator (``generate_arrow``, scale 0.01,
seed 42, up to 2025-06-30, freight/FX/carbon series from 2023) and loaded like the ingest
assets do (contract columns plus loader columns). Then:

- warehouse A: ``dbt build`` (seeds, snapshots, models and data tests; the unit tests run in
  tests/test_dbt_project.py) on all days;
- warehouse B: the days before 2025-06-30 built in full, then the 2025-06-30 load (its
  partitions, the restated tickets and shipments observed a day later, the reference
  snapshots) and a ``dbt build --vars {min_date, max_date}`` for that one day, as the nightly
  job runs it. Every mart (and every incremental model) of B must equal A's.

A also checks that the marts are populated with plausible values and that the hand-worked
example in ``dbt_project/docs/landed_cost_example.md`` matches the selection mart to the cent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.sample import generate_arrow
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.warehouse import RAW_SCHEMA, raw_table_ddl

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
LANDED_COST_DOC = DBT_PROJECT_DIR / "docs" / "landed_cost_example.md"

END = dt.date(2025, 6, 30)
START = END - dt.timedelta(days=399)
SERIES_START = dt.date(2023, 1, 2)
SCALE = 0.01
SEED = 42
LOADED_AT = "2025-07-01 02:00:00"

MARTS = (
    "demand_sku_market_daily",
    "selection_sku_market",
    "traffic_sku_market_daily",
    "service_market_daily",
    "service_sku_topic",
    "risk_lane_weekly",
    "risk_market_policy",
    "risk_policy_events",
    "risk_supplier_concentration",
    "risk_sku",
    "inventory_position",
    "shipment_transit",
)
INCREMENTAL = (
    "int_order_lines_converted",
    "int_tickets_measured",
    "int_reviews_flagged",
    "int_traffic_days_aggregated",
)


def load_table(conn: duckdb.DuckDBPyConnection, name: str, start: dt.date, end: dt.date, observed_on: dt.date) -> None:
    """Append the generated rows of raw.<name> for start..end with the loader columns."""
    table = RAW_TABLES[name]
    conn.register("generated", generate_arrow(name, start, end, SEED, SCALE, observed_on=observed_on))
    cols = ", ".join(f'"{c}"' for c in table.columns)
    part = f'CAST("{table.partition_column}" AS DATE)' if table.partition_column else "CAST(NULL AS DATE)"
    try:
        conn.execute(
            f'INSERT INTO {RAW_SCHEMA}."{name}" ({cols}, _partition_date, _source_file, _loaded_at) '
            f"SELECT {cols}, {part}, 'sample/{name}', TIMESTAMP '{LOADED_AT}' FROM generated"
        )
    finally:
        conn.unregister("generated")


def build_raw(path: Path, end: dt.date) -> None:
    """Every raw table of the contract with the sample rows up to ``end``, observed on ``end``."""
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        for name, table in RAW_TABLES.items():
            conn.execute(raw_table_ddl(table))
            load_table(conn, name, SERIES_START if table.series else START, end, observed_on=end)
    finally:
        conn.close()


def load_day(path: Path, day: dt.date) -> None:
    """The nightly load of ``day``: its partitions, the restated days of restating sources
    (tickets, shipments) as observed on ``day``, the reference snapshots and series again."""
    conn = duckdb.connect(str(path))
    try:
        for name, table in RAW_TABLES.items():
            if not table.daily_partitioned:
                conn.execute(f'DELETE FROM {RAW_SCHEMA}."{name}"')
                load_table(conn, name, SERIES_START if table.series else START, day, observed_on=day)
                continue
            first = day - dt.timedelta(days=table.restatement_days)
            conn.execute(f'DELETE FROM {RAW_SCHEMA}."{name}" WHERE _partition_date BETWEEN ? AND ?', [first, day])
            load_table(conn, name, first, day, observed_on=day)
    finally:
        conn.close()


def rewind(path: Path, day: dt.date) -> None:
    """The warehouse as the nightly load of the day before ``day`` left it: ``day``'s partitions
    dropped and the day before loaded again (restated tickets and shipments observed then)."""
    conn = duckdb.connect(str(path))
    try:
        for name, table in RAW_TABLES.items():
            if table.daily_partitioned:
                conn.execute(f'DELETE FROM {RAW_SCHEMA}."{name}" WHERE _partition_date >= ?', [day])
    finally:
        conn.close()
    load_day(path, day - dt.timedelta(days=1))


def dbt_command(args: list[str], warehouse: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """dbt against ``warehouse`` with target and logs in ``work`` (one per warehouse, so that two
    builds can run side by side)."""
    env = {**os.environ, "TRADEWINDS_WAREHOUSE": str(warehouse), "TRADEWINDS_DBT_THREADS": "2"}
    cmd = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    return cmd, env


def run_dbt(args: list[str], warehouse: Path, work: Path) -> subprocess.CompletedProcess[str]:
    cmd, env = dbt_command(args, warehouse, work)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200, cwd=work)


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]


NO_TESTS = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sample_dbt")
    work_full, work_inc = root / "full", root / "incremental"
    work_full.mkdir()
    work_inc.mkdir()
    full, incremental = root / "full.duckdb", root / "incremental.duckdb"
    build_raw(full, END)
    # B: the sample as the nightly job saw it the day before (tickets and shipments observed
    # then), built in full without tests (they run on A), then the END load and a one-day build.
    shutil.copyfile(full, incremental)
    rewind(incremental, END)
    # A's build (unit tests aside: they do not depend on the data and tests/test_dbt_project.py
    # runs them) runs beside B's first build.
    cmd, env = dbt_command(["build", "--exclude-resource-type", "unit_test"], full, work_full)
    with subprocess.Popen(
        cmd, env=env, cwd=work_full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as a:
        _ok(run_dbt(["build", *NO_TESTS], incremental, work_inc))
        output, _ = a.communicate(timeout=1200)
    assert a.returncode == 0, output[-8000:]
    load_day(incremental, END)
    window = f'{{"min_date": "{END}", "max_date": "{END}"}}'
    _ok(run_dbt(["build", "--vars", window, *NO_TESTS], incremental, work_inc))
    return {"full": full, "incremental": incremental, "work": work_inc}


@pytest.fixture
def wh(warehouses: dict[str, Path]):
    conn = duckdb.connect(str(warehouses["full"]), read_only=True)
    yield conn
    conn.close()


def _rounded_select(conn: duckdb.DuckDBPyConnection, relation: str) -> str:
    """SELECT of ``relation`` with doubles rounded to 1e-6 (parallel float sums may differ in
    the last bits between two runs)."""
    schema, table = relation.split(".")
    cols = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    exprs = [f'round("{c}", 6) AS "{c}"' if t in ("DOUBLE", "FLOAT") else f'"{c}"' for c, t in cols]
    return f"SELECT {', '.join(exprs)} FROM {relation}"


def test_one_day_incremental_build_equals_the_full_build(warehouses: dict[str, Path]) -> None:
    conn = duckdb.connect(str(warehouses["full"]), read_only=True)
    try:
        conn.execute(f"ATTACH '{warehouses['incremental']}' AS inc (READ_ONLY)")
        # Same raw data in both (else the comparison below would prove nothing about dbt).
        for name, table in RAW_TABLES.items():
            cols = ", ".join(f'"{c}"' for c in table.columns)
            a, b = f'SELECT {cols} FROM raw."{name}"', f'SELECT {cols} FROM inc.raw."{name}"'
            diff = conn.execute(
                f"SELECT (SELECT count(*) FROM ({a} EXCEPT ALL {b})) + (SELECT count(*) FROM ({b} EXCEPT ALL {a}))"
            ).fetchone()[0]
            assert diff == 0, f"raw.{name} differs between the two warehouses"
        checked = []
        for relation in [f"marts.{m}" for m in MARTS] + [f"intermediate.{m}" for m in INCREMENTAL]:
            full_sql = _rounded_select(conn, relation)
            inc_sql = full_sql.replace(f"FROM {relation}", f"FROM inc.{relation}")
            n_full = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
            n_inc = conn.execute(f"SELECT count(*) FROM inc.{relation}").fetchone()[0]
            only_full = conn.execute(f"SELECT count(*) FROM ({full_sql} EXCEPT ALL {inc_sql})").fetchone()[0]
            only_inc = conn.execute(f"SELECT count(*) FROM ({inc_sql} EXCEPT ALL {full_sql})").fetchone()[0]
            assert (n_full, only_full, only_inc) == (n_inc, 0, 0), f"{relation}: {n_full} vs {n_inc} rows"
            checked.append(relation)
        # Surge streaks ran into the window (carried from the day before it), so the traffic mart's
        # equality above covers the carry.
        carried = conn.execute(
            "SELECT count(*) FROM marts.traffic_sku_market_daily WHERE traffic_date = ? AND surge_streak_days > 1",
            [END],
        ).fetchone()[0]
        assert carried > 0
        # The window really was incremental: order lines of days before it were not rewritten.
        assert conn.execute("SELECT count(*) FROM inc.intermediate.int_order_lines_converted").fetchone()[0] > 0
    finally:
        conn.close()
    assert len(checked) == len(MARTS) + len(INCREMENTAL)


def test_incremental_runs_touch_only_their_window(warehouses: dict[str, Path]) -> None:
    """The one-day build deleted and inserted only the window's order lines (dbt's log)."""
    log = (warehouses["work"] / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")
    assert re.search(r"delete from \S+int_order_lines_converted\S* where order_date between", log)
    assert re.search(r"delete from \S+int_tickets_measured\S* where ticket_date between", log)
    for model in ("int_traffic_days_aggregated", "traffic_sku_market_daily"):
        assert re.search(rf"delete from \S+{model}\S* where traffic_date between", log), model
    assert re.search(r"delete from \S+demand_sku_market_daily\S* where order_date between", log)


def test_every_mart_is_populated(wh) -> None:
    for mart in MARTS:
        assert wh.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0, mart


def test_selection_values_are_plausible(wh) -> None:
    row = wh.execute(
        """SELECT count(*), min(landed_margin_pct), max(landed_margin_pct), avg(logistics_cost_share_pct),
                  count(DISTINCT recommendation), min(selection_score), max(selection_score),
                  count(*) FILTER (WHERE landed_cost_usd IS NULL), count(sellers_on_listing),
                  count(*) FILTER (WHERE recommendation = 'fix' AND pain_point IS NULL)
           FROM marts.selection_sku_market"""
    ).fetchone()
    n, min_margin, max_margin, logistics, recommendations, min_score, max_score, no_cost, with_comp, fix_unnamed = row
    assert n >= 30
    assert -100 < min_margin < max_margin < 90
    assert 0 < logistics < 25
    assert recommendations >= 2
    assert 0 <= min_score < max_score <= 100
    assert no_cost == 0
    assert with_comp > n / 2
    assert fix_unnamed == 0
    # Ranks are 1..n within each market.
    bad_ranks = wh.execute(
        """SELECT count(*) FROM (SELECT destination_country, max(selection_rank) AS r, count(*) AS n
           FROM marts.selection_sku_market GROUP BY 1) WHERE r <> n"""
    ).fetchone()[0]
    assert bad_ranks == 0


def test_risk_and_service_values_are_plausible(wh) -> None:
    hhi = wh.execute(
        """SELECT category, sum(unit_share_pct * unit_share_pct), max(category_hhi)
           FROM marts.risk_supplier_concentration WHERE category_hhi IS NOT NULL GROUP BY 1"""
    ).fetchall()
    assert hhi and all(abs(total - stored) < 0.05 for _, total, stored in hhi)
    delayed, arrived = wh.execute(
        "SELECT count(*) FILTER (WHERE is_delayed), count(*) FILTER (WHERE transit_status = 'arrived') "
        "FROM marts.shipment_transit"
    ).fetchone()
    assert 0 < delayed < arrived
    tiers = dict(wh.execute("SELECT risk_tier, count(*) FROM marts.risk_sku GROUP BY 1").fetchall())
    assert sum(tiers.values()) == wh.execute("SELECT count(*) FROM marts.selection_sku_market").fetchone()[0]
    upcoming = wh.execute(
        "SELECT count(*) FROM marts.risk_policy_events WHERE days_until_effective BETWEEN 1 AND 90"
    ).fetchone()[0]
    assert upcoming > 0
    markets = wh.execute("SELECT count(*), sum(events_next_90d) FROM marts.risk_market_policy").fetchone()
    assert markets[0] == 20 and markets[1] == upcoming
    shares = wh.execute(
        "SELECT sku, sum(ticket_share_pct) FROM marts.service_sku_topic WHERE ticket_share_pct IS NOT NULL GROUP BY 1"
    ).fetchall()
    assert shares and all(abs(total - 100) < 0.01 for _, total in shares)


# ---------------------------------------------------------------------------- the documented example


def documented_values() -> tuple[str, str, dict[str, float]]:
    """SKU, market and the `| column | value |` rows of the doc's result table."""
    text = LANDED_COST_DOC.read_text(encoding="utf-8")
    sku = re.search(r"^SKU: `([^`]+)`", text, re.M)
    market = re.search(r"^Market: `([A-Z]{2})`", text, re.M)
    assert sku and market, "the doc names the SKU and market on lines 'SKU: `...`' and 'Market: `..`'"
    values = {
        m["column"]: float(m["value"].replace(",", ""))
        for m in re.finditer(r"^\| `(?P<column>[a-z0-9_]+)` \| (?P<value>-?[0-9][0-9,]*\.[0-9]+) \|", text, re.M)
    }
    return sku[1], market[1], values


def test_landed_cost_example_matches_the_mart_to_the_cent(wh) -> None:
    sku, market, values = documented_values()
    assert {"unit_cost_usd", "freight_per_unit_usd", "duty_per_unit_usd", "vat_per_unit_usd"} <= set(values)
    assert {"fees_per_unit_usd", "carbon_cost_per_unit_usd", "landed_cost_usd", "net_price_usd"} <= set(values)
    columns = ", ".join(values)
    row = wh.execute(
        f"SELECT {columns} FROM marts.selection_sku_market WHERE sku = ? AND destination_country = ?", [sku, market]
    ).fetchone()
    assert row is not None, f"{sku} in {market} is not in the selection mart"
    for (column, documented), actual in zip(values.items(), row, strict=True):
        assert round(actual, 2) == pytest.approx(documented, abs=1e-9), f"{column}: doc {documented}, mart {actual}"
