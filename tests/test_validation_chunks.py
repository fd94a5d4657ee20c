"""Chunked validation: a large load is validated a chunk at a time with the same verdict.

``validate_query`` fetches the rows of a DuckDB query in chunks (so a multi-year backfill at
SF 10 never sits in memory as one pandas frame) and merges the chunks' outcomes; duplicates
of the key that fall in different chunks are counted over all rows in DuckDB.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.defs.quality import validate_query
from orchestration.lib.settings import get_settings
from tests.test_quality import GOOD_ROWS, failure, raw_frame

ROWS = 12_000
CHUNK = 4_096  # two 2,048-row vectors: three chunks


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def orders(
    conn: duckdb.DuckDBPyConnection, bad: dict[int, dict] | None = None, duplicate_of: int | None = None
) -> None:
    base = GOOD_ROWS["orders"][0]
    rows = [{**base, "order_line_id": f"OL-{i}", "order_id": f"O-{i}"} for i in range(ROWS)]
    for index, change in (bad or {}).items():
        rows[index] = {**rows[index], **change}
    if duplicate_of is not None:
        rows.append(dict(rows[duplicate_of]))
    frame = raw_frame("orders", rows)  # typed as DuckDB hands rows to pandas
    conn.register("frame", frame)
    conn.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM frame")
    conn.unregister("frame")


def test_small_result_is_one_frame_with_a_preview() -> None:
    with duckdb.connect() as conn:
        orders(conn)
        outcome, preview = validate_query("raw_orders", conn, "SELECT * FROM orders", chunk_rows=50_000, preview_rows=3)
    assert outcome.success, outcome.summary()
    assert outcome.rows == ROWS
    assert isinstance(preview, pd.DataFrame) and len(preview) == 3


def test_chunks_give_the_verdict_of_the_whole() -> None:
    bad = {10: {"unit_price": -5.0}, 9_000: {"unit_price": -7.0}, 11_500: {"destination_country": "ZZ"}}
    with duckdb.connect() as conn:
        orders(conn, bad=bad)
        whole, _ = validate_query("raw_orders", conn, "SELECT * FROM orders ORDER BY order_line_id", chunk_rows=50_000)
        chunked, preview = validate_query(
            "raw_orders", conn, "SELECT * FROM orders ORDER BY order_line_id", chunk_rows=CHUNK, preview_rows=2
        )
    assert not whole.success and not chunked.success
    assert chunked.rows == whole.rows == ROWS
    assert len(preview) == 2
    for outcome in (whole, chunked):
        price = failure(outcome, "expect_column_values_to_be_between", "unit_price")
        assert price.unexpected_count == 2
        assert sorted(price.sample) == [-7.0, -5.0]
        assert {r["order_line_id"] for r in price.sample_rows} == {"OL-10", "OL-9000"}
        assert failure(outcome, "expect_column_values_to_be_in_set", "destination_country").unexpected_count == 1
    assert {(f.expectation_type, f.columns) for f in chunked.failures} == {
        (f.expectation_type, f.columns) for f in whole.failures
    }
    assert chunked.evaluated == whole.evaluated and chunked.successful == whole.successful


def test_a_duplicate_key_in_another_chunk_is_found() -> None:
    with duckdb.connect() as conn:
        orders(conn, duplicate_of=5)  # the copy is the last row: never in the first row's chunk
        outcome, _ = validate_query("raw_orders", conn, "SELECT * FROM orders", chunk_rows=CHUNK)
    assert not outcome.success
    dup = failure(outcome, "expect_column_values_to_be_unique", "order_line_id")
    assert dup.unexpected_count == 2
    assert dup.severity == "critical"
    assert outcome.rows == ROWS + 1


def test_a_row_filter_narrows_the_row_checks_but_not_keys_or_counts() -> None:
    """Rows outside the filter are not checked row by row; duplicates and the row count see all rows."""
    bad = {10: {"unit_price": -5.0}, 9_000: {"unit_price": -7.0}}
    late = "CAST(split_part(order_line_id, '-', 2) AS INTEGER) >= 6000"
    with duckdb.connect() as conn:
        orders(conn, bad=bad, duplicate_of=5)  # the duplicate pair lies outside the filter
        outcome, _ = validate_query("raw_orders", conn, "SELECT * FROM orders", chunk_rows=50_000, row_filter=late)
        nothing, _ = validate_query(
            "raw_orders", conn, "SELECT * FROM orders", chunk_rows=CHUNK, row_filter="order_line_id = 'none'"
        )
    price = failure(outcome, "expect_column_values_to_be_between", "unit_price")
    assert price.unexpected_count == 1 and price.sample == [-7.0]  # row 10 is outside the filter
    assert failure(outcome, "expect_column_values_to_be_unique", "order_line_id").unexpected_count == 2
    assert outcome.rows == ROWS + 1
    # No row selected: the suite still ran (its expectations counted), the keys were still checked.
    assert nothing.evaluated > 0 and nothing.rows == ROWS + 1
    assert {f.expectation_type for f in nothing.failures} == {"expect_column_values_to_be_unique"}


def test_a_key_holding_the_filters_day_is_checked_within_the_filter() -> None:
    """With ``day_column``, a key that holds it is counted over the filtered rows (a duplicate can
    only sit within one day); a key without it, or without ``day_column``, over every row."""
    compound = "expect_compound_columns_to_be_unique"
    with duckdb.connect() as conn:
        base = GOOD_ROWS["inventory"][0]  # key: snapshot_date, sku, warehouse_id
        frame = raw_frame("inventory", [{**base, "sku": f"SKU-{i}"} for i in range(50)] + [dict(base, sku="SKU-3")])
        conn.register("frame", frame)
        conn.execute("CREATE TABLE inventory AS SELECT * FROM frame")
        day = frame["snapshot_date"].iloc[0].date().isoformat()
        for row_filter, day_column, found in (
            (f"snapshot_date = DATE '{day}'", "snapshot_date", True),  # the duplicate's day
            ("snapshot_date = DATE '2099-01-01'", "snapshot_date", False),  # another day
            ("snapshot_date = DATE '2099-01-01'", None, True),  # no day column: every row
        ):
            outcome, _ = validate_query(
                "raw_inventory", conn, "SELECT * FROM inventory", chunk_rows=CHUNK,
                row_filter=row_filter, day_column=day_column,
            )  # fmt: skip
            assert (compound in {f.expectation_type for f in outcome.failures}) is found, (row_filter, day_column)
    with duckdb.connect() as conn:
        orders(conn, duplicate_of=5)  # order_line_id holds no day: over every row whatever the filter
        sql = "SELECT *, CAST(ordered_at AS DATE) AS day FROM orders"
        outcome, _ = validate_query(
            "raw_orders", conn, sql, chunk_rows=CHUNK, row_filter="day = DATE '2099-01-01'", day_column="day"
        )
    assert failure(outcome, "expect_column_values_to_be_unique", "order_line_id").unexpected_count == 2


def test_good_rows_in_chunks_pass() -> None:
    with duckdb.connect() as conn:
        orders(conn)
        outcome, _ = validate_query("raw_orders", conn, "SELECT * FROM orders", chunk_rows=CHUNK)
    assert outcome.success, outcome.summary()
    assert outcome.rows == ROWS


def service_days(conn: duckdb.DuckDBPyConnection, days: int) -> dt.date:
    """``marts.service_market_daily`` with 4 good rows a day over ``days`` days; returns the last day."""
    from tests.test_quality import mart_frame

    good = mart_frame("service_market_daily").iloc[[0]]
    last = dt.date(2025, 6, 30)
    rows = []
    for i in range(days):
        for country, channel in (("BR", "chat"), ("BR", "email"), ("DE", "chat"), ("DE", "email")):
            rows.append({**good.iloc[0].to_dict(), "destination_country": country, "channel": channel,
                         "ticket_date": pd.Timestamp(last - dt.timedelta(days=i))})  # fmt: skip
    frame = pd.DataFrame(rows).astype(good.dtypes.to_dict())
    conn.register("frame", frame)
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    conn.execute("CREATE OR REPLACE TABLE marts.service_market_daily AS SELECT * FROM frame")
    conn.unregister("frame")
    return last


@pytest.mark.parametrize(
    ("baseline", "as_of_lag", "failing"),
    [
        (12_000, 0, set()),  # within the band and fresh: no chunk may fail the band on its part of the rows
        (40_000, 0, {("expect_table_row_count_to_be_between", (), "critical")}),  # lost most rows: blocks
        (4_000, 0, {("expect_table_row_count_to_be_between", (), "warning")}),  # grew: warns
        (12_000, 30, {("expect_column_max_to_be_between", ("ticket_date",), "warning")}),  # stale
    ],
)
def test_band_and_freshness_are_judged_on_all_rows(baseline: int, as_of_lag: int, failing: set) -> None:
    from orchestration.defs.quality.checks import mart_parameters

    with duckdb.connect() as conn:
        last = service_days(conn, 3_000)  # 12,000 rows
        params, _ = mart_parameters(
            "service_market_daily", as_of=last + dt.timedelta(days=as_of_lag), baseline_rows=baseline, band=0.5
        )
        sql = "SELECT * FROM marts.service_market_daily"
        whole, _ = validate_query("mart_service_market_daily", conn, sql, chunk_rows=50_000, parameters=params)
        chunked, _ = validate_query("mart_service_market_daily", conn, sql, chunk_rows=CHUNK, parameters=params)
    for outcome in (whole, chunked):
        assert {(f.expectation_type, f.columns, f.severity) for f in outcome.failures} == failing, outcome.summary()
        assert outcome.rows == 12_000
