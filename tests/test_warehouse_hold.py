"""A run holds the warehouse open between its steps (``lib/warehouse.hold``).

Opening the SF 10 warehouse and checkpointing it when the last connection closed cost every
step tens of milliseconds, several times per step. These tests pin down what holding it must
keep true: one open per run, read-only steps on the same database, another process (dbt) able
to write during a step that suspends it, the file free once the run ends, and the cache given
back between steps when the process is large.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.lib import warehouse as wh
from orchestration.lib.warehouse import WarehouseResource


def _count_opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[bool]:
    """Spy on duckdb.connect: the read_only flag of every open of ``path``."""
    opens: list[bool] = []
    real = duckdb.connect

    def spy(database=":memory:", read_only=False, config=None):
        if str(database) == str(path):
            opens.append(read_only)
        return real(database, read_only=read_only, config=config or {})

    monkeypatch.setattr(wh.duckdb, "connect", spy)
    return opens


def test_a_run_opens_the_warehouse_once_and_frees_the_file_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "warehouse.duckdb"
    opens = _count_opens(monkeypatch, path)

    @dg.asset
    def written(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as conn:
            conn.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")

    @dg.asset(deps=[written])
    def checked(warehouse: WarehouseResource) -> int:
        with warehouse.connect(read_only=True) as conn:  # same database: no clash of configurations
            return conn.execute("SELECT count(*) FROM t").fetchone()[0]

    @dg.asset(deps=[checked])
    def appended(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as conn:
            conn.execute("INSERT INTO t VALUES (10)")

    resource = WarehouseResource(path=str(path), threads=1, memory_limit="512MB")
    result = dg.materialize([written, checked, appended], resources={"warehouse": resource})
    assert result.success
    assert result.output_for_node("checked") == 10
    assert opens == [False]  # one open for the three steps (each used to open and checkpoint its own)
    assert not wh._HELD  # released with the run's resources
    # The file is free: another process can open it, and sees every step's writes.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import duckdb; print(duckdb.connect({str(path)!r}).execute('SELECT count(*) FROM t').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "11"


def test_a_step_that_suspends_the_warehouse_lets_another_process_write_it(tmp_path: Path) -> None:
    """The dbt build's case: dbt opens the file in its own process during the step."""
    path = tmp_path / "warehouse.duckdb"
    writer = f"import duckdb; duckdb.connect({str(path)!r}).execute('INSERT INTO t VALUES (2)')"

    @dg.asset
    def first(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as conn:
            conn.execute("CREATE TABLE t (i INTEGER)")
            conn.execute("INSERT INTO t VALUES (1)")

    @dg.asset(deps=[first])
    def other_process(warehouse: WarehouseResource) -> None:
        warehouse.suspend()
        subprocess.run([sys.executable, "-c", writer], check=True, capture_output=True, text=True)

    @dg.asset(deps=[other_process])
    def after(warehouse: WarehouseResource) -> list[int]:
        with warehouse.connect() as conn:  # opened again, with the other process's row
            return [r[0] for r in conn.execute("SELECT i FROM t ORDER BY i").fetchall()]

    result = dg.materialize([first, other_process, after], resources={"warehouse": WarehouseResource(path=str(path))})
    assert result.success
    assert result.output_for_node("after") == [1, 2]


def test_without_suspending_another_process_cannot_open_a_held_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    wh.hold(path)
    try:
        with wh.connect(path) as conn:
            conn.execute("CREATE TABLE t (i INTEGER)")
        probe = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r})"], capture_output=True, text=True
        )
        assert probe.returncode != 0 and "lock" in probe.stderr.lower()
    finally:
        wh.release(path)
    assert not wh._HELD


def test_holds_count_and_release_closes_on_the_last(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    wh.hold(path)
    wh.hold(tmp_path / "." / "warehouse.duckdb")  # the same file by another spelling
    with wh.connect(path) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS i")
    wh.release(path)
    assert wh._HELD[str(path.resolve())].anchor is not None  # still held by the first
    wh.release(path)
    assert not wh._HELD
    with duckdb.connect(str(path), read_only=True) as conn:  # a different configuration opens: nothing holds it
        assert conn.execute("SELECT i FROM t").fetchone() == (1,)
    wh.release(path)  # releasing what is not held is harmless


def test_trim_gives_back_the_cache_only_above_the_threshold_and_keeps_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    wh.hold(path)
    try:
        with wh.connect(path, memory_limit="1GB") as conn:
            conn.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(3000000)")
            conn.execute("SELECT count(DISTINCT s) FROM t").fetchone()
        anchor = wh._HELD[str(path.resolve())].anchor
        limit = anchor.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert not wh.trim_held(above_rss_bytes=2**62)  # a small process: nothing to do
        before = wh._resident_bytes()
        assert wh.trim_held(above_rss_bytes=0)
        assert wh._resident_bytes() < before
        assert anchor.execute("SELECT current_setting('memory_limit')").fetchone()[0] == limit
        with wh.connect(path) as conn:  # still open and usable
            assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 3_000_000
    finally:
        wh.release(path)


def test_trim_without_a_held_database_does_nothing() -> None:
    assert not wh._HELD
    assert not wh.trim_held(above_rss_bytes=0)


def test_the_nightly_hook_trims_the_held_warehouse_after_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.defs import jobs

    trims: list[bool] = []
    monkeypatch.setattr(jobs, "trim_held", lambda: trims.append(wh.trim_held(above_rss_bytes=0)) or trims[-1])

    @dg.asset
    def one(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS i")

    @dg.asset(deps=[one])
    def two(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as conn:
            conn.execute("INSERT INTO t VALUES (2)")

    defs = dg.Definitions(
        assets=[one, two],
        jobs=[dg.define_asset_job("j", hooks={jobs.after_step}, executor_def=dg.in_process_executor)],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))},
    )
    assert defs.resolve_job_def("j").execute_in_process().success
    assert trims == [True, True]  # after each step, on the database the run holds
