"""Write-audit-publish for BI, on small warehouses (fast): release layout, the atomic switch, a
reader racing many switches, pruning, and the publish asset refusing while a gate fails.

The real nightly job with a reader process: ``tests/test_publish_nightly.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pydantic import ValidationError

from orchestration.defs.publish import (
    CURRENT,
    CURRENT_MANIFEST,
    RELEASES,
    VIEWS_FILE,
    PublishError,
    build_publish_asset,
    current_release,
    prune_releases,
    publish_release,
    read_current_manifest,
    run_as_of,
)
from orchestration.lib.settings import PublishSettings, get_settings
from orchestration.lib.warehouse import WarehouseResource

TABLES = [("marts", "sales"), ("forecast", "sales_forecast")]
T0 = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)


def write_warehouse(path: Path, night: int) -> None:
    """Night ``n``: marts.sales has n rows, forecast.sales_forecast 2n (a reader can check they match)."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts; CREATE SCHEMA IF NOT EXISTS forecast")
        conn.execute(
            "CREATE OR REPLACE TABLE marts.sales AS SELECT i AS id, ?::INTEGER AS night, DATE '2025-06-01' + i::INTEGER AS day "
            "FROM range(?) t(i)",
            [night, night],
        )
        conn.execute(
            "CREATE OR REPLACE TABLE forecast.sales_forecast AS SELECT i AS id, ?::INTEGER AS night FROM range(?) t(i)",
            [night, 2 * night],
        )


def publish(warehouse: Path, root: Path, night: int, keep: int = 3, tables=TABLES):
    return publish_release(
        warehouse,
        root,
        tables,
        run_id=f"run-{night:04d}",
        as_of=f"2025-06-{night:02d}",
        keep=keep,
        now=T0 + dt.timedelta(seconds=night),
    )


def test_release_layout_views_and_manifest(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_warehouse(warehouse, 3)
    release = publish(warehouse, root, 3)

    assert release.name == "20250701T020003Z_run-0003"
    assert (root / CURRENT).is_symlink()
    assert Path(str((root / CURRENT).readlink())) == Path(RELEASES) / release.name  # relative: the folder can move
    assert current_release(root) == root.resolve() / RELEASES / release.name
    assert sorted(p.name for p in release.path.rglob("*") if p.is_file()) == [
        "manifest.json",
        VIEWS_FILE,
        "sales.parquet",
        "sales_forecast.parquet",
    ]
    manifest = read_current_manifest(root)
    assert manifest == json.loads((release.path / "manifest.json").read_text())
    assert manifest["run_id"] == "run-0003" and manifest["as_of"] == "2025-06-03"
    sales = manifest["tables"]["marts.sales"]
    assert {k: sales[k] for k in ("rows", "columns", "file")} == {
        "rows": 3,
        "columns": 3,
        "file": "marts/sales.parquet",
    }
    assert [(p["file"], p["rows"], p["run_id"]) for p in sales["parts"]] == [("marts/sales.parquet", 3, "run-0003")]
    assert manifest["tables"]["forecast.sales_forecast"]["rows"] == 6
    assert all(p.stat().st_mode & 0o222 == 0 for p in release.path.rglob("*") if p.is_file())

    conn = duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM sales").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM marts.sales_forecast").fetchone()[0] == 6  # catalog marts
        assert conn.execute("SELECT run_id, as_of_date FROM tradewinds.publication").fetchone() == (
            "run-0003",
            dt.date(2025, 6, 3),
        )
        kv = dict(
            conn.execute(
                "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)",
                [str(release.path / "marts" / "sales.parquet")],
            ).fetchall()
        )
        assert kv["tradewinds_run_id"] == "run-0003" and kv["tradewinds_as_of"] == "2025-06-03"
    finally:
        conn.close()
    # BI tools read the Parquet files directly too.
    assert duckdb.sql(f"SELECT count(*) FROM '{root / CURRENT / 'marts' / 'sales.parquet'}'").fetchall() == [(3,)]


DAILY = [("marts", "daily"), ("marts", "totals")]


def write_daily(path: Path, changed_day: str | None = None, extra_column: bool = False) -> None:
    """marts.daily: 3 rows a day from 2025-04-29 to 2025-06-02 (three months and a NULL-dated row);
    ``changed_day`` gets other units. marts.totals: one row per month (unchanged unless a day is)."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute(
            "CREATE OR REPLACE TABLE marts.daily AS SELECT d::DATE AS day, k AS sku, "
            "CASE WHEN d::DATE = ?::DATE THEN 100 + k ELSE k END AS units "
            + (", 'x' AS note " if extra_column else "")
            + "FROM range(DATE '2025-04-29', DATE '2025-06-03', INTERVAL 1 DAY) t(d), range(3) s(k) "
            "UNION ALL SELECT NULL, 9, 9" + (", 'x'" if extra_column else ""),
            [changed_day],
        )
        conn.execute(
            "CREATE OR REPLACE TABLE marts.totals AS SELECT date_trunc('month', day) AS month, sum(units) AS units "
            "FROM marts.daily WHERE day IS NOT NULL GROUP BY ALL"
        )


def inode(path: Path) -> int:
    return path.stat().st_ino


def test_day_grain_tables_are_published_by_month_and_unchanged_files_are_linked(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    monthly = {"marts.daily": "day"}

    def night(n: int, **kwargs):
        write_daily(warehouse, **kwargs)
        return publish_release(
            warehouse,
            root,
            DAILY,
            run_id=f"run-{n}",
            as_of="2025-06-02",
            monthly=monthly,
            now=T0 + dt.timedelta(seconds=n),
        )

    first = night(1)
    months = ["month=2025-04", "month=2025-05", "month=2025-06", "month=none"]
    assert sorted(p.name for p in (first.path / "marts" / "daily").iterdir()) == months
    parts = {p.file.rsplit("/", 1)[-1]: (p.rows, p.run_id) for p in first.tables[0].parts}
    assert parts == {"month=2025-04": (6, "run-1"), "month=2025-05": (93, "run-1"), "month=2025-06": (6, "run-1"),
                     "month=none": (1, "run-1")}  # fmt: skip
    assert first.written_parts == 5 and first.reused_parts == 0
    with duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True) as conn:
        assert conn.execute("SELECT count(*), sum(units) FROM daily").fetchone() == (106, 3 * 35 + 9)
        assert [d[0] for d in conn.execute("SELECT * FROM daily LIMIT 0").description] == ["day", "sku", "units"]
    # Readers of the Parquet files see one folder per month (Hive style).
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{first.path}/marts/daily/*/*.parquet')").fetchall() == [
        (106,)
    ]

    # The same rows: every file is the first night's, linked; nothing is written but the views.
    second = night(2)
    assert second.written_parts == 0 and second.reused_parts == 5
    for part in ("marts/daily/month=2025-05/part_0.parquet", "marts/totals.parquet"):
        assert inode(second.path / part) == inode(first.path / part)

    # One day of June changes: June's file and the totals are written again, the rest stays linked.
    third = night(3, changed_day="2025-06-01")
    written = sorted(p.file for t in third.tables for p in t.parts if p.run_id == "run-3")
    assert written == ["marts/daily/month=2025-06", "marts/totals.parquet"]
    assert inode(third.path / "marts/daily/month=2025-05/part_0.parquet") == inode(
        first.path / "marts/daily/month=2025-05/part_0.parquet"
    )
    manifest = read_current_manifest(root)
    runs = {p["file"]: p["run_id"] for p in manifest["tables"]["marts.daily"]["parts"]}
    assert runs["marts/daily/month=2025-06"] == "run-3" and runs["marts/daily/month=2025-04"] == "run-1"
    with duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True) as conn:
        assert conn.execute("SELECT sum(units) FROM daily WHERE day = DATE '2025-06-01'").fetchone() == (303,)
        assert conn.execute("SELECT run_id FROM tradewinds.publication").fetchone() == ("run-3",)
        kv = dict(
            conn.execute(
                "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)",
                [str(third.path / "marts/daily/month=2025-05/part_0.parquet")],
            ).fetchall()
        )
        assert kv["tradewinds_run_id"] == "run-1"  # the night that wrote it; the manifest says so too

    # The releases that wrote the linked files are pruned: the files live on in the current one.
    night(4, changed_day="2025-06-01")
    night(5, changed_day="2025-06-01")
    assert not first.path.exists()
    with duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM daily").fetchone() == (106,)

    # A new column changes every fingerprint: everything is written again.
    sixth = night(6, changed_day="2025-06-01", extra_column=True)
    assert sixth.reused_parts == 1 and sixth.written_parts == 4  # only totals kept its rows and columns


def test_unchanged_files_are_copied_where_hard_links_fail(tmp_path: Path, monkeypatch) -> None:
    import orchestration.defs.publish.release as release_module

    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_daily(warehouse)
    first = publish_release(warehouse, root, DAILY, run_id="run-1", as_of=None, monthly={"marts.daily": "day"}, now=T0)

    def no_links(*_args, **_kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(release_module.os, "link", no_links)
    second = publish_release(
        warehouse, root, DAILY, run_id="run-2", as_of=None, monthly={"marts.daily": "day"},
        now=T0 + dt.timedelta(seconds=1),
    )  # fmt: skip
    assert second.reused_parts == 5 and second.written_parts == 0
    may = "marts/daily/month=2025-05/part_0.parquet"
    assert inode(second.path / may) != inode(first.path / may)  # a copy, with the rows and the writer's run
    assert (second.path / may).read_bytes() == (first.path / may).read_bytes()
    with duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM daily").fetchone() == (106,)


def test_the_audit_refuses_a_linked_file_that_no_longer_holds_its_rows(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_daily(warehouse)
    first = publish_release(warehouse, root, DAILY, run_id="run-1", as_of=None, monthly={"marts.daily": "day"}, now=T0)
    # Someone rewrote May's file of the current release by hand (same run id, fewer rows).
    may = first.path / "marts/daily/month=2025-05/part_0.parquet"
    may.chmod(0o644)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        conn.execute(
            f"COPY (SELECT day, sku, units FROM marts.daily WHERE month(day) = 5 LIMIT 10) TO '{may}' "
            "(FORMAT parquet, KV_METADATA {tradewinds_run_id: 'run-1', tradewinds_table: 'marts.daily'})"
        )
    with pytest.raises(PublishError, match=r"month=2025-05 holds 10 rows, the warehouse had 93"):
        publish_release(
            warehouse, root, DAILY, run_id="run-2", as_of=None, monthly={"marts.daily": "day"},
            now=T0 + dt.timedelta(seconds=1),
        )  # fmt: skip
    assert current_release(root) == first.path
    assert [p.name for p in (root / RELEASES).iterdir()] == [first.name]


def test_a_table_split_by_month_without_rows_keeps_its_columns(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_daily(warehouse)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DELETE FROM marts.daily")
    release = publish_release(warehouse, root, DAILY, run_id="r", as_of=None, monthly={"marts.daily": "day"}, now=T0)
    assert [p.file for p in release.tables[0].parts] == ["marts/daily/month=none"]
    with duckdb.connect(str(root / CURRENT / VIEWS_FILE), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM daily").fetchone() == (0,)
        assert [d[0] for d in conn.execute("SELECT * FROM daily LIMIT 0").description] == ["day", "sku", "units"]


def test_a_month_column_the_table_lacks_is_a_clear_error(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_daily(warehouse)
    with pytest.raises(PublishError, match=r"marts.daily is published by month of 'order_date'.*columns: day, sku"):
        publish_release(warehouse, root, DAILY, run_id="r", as_of=None, monthly={"marts.daily": "order_date"}, now=T0)
    assert current_release(root) is None


def test_a_failed_release_leaves_the_current_one_untouched(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_warehouse(warehouse, 1)
    good = publish(warehouse, root, 1)
    with pytest.raises(PublishError, match="marts.missing"):
        publish(warehouse, root, 2, tables=[*TABLES, ("marts", "missing")])
    assert current_release(root) == good.path
    assert read_current_manifest(root)["run_id"] == "run-0001"
    assert [p.name for p in (root / RELEASES).iterdir()] == [good.name]  # nothing half-built left behind


def test_pruning_keeps_at_least_two_and_never_the_current_release(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_warehouse(warehouse, 1)
    names = [publish(warehouse, root, n, keep=1).name for n in range(1, 5)]
    # keep=1 is raised to 2: the reader of the previous night may still have it open
    assert sorted(p.name for p in (root / RELEASES).iterdir()) == names[-2:]

    # After a manual rollback to an older release, pruning never removes what `current` names.
    from orchestration.defs.publish import switch_current

    fifth = publish(warehouse, root, 5, keep=3).name
    switch_current(root, root / RELEASES / names[-2])  # roll back to night 3
    assert prune_releases(root, keep=2) == []  # night 3 is outside the newest two, but current
    assert sorted(p.name for p in (root / RELEASES).iterdir()) == [names[-2], names[-1], fifth]

    # Debris of a crashed publication is removed once it is old.
    debris = root / RELEASES / ".building-20250101T000000Z_x"
    debris.mkdir()
    assert debris.exists()
    prune_releases(root, keep=2, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert not debris.exists()


def test_keep_releases_setting_refuses_less_than_two() -> None:
    assert PublishSettings().keep_releases == 3
    with pytest.raises(ValidationError):
        PublishSettings(keep_releases=1)


READER = textwrap.dedent(
    """
    import json, os, sys, duckdb
    root, stop = sys.argv[1:3]
    reads = errors = 0
    seen = set()
    bad = []
    while not os.path.exists(stop):
        try:
            conn = duckdb.connect(os.path.join(root, "current", "marts.duckdb"), read_only=True)
            try:
                run_id = conn.execute("SELECT run_id FROM tradewinds.publication").fetchone()[0]
                sales, nights = conn.execute("SELECT count(*), min(night) FROM sales").fetchone()
                forecast, fnights = conn.execute("SELECT count(*), max(night) FROM sales_forecast").fetchone()
                if forecast != 2 * sales or nights != fnights or run_id != f"run-{nights:04d}":
                    bad.append([run_id, sales, forecast, nights, fnights])
                seen.add(run_id)
                reads += 1
            finally:
                conn.close()
        except Exception as exc:
            errors += 1
            bad.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"reads": reads, "errors": errors, "seen": sorted(seen), "bad": bad[:5]}))
    """
)


def test_a_reader_racing_many_switches_never_fails_nor_mixes_nights(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "w.duckdb", tmp_path / "published"
    write_warehouse(warehouse, 1)
    publish(warehouse, root, 1)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        for night in range(2, 26):
            write_warehouse(warehouse, night)
            publish(warehouse, root, night, keep=2)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    result = json.loads(out)
    assert result["errors"] == 0 and result["bad"] == [], result
    assert result["reads"] > 20 and len(result["seen"]) > 3, result


# ---------------------------------------------------------------- the asset


def test_run_as_of() -> None:
    assert run_as_of({"dagster/asset_partition_range_end": "2025-06-30"}) == "2025-06-30"
    assert run_as_of({"dagster/partition": "2025-06-29"}) == "2025-06-29"
    assert run_as_of({}) is None


def test_publish_asset_publishes_and_refuses_while_a_gate_fails(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    verdict = {"passed": True}

    @dg.asset(key=["marts", "sales"])
    def sales() -> None:
        write_warehouse(warehouse, 4)

    @dg.asset(key=["forecast", "sales_forecast"], deps=[sales])
    def sales_forecast() -> None:
        return None

    # Not blocking: only the publish asset's own guard stands between this failure and BI.
    @dg.asset_check(asset=sales)
    def sales_ok() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=verdict["passed"], description="units below zero on 3 rows")

    keys = [dg.AssetKey(["marts", "sales"]), dg.AssetKey(["forecast", "sales_forecast"])]
    gate = dg.AssetCheckKey(keys[0], "sales_ok")
    publish_asset = build_publish_asset(keys, [gate])
    assets = [sales, sales_forecast, sales_ok, publish_asset]
    resources = {"warehouse": WarehouseResource(path=str(warehouse), memory_limit="1GB", threads=1)}
    tags = {"dagster/asset_partition_range_start": "2025-06-30", "dagster/asset_partition_range_end": "2025-06-30"}
    # The export runs under the deployment's DuckDB limits (a partitioned write buffers up to the limit).
    import orchestration.defs.publish.release as release_module

    # The run holds the warehouse open (lib.warehouse.hold): the export's connection is one more
    # on the database the run opened with the resource's limits.
    limits, real_connect = [], release_module.connect

    def spy_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        limits.append(conn.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone())
        return conn

    monkeypatch.setattr(release_module, "connect", spy_connect)
    with dg.DagsterInstance.ephemeral() as instance:
        good = dg.materialize(assets, resources=resources, instance=instance, tags=tags)
        meta = good.asset_materializations_for_node("publish__bi_release")[0].metadata
        assert meta["run_id"].value == good.run_id and meta["as_of"].value == "2025-06-30"
        assert meta["rows"].value == {"marts.sales": 4, "forecast.sales_forecast": 8}
        assert limits == [("953.6 MiB", 1)]  # 1GB
        published = get_settings().published
        assert json.loads((published / CURRENT_MANIFEST).read_text())["run_id"] == good.run_id

        verdict["passed"] = False
        bad = dg.materialize(assets, resources=resources, instance=instance, tags=tags, raise_on_error=False)
        failure = next(e for e in bad.all_events if e.is_step_failure and e.step_key == "publish__bi_release")
        message = failure.event_specific_data.error.message
        assert "publication refused" in message and "marts/sales:sales_ok" in message
        assert "units below zero" in message
        assert json.loads((published / CURRENT_MANIFEST).read_text())["run_id"] == good.run_id

        # A publication holds one night: it refuses marts that were not rebuilt in its run.
        verdict["passed"] = True
        dg.materialize(assets, selection=dg.AssetSelection.checks(sales_ok), resources=resources, instance=instance)
        partial = dg.materialize(
            assets, selection=[publish_asset], resources=resources, instance=instance, raise_on_error=False
        )
        failure = next(e for e in partial.all_events if e.is_step_failure)
        assert "not rebuilt in this run" in failure.event_specific_data.error.message
