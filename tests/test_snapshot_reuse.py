"""A snapshot (or series) table whose landing files did not change is not loaded or validated again.

The ingest asset of a whole-table load records the SHA-256 of the landing files it loaded (with
the table's contract and suite) in ``raw._snapshot_loads``, and the run whose suite passed on
those rows; an identical snapshot on a later night loads nothing and its check passes on that
run's validation. A changed file, a failed validation or a changed suite loads and validates again.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.ingest.assets import build_ingest_asset, load_signature
from orchestration.defs.ingest.loader import files_sha256
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource
from tests.conftest import use_file_export

VAT = RAW_TABLES["vat_rates"]
HEADER = "country_code,effective_from,effective_to,standard_rate_pct,reduced_rate_pct,source"
ROWS = ["DE,2020-01-01,,19.0,7.0,test", "FR,2020-01-01,,20.0,5.5,test"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """vat_rates from a file export under tmp_path/export (snapshot.csv), the data under tmp_path/data."""
    use_file_export(monkeypatch, tmp_path, "policy", "vat_rates")
    yield tmp_path
    get_settings.cache_clear()


def export(tmp_path: Path, rows: list[str]) -> None:
    path = tmp_path / "export" / "vat_rates" / "snapshot.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def night(tmp_path: Path) -> tuple[dg.ExecuteInProcessResult, dict, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [build_ingest_asset(VAT)],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "data" / "warehouse.duckdb"))},
        raise_on_error=False,
    )
    [materialization] = result.asset_materializations_for_node("raw__vat_rates")
    [evaluation] = result.get_asset_check_evaluations()
    return result, {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}, evaluation


def loaded_at(tmp_path: Path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute("SELECT country_code, _loaded_at FROM raw.vat_rates ORDER BY 1").fetchall()


def test_an_unchanged_snapshot_is_not_loaded_or_validated_again(env: Path) -> None:
    export(env, ROWS)
    first, meta, check = night(env)
    assert check.passed and meta["rows_loaded"] == 2 and "unchanged_since_run" not in meta
    before = loaded_at(env)

    second, meta, check = night(env)
    assert meta["unchanged_since_run"] == first.run_id and meta["rows_loaded"] == 0
    assert meta["dagster/row_count"] == 2
    assert check.passed and check.metadata["validated_in_run"].value == first.run_id
    assert loaded_at(env) == before  # the rows were not written again

    export(env, [*ROWS, "IT,2020-01-01,,22.0,10.0,test"])  # the export changed: landed, loaded, validated
    third, meta, check = night(env)
    assert meta["rows_loaded"] == 3 and "unchanged_since_run" not in meta
    assert check.passed and "validated_in_run" not in check.metadata
    assert night(env)[1]["unchanged_since_run"] == third.run_id


def test_a_snapshot_whose_suite_failed_is_validated_again(env: Path) -> None:
    export(env, ["DE,2020-01-01,,190.0,7.0,test"])  # a VAT rate of 190%: the suite fails
    _, meta, check = night(env)
    assert not check.passed
    _, meta, check = night(env)  # same file: not taken as validated, checked (and failing) again
    assert "unchanged_since_run" not in meta and not check.passed


def test_the_signature_covers_the_files_the_contract_and_the_suite(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n1\n")
    assert files_sha256([a]) == files_sha256([a])
    assert files_sha256([a]) != files_sha256([b])  # the name counts
    assert files_sha256([a], b"suite v1") != files_sha256([a], b"suite v2")
    assert load_signature(VAT, [a]) != load_signature(RAW_TABLES["de_minimis"], [a])  # another contract and suite


def test_rows_a_fetch_set_aside_are_quarantined_on_an_unchanged_night(env: Path) -> None:
    """Nothing to load, but the parser's rejects of tonight's fetch still reach raw._quarantine."""
    from orchestration.lib import landing as lnd

    export(env, ROWS)
    night(env)
    reject = {
        "source": "policy/http",
        "origin": "https://example.test/vat?page=1",
        "line": 3,
        "column_name": "standard_rate_pct",
        "reason": "not a number: 'n/a'",
        "raw_record": '{"country_code": "IT", "standard_rate_pct": "n/a"}',
    }
    lnd.write_rejects(get_settings().landing, VAT, "fetch-2", [reject])
    _, meta, check = night(env)
    assert meta["unchanged_since_run"] and check.passed
    with duckdb.connect(str(env / "data" / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT batch, line, reason FROM raw._quarantine WHERE table_name = 'vat_rates'").fetchall()
    assert rows == [("fetch:fetch-2", 3, "not a number: 'n/a'")]
