"""Benchmark harness: the nightly job at several sample scales, per stage, with a bare-DuckDB reference.

For each scale factor it

1. generates nothing up front: README command 1 (``tradewinds nightly``) runs in a child process
   against a new data folder, so sample generation is part of ingest as it is for a user.
   Before it, ``tradewinds prepare`` runs once in the same environment (timed apart, as
   ``prepare_seconds``): the deployment step that parses the dbt project for this warehouse;
2. samples the resident memory of that process tree every 0.2 s (psutil);
3. reads the run's step events back from the Dagster instance and folds them into the stages
   ingest, dbt, gates, forecasts, alerts and publish: wall time, peak memory (of the process tree
   while the stage's steps ran) and rows per second;
4. runs incremental nights (``--incremental-nights``, 3 by default): the sample moves on by one
   day and ``tradewinds nightly`` runs again on the same warehouse (one new day of platform
   data, incremental dbt models), night after night; the incremental/full ratio is read on
   their median (``incremental_summary``);
5. runs the bare reference: the compiled SQL of every dbt model, in dependency order, in one
   DuckDB connection on a copy of the warehouse's raw and seed tables (no Dagster, no dbt, no
   tests), so the orchestration overhead of the dbt stage is a measured ratio.

Results: ``benchmarks/results/harness.json`` (every figure, the machine and its load) and
``benchmarks/results/harness.md`` (the tables the README quotes).

    .venv/bin/python benchmarks/harness.py                 # SF 0.1, 1 and 10
    .venv/bin/python benchmarks/harness.py --scales 0.1 1  # a subset
    .venv/bin/python benchmarks/harness.py --scales 10 --instance postgres --no-bare --out harness_postgres

``--instance postgres`` runs the nights on the production instance (``deploy/dagster.yaml``: runs
and events in PostgreSQL) against a throwaway local server, to measure what Dagster's event
storage costs there; the default is the local SQLite instance README command 1 creates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psutil

from orchestration.lib.sample.cache import CACHE_DIR as SAMPLE_CACHE_DIR

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# DuckDB's memory limit for every connection of the night (settings duckdb.memory_limit), --duckdb-memory-limit.
MEMORY_LIMIT: str | None = None
STAGES = ("ingest", "dbt", "gates", "forecasts", "alerts", "publish")
log = logging.getLogger("benchmarks.harness")


# --------------------------------------------------------------------------- measurement


@dataclass
class MemorySampler:
    """Peak resident memory of a process and its children, sampled on a thread.

    Each sample keeps the whole tree and the root process alone (the pipeline's Python process,
    with its in-process DuckDB), so the children's share (dbt, Prophet workers) is the difference.
    """

    pid: int
    interval: float = 0.2
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (unix time, tree bytes, root bytes)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _rss(self) -> tuple[int, int]:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, 0
        total = root_rss = 0
        for proc in procs:
            try:
                rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # a child that ended between listing and reading: it holds no memory now
            total += rss
            if proc.pid == self.pid:
                root_rss = rss
        return total, root_rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), *self._rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float | None = None, end: float | None = None, root_only: bool = False) -> int:
        values = [
            root if root_only else tree
            for t, tree, root in self.samples
            if (start is None or t >= start) and (end is None or t <= end)
        ]
        return max(values, default=0)


def stage_of(step_key: str) -> str:
    """The benchmark stage of a nightly step (step keys are asset keys joined by ``__``)."""
    if step_key.startswith("raw__"):
        return "ingest"
    if step_key == "dbt_models":
        return "dbt"
    if step_key.startswith("forecast__"):
        return "forecasts"
    if step_key.startswith("alerts__"):
        return "alerts"
    if step_key.startswith("publish__"):
        return "publish"
    # gx_load_checks, gx_mart_checks, upstream_gates_*, quality__gx_data_docs
    return "gates"


def machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def calibration() -> dict[str, float]:
    """Seconds of two fixed pieces of work, timed just before a night: how fast the machine is
    right then. This machine's speed varied ~1.7x between days at the same load average (round 9
    against round 8), so nights of different rounds compare only with these beside them.

    ``python_s``: a pure-Python loop (the sample generator, Dagster, dbt's Jinja are Python);
    ``duckdb_s``: a hash aggregate over 20M rows on every core, in memory (the warehouse's work).
    Best of three each, to leave out a momentary neighbour.
    """

    def python_work() -> None:
        total = 0
        for i in range(10_000_000):
            total += i % 7
        if total < 0:  # keeps the loop from being optimised away by a future interpreter
            raise AssertionError(total)

    def duckdb_work() -> None:
        with duckdb.connect(":memory:") as conn:
            conn.execute("SELECT i % 1000 AS k, sum(hash(i)) FROM range(20000000) t(i) GROUP BY k").fetchall()

    def best_of_three(work) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            work()
            times.append(time.perf_counter() - t0)
        return round(min(times), 3)

    return {"python_s": best_of_three(python_work), "duckdb_s": best_of_three(duckdb_work)}


# --------------------------------------------------------------------------- one night


def night_env(data: Path, scale: float, end: dt.date) -> dict[str, str]:
    """The environment of a night at ``scale`` in the data folder ``data``."""
    return {
        **os.environ,
        **({"TRADEWINDS_DUCKDB__MEMORY_LIMIT": MEMORY_LIMIT} if MEMORY_LIMIT else {}),
        "TRADEWINDS_DATA_DIR": str(data),
        "TRADEWINDS_SAMPLE__SCALE": str(scale),
        "TRADEWINDS_SAMPLE__END_DATE": end.isoformat(),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "PYTHONWARNINGS": "ignore",
    }


INSTANCE_NAMES = {
    "sqlite": "local SQLite (README command 1)",
    "postgres": "production config (deploy/dagster.yaml) on a local PostgreSQL",
}


def use_postgres_instance(server: Any, data: Path, scale: float) -> None:
    """The production instance for this scale's nights: ``deploy/dagster.yaml`` rendered into its
    DAGSTER_HOME, runs and events in a new database of the throwaway ``server``."""
    from orchestration.lib.instance import write_instance_yaml

    database = server.create_database(f"tradewinds_sf{scale:g}".replace(".", "_"))
    # In this process's environment: the nights inherit it (night_env), and stage_figures reads
    # the instance here.
    os.environ.update(server.instance_env(database))
    os.environ["TRADEWINDS_DAGSTER_LOGS"] = str(data / "dagster_logs")
    write_instance_yaml(data / "dagster_home" / "dagster.yaml")


#: What a night changes in a work folder besides writing new landing files (``--save-state``). The
#: sample generator's cache (``landing/.sample_cache``) is state too: a night prunes it, adds its own
#: day and, when the generator changed, rebuilds it, so a night run again from a state must find the
#: cache as it was, neither its own day already cached nor a stale cache to rebuild.
STATE_ENTRIES = (
    "warehouse.duckdb",
    "warehouse.duckdb.wal",
    "dagster_home",
    "gx",
    "published",
    "forecast",
    "outbox",
    f"landing/{SAMPLE_CACHE_DIR}",
)
LANDING_LIST = "landing_files.json"


def _copy_entry(source: Path, target: Path) -> None:
    """Copy a work folder's file or folder ``source`` to ``target`` (nothing when it does not exist)."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    elif source.exists():
        shutil.copy2(source, target)


def _landing_files(landing: Path) -> list[str]:
    """The landing files under a landing folder (the sample cache aside), as paths relative to it."""
    if not landing.exists():
        return []
    files = (p.relative_to(landing) for p in landing.rglob("*") if p.is_file())
    return [p.as_posix() for p in files if p.parts[0] != SAMPLE_CACHE_DIR]


def save_state(data: Path, state: Path) -> None:
    """Copy the state of the work folder ``data`` (``STATE_ENTRIES`` and the list of its landing
    files; the landing files themselves only grow) to ``state``, replacing what was there."""
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    for name in STATE_ENTRIES:
        _copy_entry(data / name, state / name)
    (state / LANDING_LIST).write_text(json.dumps(sorted(_landing_files(data / "landing"))))


def restore_state(state: Path, data: Path) -> int:
    """Put the work folder ``data`` back as :func:`save_state` found it: its state copied back, the
    landing files written since removed, and the warehouse dropped from the page cache (so every
    night from this state reads it from disk alike). Returns how many landing files it removed."""
    if not (state / LANDING_LIST).exists():
        raise SystemExit(f"{state} holds no saved work folder: make one with --save-state {state}")
    for name in STATE_ENTRIES:
        target = data / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        _copy_entry(state / name, target)
    known = set(json.loads((state / LANDING_LIST).read_text()))
    landing = data / "landing"
    newer = sorted(set(_landing_files(landing)) - known)
    for name in newer:
        (landing / name).unlink()
    warehouse = data / "warehouse.duckdb"
    if warehouse.exists() and hasattr(os, "posix_fadvise"):
        fd = os.open(warehouse, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return len(newer)


def prepare(data: Path, scale: float, end: dt.date) -> float:
    """``tradewinds prepare`` in the scale's environment, as a deployment does once after installing
    (and the first night on a fresh clone does by itself): the dbt manifest and a parse state
    for this warehouse, so the nights measure their own work, not a one-off full dbt parse of a
    checkout last parsed for another scale. Returns its wall seconds (reported, not in a night)."""
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with (data / "prepare.log").open("w") as out:
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tradewinds"), "prepare"],
            env=night_env(data, scale, end),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return round(time.time() - t0, 1)


def run_night(data: Path, scale: float, end: dt.date, label: str) -> dict[str, object]:
    """Run README command 1 once and fold its Dagster step events into stages."""
    env = night_env(data, scale, end)
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / f"{label}.log"
    log.info("SF %g %s night (sample end %s): log %s", scale, label, end, log_path)
    calibrated = calibration()
    load_before = load_average()
    t0 = time.time()
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "tradewinds"), "nightly"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        with MemorySampler(proc.pid) as sampler:
            returncode = proc.wait()
    wall = time.time() - t0
    result: dict[str, object] = {
        "label": label,
        "sample_end": end.isoformat(),
        "succeeded": returncode == 0,
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(sampler.peak() / 2**20),
        "peak_pipeline_process_mib": round(sampler.peak(root_only=True) / 2**20),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "calibration": calibrated,
    }
    if returncode != 0:
        log.error("SF %g %s night failed (exit %s): see %s", scale, label, returncode, log_path)
    result.update(stage_figures(data, sampler))
    log.info("SF %g %s night: %.0f s, peak %s MiB", scale, label, wall, result["peak_rss_mib"])
    return result


def stage_figures(data: Path, sampler: MemorySampler) -> dict[str, object]:
    """Per stage: wall seconds (sum of its steps; the job runs steps one at a time), peak memory, rows/s."""
    os.environ["DAGSTER_HOME"] = str(data / "dagster_home")
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=1)
        if not records:
            return {"stages": {}}
        run = records[0].dagster_run
        starts: dict[str, float] = {}
        intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        # A partition-range run records one materialization per partition, each with the step's
        # metadata: count each asset once.
        rows_loaded_by_asset: dict[str, int] = {}
        published_rows = 0
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                starts[entry.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED") and entry.step_key in starts:
                intervals[stage_of(entry.step_key)].append((starts.pop(entry.step_key), entry.timestamp))
            elif kind == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                meta = materialization.metadata
                if "rows_loaded" in meta:
                    rows_loaded_by_asset[materialization.asset_key.to_user_string()] = int(meta["rows_loaded"].value)
                if materialization.asset_key.path[:1] == ["publish"] and "rows" in meta:
                    published_rows = sum(int(v) for v in meta["rows"].value.values())
    rows_loaded = sum(rows_loaded_by_asset.values())
    rows = relation_rows(data / "warehouse.duckdb")
    rows_by_stage = {
        "ingest": rows_loaded,
        "dbt": rows.get("marts", 0),
        "gates": rows_loaded + rows.get("marts", 0),
        "forecasts": rows.get("forecast", 0),
        "alerts": rows.get("alerts", 0),
        "publish": published_rows,
    }
    stages: dict[str, dict[str, object]] = {}
    for stage in STAGES:
        spans = intervals.get(stage, [])
        seconds = sum(end - start for start, end in spans)
        peak = max((sampler.peak(start, end) for start, end in spans), default=0)
        peak_root = max((sampler.peak(start, end, root_only=True) for start, end in spans), default=0)
        stages[stage] = {
            "seconds": round(seconds, 1),
            "steps": len(spans),
            "peak_rss_mib": round(peak / 2**20),
            "peak_pipeline_process_mib": round(peak_root / 2**20),
            "rows": rows_by_stage[stage],
            "rows_per_second": round(rows_by_stage[stage] / seconds) if seconds > 0 else None,
        }
    return {
        "run_id": run.run_id,
        "stages": stages,
        "dbt": dbt_breakdown(run.run_id),
        "rows_by_schema": rows,
        "rows_loaded_by_asset": rows_loaded_by_asset,
    }


def dbt_breakdown(run_id: str, project_target: Path = ROOT / "dbt_project" / "target") -> dict[str, object] | None:
    """What the dbt step of a run spent its time on, from that build's ``run_results.json``.

    dagster-dbt names each build's target folder ``dbt_models-<run id[:7]>-<invocation>``.
    Per resource type (model, test, seed, snapshot): nodes, the sum of their execution times and
    their wall time (the union of their compile-to-execute intervals; dbt runs several nodes at
    once). ``invocation_seconds`` is dbt's own elapsed time; the step's wall time minus it is
    process start, parsing and Dagster's handling of dbt's events.
    """
    found = sorted(project_target.glob(f"dbt_models-{run_id[:7]}-*/run_results.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    results = json.loads(found[-1].read_text())
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    sums: dict[str, float] = defaultdict(float)
    slowest = []
    for node in results["results"]:
        kind = node["unique_id"].split(".", 1)[0]
        times = [
            (dt.datetime.fromisoformat(t["started_at"].replace("Z", "+00:00")).timestamp(),
             dt.datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00")).timestamp())
            for t in node.get("timing", []) if t.get("started_at") and t.get("completed_at")
        ]  # fmt: skip
        if times:
            spans[kind].append((min(a for a, _ in times), max(b for _, b in times)))
        sums[kind] += float(node.get("execution_time") or 0)
        slowest.append((float(node.get("execution_time") or 0), node["unique_id"]))
    by_type = {
        kind: {
            "nodes": len(spans[kind]),
            "execution_seconds": round(sums[kind], 1),
            "wall_seconds": round(union(spans[kind]), 1),
        }
        for kind in sorted(spans)
    }
    everything = [span for kind_spans in spans.values() for span in kind_spans]
    not_tests = [span for kind, kind_spans in spans.items() if kind != "test" for span in kind_spans]
    return {
        "invocation_seconds": round(float(results.get("elapsed_time") or 0), 1),
        # Wall time when only data tests ran: what the bare reference (no tests) has no part of.
        "test_only_seconds": round(union(everything) - union(not_tests), 1),
        "by_type": by_type,
        "slowest_nodes": {uid: round(sec, 1) for sec, uid in sorted(slowest, reverse=True)[:10]},
    }


def union(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of ``intervals``."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def relation_rows(warehouse: Path) -> dict[str, int]:
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
        totals: dict[str, int] = defaultdict(int)
        for schema, table in tables:
            totals[schema] += conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    return dict(totals)


# --------------------------------------------------------------------------- bare reference


def bare_reference(data: Path) -> dict[str, object]:
    """Every dbt model's compiled SQL (full-refresh form) in one DuckDB connection, in dependency order."""
    manifest = compile_models(data)
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    # Snapshots are history kept across nights, not something recomputable from raw: inputs, like seeds.
    snapshots = [(n["schema"], n["alias"]) for n in manifest["nodes"].values() if n["resource_type"] == "snapshot"]
    order = topological(nodes)
    bare = data / "bare.duckdb"
    bare.unlink(missing_ok=True)
    warehouse = data / "warehouse.duckdb"
    t_copy = time.time()
    # The same DuckDB limits as the nights (dbt's profile gets them from the settings too).
    config = {"memory_limit": MEMORY_LIMIT} if MEMORY_LIMIT else {}
    with duckdb.connect(str(bare), config=config) as conn:
        conn.execute(f"ATTACH '{warehouse}' AS src (READ_ONLY)")
        # The inputs the dbt stage starts from: raw tables (ingest) and seeds (reference data).
        for schema in ("raw", "reference"):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for (table,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' AND schema_name = ?", [schema]
            ).fetchall():
                conn.execute(f'CREATE TABLE {schema}."{table}" AS FROM src.{schema}."{table}"')
        for schema, table in snapshots:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}"."{table}" AS FROM src."{schema}"."{table}"')
        conn.execute("DETACH src")
        copy_seconds = time.time() - t_copy
        db_name = conn.execute("SELECT current_database()").fetchone()[0]
        timings: dict[str, float] = {}
        t0 = time.time()
        for uid in order:
            node = nodes[uid]
            sql = node["compiled_code"].replace('"warehouse".', f'"{db_name}".')
            materialized = node["config"].get("materialized", "view")
            if materialized == "ephemeral":
                continue
            kind = "VIEW" if materialized == "view" else "TABLE"
            start = time.time()
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{node["schema"]}"')
            conn.execute(f'CREATE OR REPLACE {kind} "{node["schema"]}"."{node["alias"]}" AS {sql}')
            timings[node["name"]] = time.time() - start
        seconds = time.time() - t0
        marts = sum(
            conn.execute(f'SELECT count(*) FROM "{n["schema"]}"."{n["alias"]}"').fetchone()[0]
            for n in nodes.values()
            if n["schema"] == "marts" and n["config"].get("materialized") != "ephemeral"
        )
    bare.unlink(missing_ok=True)
    slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:5]
    return {
        "models": len(timings),
        "seconds": round(seconds, 1),
        "input_copy_seconds": round(copy_seconds, 1),
        "mart_rows": marts,
        "slowest_models": {name: round(s, 1) for name, s in slowest},
    }


def compile_models(data: Path) -> dict:
    """``dbt compile --full-refresh`` against the benchmark's warehouse: is_incremental() is false."""
    target = data / "dbt_target_bare"
    env = {**os.environ, "TRADEWINDS_WAREHOUSE": str(data / "warehouse.duckdb"), "DBT_TARGET_PATH": str(target)}
    sys.path.insert(0, str(ROOT))
    from orchestration.defs.transform import dbt_executable, dbt_vars
    from orchestration.lib.settings import Settings

    settings = Settings(data_dir=data)
    args = [
        dbt_executable(), "compile", "--full-refresh", "--quiet",
        "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project"),
        "--target-path", str(target), "--vars", json.dumps(dbt_vars(settings)),
    ]  # fmt: skip
    subprocess.run(args, env=env, check=True, cwd=ROOT / "dbt_project")
    return json.loads((target / "manifest.json").read_text())


def topological(nodes: dict[str, dict]) -> list[str]:
    done: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for dep in nodes[uid]["depends_on"]["nodes"]:
            if dep in nodes:
                visit(dep)
        done.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return done


# --------------------------------------------------------------------------- driver


def incremental_summary(full_wall: float, nights: list[dict[str, object]]) -> dict[str, object]:
    """The one-day nights run one after another after a full night: their walls, each one's share
    of the full night, and the median night's share (the ratio the issue's target is read on).

    One night is one sample of a machine whose speed varies by a quarter within minutes, and the
    first night after a full build is often the slowest of a series (its files and the disk just
    went through the full night): the median of consecutive nights is the typical night.
    """
    walls = [float(n["wall_seconds"]) for n in nights if n.get("succeeded")]
    if not walls or len(walls) != len(nights):
        return {"nights": len(nights), "succeeded": False}
    median = statistics.median(walls)
    return {
        "nights": len(walls),
        "succeeded": True,
        "wall_seconds": walls,
        "median_wall_seconds": round(median, 1),
        "shares_of_full": [round(w / full_wall, 3) for w in walls],
        "median_share_of_full": round(median / full_wall, 3),
    }


def bench_scale(
    scale: float,
    end: dt.date,
    workdir: Path,
    incremental: bool,
    bare: bool,
    pg_server: Any = None,
    incremental_nights: int = 1,
) -> dict[str, object]:
    data = workdir / f"sf{scale:g}"
    shutil.rmtree(data, ignore_errors=True)
    if pg_server is not None:
        use_postgres_instance(pg_server, data, scale)
    result: dict[str, object] = {"scale": scale, "prepare_seconds": prepare(data, scale, end)}
    full = run_night(data, scale, end, "full")
    result["full"] = full
    if bare and full["succeeded"]:
        result["bare"] = bare_reference(data)
        dbt_seconds = full["stages"]["dbt"]["seconds"]
        result["bare"]["dbt_stage_over_bare"] = round(dbt_seconds / result["bare"]["seconds"], 2)
        tests_alone = (full.get("dbt") or {}).get("test_only_seconds") or 0
        result["bare"]["dbt_stage_without_tests_over_bare"] = round(
            (dbt_seconds - tests_alone) / result["bare"]["seconds"], 2
        )
    if incremental and full["succeeded"]:
        nights = []
        for i in range(1, incremental_nights + 1):
            night = run_night(data, scale, end + dt.timedelta(days=i), "incremental" if i == 1 else f"incremental-{i}")
            night["share_of_full"] = round(night["wall_seconds"] / full["wall_seconds"], 3)
            nights.append(night)
            if not night["succeeded"]:
                break
        result["incremental"] = nights[0]
        result["incremental_later"] = nights[1:]
        result["incremental_summary"] = incremental_summary(full["wall_seconds"], nights)
    result["warehouse_mib"] = (
        round((data / "warehouse.duckdb").stat().st_size / 2**20) if (data / "warehouse.duckdb").exists() else None
    )
    return result


def calibration_cell(calibrated: dict[str, float] | None) -> str:
    """``python_s / duckdb_s`` of :func:`calibration`; empty for nights measured before it existed."""
    return f"{calibrated['python_s']} / {calibrated['duckdb_s']}" if calibrated else ""


def markdown(results: dict[str, object]) -> str:
    lines = [
        "# Nightly benchmark",
        "",
        f"Machine: {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), {results['machine']['mem_gib']} GiB, "
        f"Python {results['machine']['python']}, DuckDB {results['machine']['duckdb']}. Measured {results['measured_at']}; "
        "load averages before/after each night are in harness.json (other developers share this machine); "
        "calibration: seconds of a fixed Python loop and a fixed DuckDB aggregate just before the night, "
        "the machine's speed then (compare rounds by these). "
        f"DuckDB memory limit: {results.get('duckdb_memory_limit') or 'DuckDB default (80% of RAM)'}. "
        f"Dagster instance: {INSTANCE_NAMES[results.get('instance') or 'sqlite']}.",
        "",
        "`.venv/bin/python benchmarks/harness.py --scales "
        + " ".join(f"{s['scale']:g}" for s in results["scales"])
        + (" --instance postgres" if results.get("instance") == "postgres" else "")
        + "`",
        "",
        "| SF | night | wall s | peak MiB | "
        + " | ".join(f"{s} s" for s in STAGES)
        + " | other s | load before | calibration py / duckdb s |",
        "|---|---|---:|---:|" + "---:|" * len(STAGES) + "---:|---|---|",
    ]
    for entry in results["scales"]:
        later = [(f"incremental, night {i}", n) for i, n in enumerate(entry.get("incremental_later") or [], start=2)]
        for label, night in [("full", entry.get("full")), ("incremental", entry.get("incremental")), *later]:
            if not night or "wall_seconds" not in night:  # --next-night: no full night
                continue
            stages = night.get("stages", {})
            cells = " | ".join(str(stages.get(s, {}).get("seconds", "")) for s in STAGES)
            # Process start, loading the definitions, creating the run (a planned event per partition), dbt parse.
            other = round(night["wall_seconds"] - sum(stages.get(s, {}).get("seconds", 0) for s in STAGES), 1)
            lines.append(
                f"| {entry['scale']:g} | {label}{'' if night['succeeded'] else ' (FAILED)'} | {night['wall_seconds']} | "
                f"{night['peak_rss_mib']} | {cells} | {other} | {night['load_average_before'][0]} | "
                f"{calibration_cell(night.get('calibration'))} |"
            )
    for title, key in (
        ("Rows per second by stage (full night):", "rows_per_second"),
        ("Peak memory (MiB, whole process tree) by stage (full night):", "peak_rss_mib"),
        (
            "Of which the pipeline's own Python process (in-process DuckDB; dbt runs in a child):",
            "peak_pipeline_process_mib",
        ),
    ):
        lines += ["", title, "", "| SF | " + " | ".join(STAGES) + " |", "|---|" + "---:|" * len(STAGES)]
        for entry in results["scales"]:
            stages = entry["full"].get("stages", {})
            cells = " | ".join(str(stages.get(s, {}).get(key, "")) for s in STAGES)
            lines.append(f"| {entry['scale']:g} | {cells} |")
    lines += [
        "",
        "Inside the dbt stage (dbt's run_results.json; wall seconds, several nodes run at once):",
        "",
        "| SF | night | dbt step s | dbt invocation s | models s | tests s | seeds + snapshots s | nodes (models/tests) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for entry in results["scales"]:
        for label in ("full", "incremental"):
            night = entry.get(label) or {}
            breakdown = night.get("dbt") if "stages" in night else None
            if not breakdown:
                continue
            kinds = breakdown["by_type"]

            def wall(*names: str, kinds=kinds) -> float:
                return round(sum(kinds.get(n, {}).get("wall_seconds", 0) for n in names), 1)

            lines.append(
                f"| {entry['scale']:g} | {label} | {night['stages']['dbt']['seconds']} | "
                f"{breakdown['invocation_seconds']} | {wall('model')} | {wall('test')} | {wall('seed', 'snapshot')} | "
                f"{kinds.get('model', {}).get('nodes', 0)}/{kinds.get('test', {}).get('nodes', 0)} |"
            )
    lines += [
        "",
        "| SF | incremental / full | median of the one-day nights / full | dbt stage s | of which data tests "
        "alone s | bare DuckDB s | dbt stage / bare | without the tests / bare | mart rows (bare) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["scales"]:
        inc = entry.get("incremental", {})
        summary = entry.get("incremental_summary") or {}
        median = f"{summary['median_share_of_full']} ({summary['nights']} nights)" if summary.get("succeeded") else ""
        bare = entry.get("bare", {})
        dbt_seconds = entry["full"].get("stages", {}).get("dbt", {}).get("seconds", "")
        tests_alone = (entry["full"].get("dbt") or {}).get("test_only_seconds", "")
        lines.append(
            f"| {entry['scale']:g} | {inc.get('share_of_full', '')} | {median} | {dbt_seconds} | {tests_alone} | "
            f"{bare.get('seconds', '')} | {bare.get('dbt_stage_over_bare', '')} | "
            f"{bare.get('dbt_stage_without_tests_over_bare', '')} | {bare.get('mart_rows', '')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        default=dt.date(2025, 6, 30),
        help="sample end date of the full night (fixed so runs compare)",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "work")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument(
        "--incremental-nights",
        type=int,
        default=3,
        help="one-day nights run one after another after the full night (the ratio is read on their median)",
    )
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--out", default="harness", help="results file stem under benchmarks/results/")
    parser.add_argument(
        "--next-night",
        type=dt.date.fromisoformat,
        metavar="DAY",
        help="no full night: one more incremental night on each scale's existing work folder, the sample "
        "ending on DAY (after the folder's last night); for trying a change without rebuilding",
    )
    parser.add_argument(
        "--save-state",
        type=Path,
        metavar="DIR",
        help="with --next-night: copy each scale's work folder to DIR/sf<scale> before its night, so that the "
        "same night can be run again from it (--from-state), e.g. by another commit",
    )
    parser.add_argument(
        "--from-state",
        type=Path,
        metavar="DIR",
        help="with --next-night: put each scale's work folder back as --save-state DIR saved it before the "
        "night (the warehouse dropped from the page cache): two commits compared on the same night",
    )
    parser.add_argument(
        "--duckdb-memory-limit",
        default="2GB",
        help="settings duckdb.memory_limit for the nights (DuckDB's buffer pool; '' for DuckDB's default, 80%% of RAM)",
    )
    parser.add_argument(
        "--instance",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="Dagster instance of the nights: the local SQLite one README command 1 creates (default), or the "
        "production one (deploy/dagster.yaml) on a throwaway local PostgreSQL server (fsync on, password auth)",
    )
    args = parser.parse_args()
    global MEMORY_LIMIT
    MEMORY_LIMIT = args.duckdb_memory_limit or None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results: dict[str, object] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "duckdb_memory_limit": MEMORY_LIMIT,
        "instance": args.instance,
        "scales": [],
    }
    if args.instance == "postgres" and args.next_night:
        parser.error("--instance postgres starts a new server: it cannot continue an existing work folder")
    if (args.save_state or args.from_state) and not args.next_night:
        parser.error("--save-state and --from-state go with --next-night")
    ok = True
    with ExitStack() as stack:
        pg_server = None
        if args.instance == "postgres":
            from orchestration.lib.pgserver import throwaway_postgres

            pg_server = stack.enter_context(throwaway_postgres(fsync=True))
        for scale in args.scales:
            if args.next_night:
                # Parsed for this warehouse first, as before a full night: the dbt parse state is the
                # project's, and a night of another scale since would make this one parse it again.
                data = args.workdir / f"sf{scale:g}"
                if args.from_state:
                    removed = restore_state(args.from_state / f"sf{scale:g}", data)
                    log.info(
                        "SF %g: work folder restored from %s (%d newer landing files removed)",
                        scale,
                        args.from_state,
                        removed,
                    )
                if args.save_state:
                    save_state(data, args.save_state / f"sf{scale:g}")
                prepared = prepare(data, scale, args.next_night)
                night = run_night(data, scale, args.next_night, f"next-{args.next_night}")
                entry = {"scale": scale, "prepare_seconds": prepared, "full": {"succeeded": True}, "incremental": night}
            else:
                entry = bench_scale(
                    scale,
                    args.end,
                    args.workdir,
                    not args.no_incremental,
                    not args.no_bare,
                    pg_server,
                    incremental_nights=max(1, args.incremental_nights),
                )
            results["scales"].append(entry)
            ok = ok and entry["full"]["succeeded"] and entry.get("incremental", {"succeeded": True})["succeeded"]
            ok = ok and all(n["succeeded"] for n in entry.get("incremental_later") or [])
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f"{args.out}.json").write_text(json.dumps(results, indent=2) + "\n")
            (RESULTS / f"{args.out}.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
