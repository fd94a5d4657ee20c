"""Loader and connectors: idempotent partition loads, clear errors, file mode."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from orchestration.defs.ingest.assets import read_csv_sql
from orchestration.defs.ingest.connectors import SourceConfigError, day_file, days, fetch_to_landing
from orchestration.lib.schemas import RAW_TABLES, RawTable
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import replace_partitions_in_transaction, transaction

ORDERS = RAW_TABLES["orders"]
HEADER = ",".join(ORDERS.columns)


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    relation_sql: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> int:
    """The loader's replace of the days ``start``..``end`` (None: the whole table), in its own transaction."""
    with transaction(conn):
        return replace_partitions_in_transaction(
            conn, table, relation_sql, None if start is None else list(days(start, end or start))
        )


def write_orders(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


def line(i: int, day: str, price: str = "19.99") -> str:
    return f"L{i},O{i},{day} 10:00:00,amazon,DE,SKU-1,2,{price},EUR"


def test_rerun_of_a_partition_replaces_it(tmp_path: Path):
    f1 = write_orders(tmp_path / "2025-01-01.csv", [line(1, "2025-01-01"), line(2, "2025-01-01")])
    f2 = write_orders(tmp_path / "2025-01-02.csv", [line(3, "2025-01-02")])
    d1, d2 = dt.date(2025, 1, 1), dt.date(2025, 1, 2)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        assert replace_rows(conn, ORDERS, read_csv_sql(ORDERS, [f1, f2]), d1, d2) == 3
        assert replace_rows(conn, ORDERS, read_csv_sql(ORDERS, [f1]), d1, d1) == 2
        assert conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 3
        assert conn.execute("SELECT count(DISTINCT order_line_id) FROM raw.orders").fetchone()[0] == 3
        src = conn.execute("SELECT _source_file FROM raw.orders WHERE order_line_id = 'L3'").fetchone()[0]
        assert src.endswith("2025-01-02.csv")


def test_unreadable_file_keeps_previous_rows_and_names_the_file(tmp_path: Path):
    d1 = dt.date(2025, 1, 1)
    good = write_orders(tmp_path / "good" / "2025-01-01.csv", [line(1, "2025-01-01")])
    bad = write_orders(tmp_path / "bad" / "2025-01-01.csv", [line(1, "2025-01-01", price="twelve")])
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        replace_rows(conn, ORDERS, read_csv_sql(ORDERS, [good]), d1, d1)
        with pytest.raises(duckdb.Error) as err:
            replace_rows(conn, ORDERS, read_csv_sql(ORDERS, [bad]), d1, d1)
        assert "twelve" in str(err.value) or "unit_price" in str(err.value)
        assert conn.execute("SELECT unit_price FROM raw.orders").fetchall() == [(19.99,)]


def test_file_mode_copies_the_export_into_landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    export = tmp_path / "export"
    write_orders(export / "orders" / "2025-01-01.csv", [line(1, "2025-01-01")])
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_SOURCES__PLATFORM__MODE", "file")
    monkeypatch.setenv("TRADEWINDS_SOURCES__PLATFORM__PATH", str(export))
    get_settings.cache_clear()
    settings = get_settings()
    files = fetch_to_landing(ORDERS, dt.date(2025, 1, 1), dt.date(2025, 1, 3), settings)
    assert files == [day_file(settings.landing, ORDERS, dt.date(2025, 1, 1))]
    assert files[0].read_text().startswith(HEADER)


def test_misconfigured_source_says_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRADEWINDS_SOURCES__PLATFORM__MODE", "file")
    get_settings.cache_clear()
    with pytest.raises(SourceConfigError, match="TRADEWINDS_SOURCES__PLATFORM__PATH"):
        fetch_to_landing(ORDERS, dt.date(2025, 1, 1), dt.date(2025, 1, 1), get_settings())


def test_sample_mode_lands_only_inside_the_sample_window(sample_env: Path):
    settings = get_settings()
    end = settings.sample.resolved_end_date()
    files = fetch_to_landing(ORDERS, end - dt.timedelta(days=1), end + dt.timedelta(days=5), settings)
    assert [f.name for f in files] == [f"{end - dt.timedelta(days=1)}.csv", f"{end}.csv"]


def test_restated_sources_reload_their_open_days():
    """Shipments arrive and tickets get answered after their day: a load reloads those days too."""
    from orchestration.defs.ingest.assets import load_range

    day = dt.date(2025, 6, 30)
    assert load_range(RAW_TABLES["orders"], day, day) == (day, day)
    assert load_range(RAW_TABLES["shipments"], day, day) == (day - dt.timedelta(days=120), day)
    assert load_range(RAW_TABLES["tickets"], day, day) == (day - dt.timedelta(days=45), day)


def test_sample_connector_restates_exactly_the_contract_window():
    from orchestration.lib.sample import OPEN_PARTITION_DAYS

    assert {n: t.restatement_days for n, t in RAW_TABLES.items() if t.restatement_days} == OPEN_PARTITION_DAYS


def test_series_tables_land_and_load_whole(sample_env: Path, tmp_path: Path):
    """Freight rates are an index series: every night loads all of it, back to freight_start."""
    table = RAW_TABLES["freight_rates"]
    assert table.series and not table.daily_partitioned
    settings = get_settings()
    files = fetch_to_landing(table, None, None, settings)
    first = dt.date.fromisoformat(files[0].stem)
    assert first - settings.sample.freight_start < dt.timedelta(days=7)
    assert dt.date.fromisoformat(files[-1].stem) <= settings.sample.resolved_end_date()
    assert all(dt.date.fromisoformat(f.stem).weekday() == 0 for f in files)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        rows = replace_rows(conn, table, read_csv_sql(table, files))
        again = replace_rows(conn, table, read_csv_sql(table, files))
        assert rows == again == conn.execute("SELECT count(*) FROM raw.freight_rates").fetchone()[0] > 0
        assert conn.execute("SELECT min(_partition_date) FROM raw.freight_rates").fetchone()[0] == first
