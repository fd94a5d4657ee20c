"""A series table (rows = the union of its day files) reads only its new and changed files.

Every night the whole series is in landing (thousands of one-day files back to 2019); the ingest
asset records each file's SHA-256 and rows in ``raw._landing_files`` and, while the table holds
just those rows under the same contract and suite, reads only the files that are new or changed
and drops the rows of files gone from landing. Anything else (first load, an older warehouse,
another contract or suite, a table that lost rows) loads the series whole, which gives the same
table. The suite still validates the whole table.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.ingest.assets import build_ingest_asset, load_signature
from orchestration.defs.ingest.loader import file_digests, plan_series_load
from orchestration.lib import landing as lnd
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource
from tests.conftest import use_file_export

CARBON = RAW_TABLES["carbon_prices"]
HEADER = "price_date,scheme,price,currency"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """carbon_prices from a file export under tmp_path/export (one CSV per day), data under tmp_path/data."""
    use_file_export(monkeypatch, tmp_path, "carbon", "carbon_prices")
    yield tmp_path
    get_settings.cache_clear()


def export_day(tmp_path: Path, day: str, *rows: str) -> None:
    path = tmp_path / "export" / "carbon_prices" / f"{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *(rows or (f"{day},EU_ETS,70.0,EUR",))]) + "\n", encoding="utf-8")


def landing_file(day: str) -> Path:
    return lnd.table_dir(get_settings().landing, CARBON) / f"{day}.csv"


def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "data" / "warehouse.duckdb"


def night(tmp_path: Path, succeeds: bool = True) -> tuple[dict, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [build_ingest_asset(CARBON)],
        resources={"warehouse": WarehouseResource(path=str(warehouse(tmp_path)))},
        raise_on_error=False,
    )
    assert result.success is succeeds  # a failing suite (a blocking check) fails the step
    [materialization] = result.asset_materializations_for_node("raw__carbon_prices")
    [evaluation] = result.get_asset_check_evaluations()
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}, evaluation


def rows(tmp_path: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse(tmp_path)), read_only=True) as conn:
        return conn.execute(
            "SELECT price_date::VARCHAR, scheme, price, _partition_date::VARCHAR, _loaded_at "
            "FROM raw.carbon_prices ORDER BY 1, 2"
        ).fetchall()


def without_loaded_at(table: list[tuple]) -> list[tuple]:
    return [row[:-1] for row in table]


def test_a_night_reads_only_new_and_changed_files_and_drops_removed_ones(env: Path) -> None:
    for day in ("2025-06-01", "2025-06-02", "2025-06-03"):
        export_day(env, day)
    meta, check = night(env)
    assert check.passed
    assert (meta["landing_files"], meta["landing_files_read"], meta["rows_loaded"]) == (3, 3, 3)
    first = rows(env)

    export_day(env, "2025-06-04")  # one new day published
    meta, check = night(env)
    assert check.passed and meta["dagster/row_count"] == 4
    assert (meta["landing_files"], meta["landing_files_read"], meta["rows_loaded"]) == (4, 1, 1)
    assert rows(env)[:3] == first  # the other days' rows were not written again (same _loaded_at)

    # The publisher restates 06-02 (its landing copy changes) and withdraws 06-01.
    landing_file("2025-06-02").write_text(f"{HEADER}\n2025-06-02,EU_ETS,71.5,EUR\n", encoding="utf-8")
    landing_file("2025-06-01").unlink()
    (env / "export" / "carbon_prices" / "2025-06-01.csv").unlink()
    meta, check = night(env)
    assert check.passed
    assert (meta["landing_files_read"], meta["landing_files_removed"], meta["rows_loaded"]) == (1, 1, 1)
    partial = rows(env)
    assert without_loaded_at(partial) == [
        ("2025-06-02", "EU_ETS", 71.5, "2025-06-02"),
        ("2025-06-03", "EU_ETS", 70.0, "2025-06-03"),
        ("2025-06-04", "EU_ETS", 70.0, "2025-06-04"),
    ]

    # A whole load of the same landing files (no record of the files or of their validation)
    # gives the same table.
    with duckdb.connect(str(warehouse(env))) as conn:
        conn.execute("DELETE FROM raw._landing_files")
        conn.execute("DELETE FROM raw._snapshot_loads")
    meta, check = night(env)
    assert check.passed and meta["landing_files_read"] == 3
    assert without_loaded_at(rows(env)) == without_loaded_at(partial)


def test_a_table_that_no_longer_holds_its_recorded_rows_is_loaded_whole(env: Path) -> None:
    for day in ("2025-06-01", "2025-06-02"):
        export_day(env, day)
    night(env)
    with duckdb.connect(str(warehouse(env))) as conn:
        conn.execute("DELETE FROM raw.carbon_prices WHERE price_date = DATE '2025-06-01'")  # lost by hand
    export_day(env, "2025-06-03")
    meta, check = night(env)
    assert check.passed and meta["landing_files_read"] == 3
    assert [r[0] for r in rows(env)] == ["2025-06-01", "2025-06-02", "2025-06-03"]


def test_a_bad_row_in_a_new_file_is_quarantined_and_the_rest_kept(env: Path) -> None:
    export_day(env, "2025-06-01")
    night(env)
    export_day(env, "2025-06-02", "2025-06-02,EU_ETS,70.0,EUR", "2025-06-02,UK_ETS,n/a,GBP", "2025-06-02,CH_ETS,60,EUR")
    meta, check = night(env)
    assert check.passed and meta["landing_files_read"] == 1 and meta["rows_quarantined"] == 1
    assert [(r[0], r[1]) for r in rows(env)] == [
        ("2025-06-01", "EU_ETS"),
        ("2025-06-02", "CH_ETS"),
        ("2025-06-02", "EU_ETS"),
    ]
    with duckdb.connect(str(warehouse(env)), read_only=True) as conn:
        [(batch, line, reason)] = conn.execute(
            "SELECT batch, line, reason FROM raw._quarantine WHERE table_name = 'carbon_prices'"
        ).fetchall()
    assert batch == "landing:carbon/carbon_prices/2025-06-02.csv" and line == 3 and "n/a" in reason

    # The fixed file is read again (it changed) and its quarantined row cleared.
    landing_file("2025-06-02").write_text(
        f"{HEADER}\n2025-06-02,EU_ETS,70.0,EUR\n2025-06-02,UK_ETS,55.0,GBP\n2025-06-02,CH_ETS,60,EUR\n",
        encoding="utf-8",
    )
    meta, check = night(env)
    assert meta["landing_files_read"] == 1 and meta["dagster/row_count"] == 4
    with duckdb.connect(str(warehouse(env)), read_only=True) as conn:
        assert (
            conn.execute("SELECT count(*) FROM raw._quarantine WHERE table_name = 'carbon_prices'").fetchone()[0] == 0
        )


def test_the_whole_series_is_validated_after_a_partial_load(env: Path) -> None:
    """A new file that repeats a key of an older file: the suite sees the duplicate across files."""
    export_day(env, "2025-06-01")
    night(env)
    export_day(env, "2025-06-02", "2025-06-01,EU_ETS,71.0,EUR")  # 06-01's price again, in 06-02's file
    meta, check = night(env, succeeds=False)
    assert meta["landing_files_read"] == 1
    assert not check.passed  # expect_compound_columns_to_be_unique over the whole table


def test_another_contract_or_suite_loads_the_series_whole(env: Path) -> None:
    for day in ("2025-06-01", "2025-06-02"):
        export_day(env, day)
    night(env)
    files = sorted(lnd.table_dir(get_settings().landing, CARBON).glob("*.csv"))
    digests = file_digests(files)
    with duckdb.connect(str(warehouse(env)), read_only=True) as conn:
        to_read, plan = plan_series_load(conn, CARBON, files, digests, load_signature(CARBON, [], {}))
        assert to_read == [] and plan.replaced == []  # nothing changed
        to_read, plan = plan_series_load(conn, CARBON, files, digests, "a suite edited since")
    assert to_read == files and plan.replaced is None and "contract or suite changed" in plan.reason
