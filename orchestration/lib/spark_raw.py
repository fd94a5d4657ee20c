"""The raw tables as Parquet for Spark: one folder of Parquet files per ``raw.<table>``.

On Spark the dbt project reads its sources from external Parquet tables (``raw.<table> USING
parquet LOCATION '<root>/<table>'``, created by the ``register_raw_tables`` on-run-start macro),
not from the DuckDB warehouse. A cluster's ingest writes these folders into the lake (object
storage); here they are exported from the warehouse's ``raw`` schema, which already holds the
landing files after the drift check and quarantine, so both engines read exactly the same rows
with the same contract types and loader columns (``_partition_date``, ``_source_file``,
``_loaded_at``).

    python -m orchestration.lib.spark_raw [--warehouse PATH] [--out DIR]

Defaults: the configured warehouse and ``<data_dir>/spark/raw``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import duckdb

from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.warehouse import RAW_SCHEMA

log = logging.getLogger(__name__)


def export_raw_parquet(warehouse: Path, out: Path, tables: list[str] | None = None) -> dict[str, int]:
    """Write ``raw.<table>`` of ``warehouse`` to ``out/<table>/part-00000.parquet`` (replacing the
    folder); returns the row count of each table."""
    counts: dict[str, int] = {}
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        for name in tables or list(RAW_TABLES):
            folder = out / name
            tmp = out / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            target = str(tmp / "part-00000.parquet").replace("'", "''")
            conn.execute(
                f"COPY (SELECT * FROM {RAW_SCHEMA}.\"{name}\") TO '{target}' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
            )
            counts[name] = conn.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{name}"').fetchone()[0]
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
            log.info("raw.%s: %s rows -> %s", name, counts[name], folder)
    finally:
        conn.close()
    return counts


def expose_spark_tables(warehouse: Path, spark_warehouse: Path, schema: str, tables: list[str]) -> int:
    """After a build on the local Spark target: ``<schema>.<table>`` of the DuckDB warehouse
    becomes a view over the Spark table's Parquet files, so that the steps after dbt (quality
    gates, publication, forecasts, alerts), which read the warehouse, see the Spark marts. A
    table of an earlier DuckDB build is dropped first. Returns the number of views."""
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for name in tables:
            folder = spark_warehouse / f"{schema}.db" / name
            if not any(folder.glob("*.parquet")):
                raise FileNotFoundError(f"{schema}.{name}: no Parquet files in {folder} (not built on Spark?)")
            kind = conn.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, name],
            ).fetchone()
            if kind and kind[0] == "BASE TABLE":
                conn.execute(f'DROP TABLE "{schema}"."{name}"')
            pattern = str(folder / "*.parquet").replace("'", "''")
            conn.execute(f'CREATE OR REPLACE VIEW "{schema}"."{name}" AS SELECT * FROM read_parquet(\'{pattern}\')')
    finally:
        conn.close()
    log.info("%s %s table(s) of the Spark build exposed as views in %s", len(tables), schema, warehouse)
    return len(tables)


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m orchestration.lib.spark_raw", description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path(settings.warehouse))
    parser.add_argument("--out", type=Path, default=Path(settings.data_dir) / "spark" / "raw")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    counts = export_raw_parquet(args.warehouse, args.out)
    print(f"{len(counts)} raw tables, {sum(counts.values())} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
