"""Warehouse access: one DuckDB file, one writer.

The pipeline is the only read-write user of the working warehouse. Every asset that
touches it goes through :class:`WarehouseResource` so that threads and memory limits come
from the settings and connections are always closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib.schemas import RawTable

RAW_SCHEMA = "raw"
META_COLUMNS: dict[str, str] = {
    "_partition_date": "DATE",
    "_source_file": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}


def connect(
    path: str | Path,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating its folder when writing) with the configured limits."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | int] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    return duckdb.connect(str(path), read_only=read_only, config=config)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Resource key: ``warehouse``."""

    path: str
    threads: int | None = None
    memory_limit: str | None = None

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = connect(self.path, read_only=read_only, threads=self.threads, memory_limit=self.memory_limit)
        try:
            yield conn
        finally:
            conn.close()


def raw_table_ddl(table: RawTable) -> str:
    """CREATE TABLE statement for ``raw.<table>`` from the contract plus loader columns."""
    cols = {**table.columns, **META_COLUMNS}
    body = ",\n  ".join(f'"{c}" {t}' for c, t in cols.items())
    return f'CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}."{table.name}" (\n  {body}\n)'


def ensure_raw_table(conn: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    conn.execute(raw_table_ddl(table))


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    relation_sql: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> int:
    """Atomically replace a partition range (or the whole snapshot or series table) with new rows.

    ``relation_sql`` is a SELECT yielding the contract columns plus ``_source_file``. The
    delete and insert run in one transaction: a failure leaves the previous rows intact,
    and rerunning a partition replaces it instead of duplicating it.
    """
    ensure_raw_table(conn, table)
    qualified = f'{RAW_SCHEMA}."{table.name}"'
    col_list = ", ".join(f'"{c}"' for c in table.columns)
    part_expr = f'CAST("{table.partition_column}" AS DATE)' if table.partition_column else "CAST(NULL AS DATE)"
    if table.daily_partitioned:
        if start is None or end is None:
            raise ValueError(f"raw.{table.name} is partitioned: a start and end date are required")
        delete_sql = f"DELETE FROM {qualified} WHERE _partition_date BETWEEN ? AND ?"
        delete_params: list[object] = [start, end]
    else:
        delete_sql = f"DELETE FROM {qualified}"
        delete_params = []
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(delete_sql, delete_params)
        conn.execute(
            f"INSERT INTO {qualified} ({col_list}, _partition_date, _source_file, _loaded_at) "
            f"SELECT {col_list}, {part_expr}, _source_file, now()::TIMESTAMP FROM ({relation_sql})"
        )
        inserted = conn.execute(
            f"SELECT count(*) FROM {qualified} WHERE "
            + ("_partition_date BETWEEN ? AND ?" if table.daily_partitioned else "TRUE"),
            delete_params,
        ).fetchone()[0]
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return int(inserted)
