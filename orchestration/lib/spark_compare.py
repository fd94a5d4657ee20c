"""Compare the marts built on Spark with the DuckDB build, table by table.

The Spark marts are Parquet tables (``<spark warehouse>/marts.db/<mart>/*.parquet``); DuckDB
reads them beside the warehouse's ``marts`` schema and computes, for both: the row count, the
non-NULL count of every column, the TRUEs of every boolean, the distinct values of every
string, the first and last date/timestamp and the sum of every numeric column. Counts must
be equal; sums equal within a relative 1e-6 (marts round to 4 decimals, and a half-way value
can round one unit apart: DuckDB rounds the scaled double, Spark the exact binary value).

    python -m orchestration.lib.spark_compare --warehouse data/warehouse.duckdb \\
        --spark-warehouse data/spark/warehouse
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import duckdb

NUMERIC = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT")
TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS")


def profile(conn: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str]]) -> dict[str, float | None]:
    """Row count and per-column aggregates of ``relation`` (a table or a Parquet scan)."""
    exprs = {"rows": "count(*)"}
    for col, dtype in columns:
        q = '"' + col.replace('"', '""') + '"'
        exprs[f"non_null({col})"] = f"count({q})"
        if dtype in NUMERIC or dtype.startswith("DECIMAL"):
            exprs[f"sum({col})"] = f"sum({q})::DOUBLE"
        elif dtype == "BOOLEAN":
            exprs[f"true({col})"] = f"count_if({q})"
        elif dtype == "VARCHAR":
            exprs[f"distinct({col})"] = f"count(DISTINCT {q})"
        elif dtype in TEMPORAL:
            exprs[f"min({col})"] = f"epoch(min({q}))::DOUBLE"
            exprs[f"max({col})"] = f"epoch(max({q}))::DOUBLE"
    row = conn.execute(f"SELECT {', '.join(exprs.values())} FROM {relation}").fetchone()
    return dict(zip(exprs, row, strict=True))


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def mart_columns(conn: duckdb.DuckDBPyConnection, mart: str, schema: str = "marts") -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, mart],
    ).fetchall()


def spark_scan(spark_warehouse: Path, mart: str, schema: str = "marts") -> str:
    folder = spark_warehouse / f"{schema}.db" / mart
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files for {schema}.{mart} in {folder}: was it built on Spark?")
    return "read_parquet([" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "])"


def compare_marts(warehouse: Path, spark_warehouse: Path, marts: list[str]) -> tuple[dict[str, int], list[str]]:
    """Rows of each mart (DuckDB) and every difference found (empty when the builds agree)."""
    rows: dict[str, int] = {}
    problems: list[str] = []
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        for mart in marts:
            columns = mart_columns(conn, mart)
            if not columns:
                problems.append(f"{mart}: missing from the DuckDB build")
                continue
            scan = spark_scan(spark_warehouse, mart)
            spark_columns = [c for c, *_ in conn.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
            # Spark stores the partition column of a partitioned (incremental) table last: compare names only.
            if sorted(spark_columns) != sorted(c for c, _ in columns):
                problems.append(f"{mart}: columns differ: duckdb {[c for c, _ in columns]} spark {spark_columns}")
                continue
            duck = profile(conn, f"marts.{mart}", columns)
            spark = profile(conn, scan, columns)
            rows[mart] = duck["rows"]
            problems += [
                f"{mart}.{key}: duckdb {value} spark {spark[key]}"
                for key, value in duck.items()
                if not same(value, spark[key])
            ]
    finally:
        conn.close()
    return rows, problems


def marts_of_manifest(manifest: dict) -> list[str]:
    """Every table model (plain or incremental) under models/marts of the project's manifest."""
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["fqn"][1] == "marts"
        and node["config"]["materialized"] in ("table", "incremental")
    )


def main(argv: list[str] | None = None) -> int:
    import json

    parser = argparse.ArgumentParser(
        prog="python -m orchestration.lib.spark_compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--warehouse", type=Path, required=True, help="the DuckDB warehouse with the marts")
    parser.add_argument(
        "--spark-warehouse", type=Path, required=True, help="spark.sql.warehouse.dir of the Spark build"
    )
    parser.add_argument("--manifest", type=Path, default=Path("dbt_project/target/manifest.json"))
    args = parser.parse_args(argv)
    marts = marts_of_manifest(json.loads(args.manifest.read_text(encoding="utf-8")))
    rows, problems = compare_marts(args.warehouse, args.spark_warehouse, marts)
    for mart, n in rows.items():
        print(f"{mart:32s} {n:>10} rows")
    for p in problems:
        print("DIFF", p)
    print(f"{len(marts)} marts compared, {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
