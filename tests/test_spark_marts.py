"""The same marts on Apache Spark: dbt-spark (session method, pyspark local[2]) against DuckDB.

The SF 0.01 sample (seed 42, up to 2025-06-30, as tests/test_marts_sample.py loads it) is
loaded into a DuckDB warehouse; its ``raw`` tables are exported as Parquet folders (the raw
zone a Spark cluster reads, ``orchestration.lib.spark_raw``). Then, side by side:

- ``dbt build --target duckdb`` on the warehouse (data tests aside: test_marts_sample runs them);
- ``dbt build --target spark``: the on-run-start macro creates ``raw.<table>`` as external
  Parquet tables, and seeds, models and data tests run on Spark (tables are Parquet files under
  the test's Spark warehouse folder, with its own Derby metastore).

Every mart of the project (every table model under models/marts) must then have, on both
engines: the same row count, the same non-NULL count of every column, the same number of
TRUEs of every boolean, the same number of distinct values of every string, the same first
and last date/timestamp, and the same sum of every numeric column within rounding (relative
1e-6: values rounded to 4 decimals can differ by one unit in the last place when a half-way
value meets DuckDB's and Spark's different round()).

Runtime on 2 cores: about 3-4 minutes, most of it Spark's build (JVM start, ~70 models and
~120 data tests, each a small Spark job). Skipped only when no Java runtime is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.spark_compare import compare_marts, marts_of_manifest
from orchestration.lib.spark_raw import export_raw_parquet, expose_spark_tables
from tests.test_marts_sample import END, NO_TESTS, build_raw, dbt_command

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")

# Seeds, models and the data tests of the marts (~100): the ~130 tests of staging,
# intermediate models and seeds also pass on Spark but would double the runtime; they run on
# DuckDB in test_marts_sample.py. Unit tests: tests/test_dbt_project.py (DuckDB).
SPARK_SELECTION = [
    "--exclude-resource-type",
    "unit_test",
    "--exclude",
    "resource_type:test,path:models/staging",
    "resource_type:test,path:models/intermediate",
    "resource_type:test,path:seeds",
]

needs_java = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="Spark needs a Java 17+ runtime: no `java` on PATH and no JAVA_HOME (apt-get install openjdk-17-jre-headless)",
)


def spark_command(args: list[str], work: Path) -> tuple[list[str], dict[str, str]]:
    """dbt on the `spark` target with its Spark warehouse, metastore, target and logs in ``work``."""
    env = {
        **os.environ,
        "TRADEWINDS_DBT_TARGET": "spark",
        "TRADEWINDS_RAW_PARQUET": str(work.parent / "raw"),
        "TRADEWINDS_SPARK_WAREHOUSE": str(work / "warehouse"),
        "TRADEWINDS_SPARK_MASTER": "local[2]",
        "TRADEWINDS_SPARK_SHUFFLE_PARTITIONS": "2",
    }
    cmd = [
        str(DBT_EXECUTABLE),
        *args,
        "--target",
        "spark",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    return cmd, env


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spark_marts")
    warehouse = root / "warehouse.duckdb"
    duck_work, spark_work = root / "duckdb", root / "spark"
    duck_work.mkdir()
    spark_work.mkdir()
    build_raw(warehouse, END)
    counts = export_raw_parquet(warehouse, root / "raw")
    assert counts["orders"] > 0 and counts["freight_rates"] > 0, counts
    # Spark (the longer build, with data tests) beside DuckDB's build.
    cmd, env = spark_command(["build", *SPARK_SELECTION], spark_work)
    with subprocess.Popen(
        cmd, env=env, cwd=spark_work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as spark:
        dcmd, denv = dbt_command(["build", *NO_TESTS], warehouse, duck_work)
        duck = subprocess.run(dcmd, env=denv, cwd=duck_work, capture_output=True, text=True, timeout=1200)
        output, _ = spark.communicate(timeout=1500)
    assert duck.returncode == 0, duck.stdout[-8000:] + duck.stderr[-3000:]
    assert spark.returncode == 0, output[-12000:]
    (spark_work / "dbt_output.txt").write_text(output, encoding="utf-8")
    return {"warehouse": warehouse, "spark": spark_work}


@pytest.mark.slow
@needs_java
def test_spark_build_ran_the_models_and_data_tests(builds: dict[str, Path]) -> None:
    results = json.loads((builds["spark"] / "target" / "run_results.json").read_text(encoding="utf-8"))
    by_type: dict[str, int] = {}
    for r in results["results"]:
        assert r["status"] in ("success", "pass", "no-op"), (r["unique_id"], r["status"], r.get("message"))
        kind = r["unique_id"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0) + 1
    assert by_type.get("model", 0) >= 60 and by_type.get("test", 0) >= 50 and by_type.get("seed", 0) >= 5, by_type
    # The raw sources were the external Parquet tables.
    assert "register_raw_tables: 19 raw tables over" in (builds["spark"] / "dbt_output.txt").read_text()


@pytest.mark.slow
@needs_java
def test_every_mart_equals_the_duckdb_build(builds: dict[str, Path]) -> None:
    manifest = json.loads((builds["spark"] / "target" / "manifest.json").read_text(encoding="utf-8"))
    marts = marts_of_manifest(manifest)
    assert len(marts) >= 12, marts
    rows, problems = compare_marts(builds["warehouse"], builds["spark"] / "warehouse", marts)
    assert not problems, "\n".join(problems)
    assert sorted(rows) == marts
    empty = [m for m, n in rows.items() if n == 0]
    assert not empty, f"empty marts (the comparison would prove nothing): {empty}"


def test_the_comparison_finds_a_difference(tmp_path: Path) -> None:
    """compare_marts on a hand-made pair: a changed value, a missing row and a NULL are found."""
    warehouse, spark = tmp_path / "w.duckdb", tmp_path / "spark"
    (spark / "marts.db" / "m").mkdir(parents=True)
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute("CREATE SCHEMA marts")
        conn.execute(
            "CREATE TABLE marts.m AS SELECT i AS id, i * 1.5 AS amount, i % 2 = 0 AS flag, 'k' || i AS key, "
            "DATE '2025-01-01' + CAST(i AS INTEGER) AS day FROM range(10) t(i)"
        )
        conn.execute(f"COPY marts.m TO '{spark / 'marts.db' / 'm' / 'a.parquet'}' (FORMAT parquet)")
    finally:
        conn.close()
    assert compare_marts(warehouse, spark, ["m"]) == ({"m": 10}, [])
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute(
            f"COPY (SELECT id, CASE WHEN id = 3 THEN amount + 0.01 ELSE amount END AS amount, "
            f"CASE WHEN id = 4 THEN NULL ELSE flag END AS flag, key, day FROM marts.m WHERE id < 9) "
            f"TO '{spark / 'marts.db' / 'm' / 'a.parquet'}' (FORMAT parquet)"
        )
    finally:
        conn.close()
    _, problems = compare_marts(warehouse, spark, ["m"])
    found = {p.split(":")[0] for p in problems}
    assert {"m.rows", "m.sum(amount)", "m.non_null(flag)", "m.distinct(key)", "m.max(day)"} <= found, problems


def test_spark_marts_are_exposed_as_warehouse_views(tmp_path: Path) -> None:
    """expose_spark_tables: a mart table of an earlier DuckDB build is replaced by a view over
    the Spark table's Parquet files, which follows a rebuild of those files."""
    warehouse, spark = tmp_path / "w.duckdb", tmp_path / "spark"
    folder = spark / "marts.db" / "m"
    folder.mkdir(parents=True)
    conn = duckdb.connect(str(warehouse))
    try:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.m AS SELECT 1 AS id")
        conn.execute(f"COPY (SELECT i AS id FROM range(5) t(i)) TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")
    finally:
        conn.close()
    assert expose_spark_tables(warehouse, spark, "marts", ["m"]) == 1
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        kind = conn.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'm'").fetchone()
        assert kind == ("VIEW",)
        assert conn.execute("SELECT count(*), sum(id) FROM marts.m").fetchone() == (5, 10)
    finally:
        conn.close()
    (folder / "part-0.parquet").unlink()
    conn = duckdb.connect()
    conn.execute(f"COPY (SELECT 7 AS id) TO '{folder / 'part-1.parquet'}' (FORMAT parquet)")
    conn.close()
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert conn.execute("SELECT count(*), sum(id) FROM marts.m").fetchone() == (1, 7)
    finally:
        conn.close()
    with pytest.raises(FileNotFoundError, match="no Parquet files"):
        expose_spark_tables(warehouse, spark, "marts", ["missing"])


def test_the_dbt_target_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from orchestration.lib.settings import get_settings

    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.dbt.target == "duckdb"
    monkeypatch.setenv("TRADEWINDS_DBT__TARGET", "spark_thrift")
    monkeypatch.setenv("TRADEWINDS_DBT__RAW_PARQUET_PATH", "s3://lake/raw")
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.dbt.target, settings.dbt.raw_parquet_path) == ("spark_thrift", "s3://lake/raw")
    assert settings.spark_warehouse == tmp_path / "data" / "spark" / "warehouse"
    get_settings.cache_clear()
