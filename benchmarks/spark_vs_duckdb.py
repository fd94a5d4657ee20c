"""Benchmark: the dbt marts built on DuckDB and on Spark (local mode) from the same sample.

Generates the sample raw tables (the generator's ``sample`` settings: ``TRADEWINDS_SAMPLE__SCALE``,
``__SEED``, ``__END_DATE``, ``__HISTORY_DAYS``, ``__FREIGHT_START``) into a fresh DuckDB
warehouse with the loader columns (as tests/test_marts_sample.py does), exports the raw zone as
Parquet, then times one ``dbt build`` of seeds, snapshots and models (data and unit tests
aside: they measure dbt's per-node overhead, not the engine) on each target, one after the
other, and compares every mart (orchestration.lib.spark_compare). Results go to
``benchmarks/results/spark_vs_duckdb_sf<scale>.json``.

    TRADEWINDS_SAMPLE__SCALE=0.1 TRADEWINDS_SAMPLE__END_DATE=2025-06-30 \\
        .venv/bin/python benchmarks/spark_vs_duckdb.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.nightly import machine  # noqa: E402
from orchestration.lib.sample import generate_arrow  # noqa: E402
from orchestration.lib.schemas import RAW_TABLES  # noqa: E402
from orchestration.lib.settings import get_settings  # noqa: E402
from orchestration.lib.spark_compare import compare_marts, marts_of_manifest  # noqa: E402
from orchestration.lib.spark_raw import export_raw_parquet  # noqa: E402
from orchestration.lib.warehouse import RAW_SCHEMA, raw_table_ddl  # noqa: E402

DBT = Path(sys.executable).with_name("dbt")
PROJECT = ROOT / "dbt_project"
NO_TESTS = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


def build_raw(path: Path, start: dt.date, series_start: dt.date, end: dt.date, seed: int, scale: float) -> dict:
    conn = duckdb.connect(str(path))
    counts = {}
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        for name, table in RAW_TABLES.items():
            conn.execute(raw_table_ddl(table))
            first = series_start if table.series else start
            conn.register("generated", generate_arrow(name, first, end, seed, scale, observed_on=end))
            cols = ", ".join(f'"{c}"' for c in table.columns)
            part = f'CAST("{table.partition_column}" AS DATE)' if table.partition_column else "CAST(NULL AS DATE)"
            conn.execute(
                f'INSERT INTO {RAW_SCHEMA}."{name}" ({cols}, _partition_date, _source_file, _loaded_at) '
                f"SELECT {cols}, {part}, 'sample/{name}', TIMESTAMP '{end + dt.timedelta(days=1)} 02:00:00' "
                "FROM generated"
            )
            conn.unregister("generated")
            counts[name] = conn.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{name}"').fetchone()[0]
    finally:
        conn.close()
    return counts


def dbt_build(target: str, work: Path, env: dict[str, str]) -> tuple[float, str]:
    work.mkdir(parents=True, exist_ok=True)
    cmd = [str(DBT), "build", *NO_TESTS, "--target", target, "--project-dir", str(PROJECT)]
    cmd += ["--profiles-dir", str(PROJECT), "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    t0 = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    if result.returncode != 0:
        raise SystemExit(f"dbt build --target {target} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    return wall, re.sub(r"\x1b\[[0-9;]*m", "", result.stdout.strip().splitlines()[-1])


def load_average() -> float:
    return round(os.getloadavg()[0], 1)


def main(argv: list[str] | None = None) -> int:
    sample = get_settings().sample
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tradewinds_spark_bench"))
    args = parser.parse_args(argv)
    end = sample.resolved_end_date()
    start = end - dt.timedelta(days=sample.history_days - 1)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    warehouse = args.work / "warehouse.duckdb"
    t0 = time.monotonic()
    raw_rows = build_raw(warehouse, start, sample.freight_start, end, sample.seed, sample.scale)
    export_raw_parquet(warehouse, args.work / "raw")
    prepare_s = time.monotonic() - t0
    env = {
        **os.environ,
        "TRADEWINDS_WAREHOUSE": str(warehouse),
        "TRADEWINDS_DBT_THREADS": "2",
        "TRADEWINDS_RAW_PARQUET": str(args.work / "raw"),
        "TRADEWINDS_SPARK_WAREHOUSE": str(args.work / "spark" / "warehouse"),
        "TRADEWINDS_SPARK_MASTER": "local[2]",
    }
    runs = {}
    for target in ("duckdb", "spark"):
        load_before = load_average()
        wall, summary = dbt_build(target, args.work / target, env)
        runs[target] = {
            "wall_s": round(wall, 1),
            "summary": summary,
            "load_before": load_before,
            "load_after": load_average(),
        }
        print(f"{target}: {wall:.1f} s ({summary})", flush=True)
    manifest = json.loads((args.work / "spark" / "target" / "manifest.json").read_text(encoding="utf-8"))
    marts = marts_of_manifest(manifest)
    mart_rows, problems = compare_marts(warehouse, args.work / "spark" / "warehouse", marts)
    result = {
        "scale": sample.scale,
        "seed": sample.seed,
        "days": f"{start}..{end}",
        "raw_rows": raw_rows,
        "prepare_raw_and_parquet_s": round(prepare_s, 1),
        "dbt_build": runs,
        "mart_rows": mart_rows,
        "differences": problems,
        "machine": machine(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = ROOT / "benchmarks" / "results" / f"spark_vs_duckdb_sf{sample.scale:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{len(marts)} marts compared, {len(problems)} difference(s); {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
