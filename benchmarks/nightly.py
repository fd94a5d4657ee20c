"""Benchmark README command 1: a full first nightly run on fresh sample data.

Runs ``tradewinds nightly`` in a child process against a new data folder, then records the
wall time, the peak resident memory of the largest process (the Dagster run or a dbt /
Prophet child, whichever is larger: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``), the row
count of every raw table and mart, and the machine. Results go to
``benchmarks/results/nightly_sf<scale>.json`` and are summarised in the README.

    .venv/bin/python benchmarks/nightly.py --scale 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
    }


def table_counts(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'marts', 'forecast', 'alerts') ORDER BY 1, 2"
        ).fetchall()
        return {f"{s}.{t}": conn.execute(f'SELECT count(*) FROM {s}."{t}"').fetchone()[0] for s, t in tables}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--end", default="2025-06-30", help="sample end date (fixed so runs are comparable)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "work")
    args = parser.parse_args()

    data = args.workdir / f"sf{args.scale:g}"
    shutil.rmtree(data, ignore_errors=True)
    env = {
        **os.environ,
        "TRADEWINDS_DATA_DIR": str(data),
        "TRADEWINDS_SAMPLE__SCALE": str(args.scale),
        "TRADEWINDS_SAMPLE__END_DATE": args.end,
        "DAGSTER_HOME": str(data / "dagster_home"),
    }
    t0 = time.monotonic()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "tradewinds"), "nightly"], env=env, cwd=ROOT)
    wall = time.monotonic() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "command": "tradewinds nightly (first run: full sample history)",
        "scale": args.scale,
        "sample_end": args.end,
        "succeeded": proc.returncode == 0,
        "wall_seconds": round(wall, 1),
        "peak_rss_mib_largest_process": round(peak_mib),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": table_counts(data / "warehouse.duckdb") if (data / "warehouse.duckdb").exists() else {},
    }
    out = ROOT / "benchmarks" / "results" / f"nightly_sf{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    print(f"results: {out}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
