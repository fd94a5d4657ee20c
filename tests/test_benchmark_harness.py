"""The benchmark harness's bookkeeping: stages of step keys and the dbt breakdown from run_results.json."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("harness", ROOT / "benchmarks" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("harness", None)


def test_stage_of_step_keys(harness) -> None:
    assert harness.stage_of("raw__orders") == "ingest"
    assert harness.stage_of("dbt_models") == "dbt"
    assert harness.stage_of("forecast__demand_forecast") == "forecasts"
    assert harness.stage_of("alerts__stockout_risk_alerts") == "alerts"
    assert harness.stage_of("publish__marts_release") == "publish"
    assert harness.stage_of("gx_load_checks") == "gates"


def test_union_counts_overlapping_intervals_once(harness) -> None:
    assert harness.union([]) == 0
    assert harness.union([(0, 2), (1, 3), (5, 6)]) == 4
    assert harness.union([(0, 10), (2, 3)]) == 10


def _node(uid: str, start: str, end: str, seconds: float) -> dict:
    return {
        "unique_id": uid,
        "execution_time": seconds,
        "timing": [
            {
                "name": "compile",
                "started_at": f"2026-01-01T00:00:{start}Z",
                "completed_at": f"2026-01-01T00:00:{start}Z",
            },
            {"name": "execute", "started_at": f"2026-01-01T00:00:{start}Z", "completed_at": f"2026-01-01T00:00:{end}Z"},
        ],
    }


def test_dbt_breakdown_reads_the_runs_build_folder(harness, tmp_path: Path) -> None:
    results = {
        "elapsed_time": 12.5,
        "results": [
            _node("model.p.a", "00", "04", 4.0),
            _node("model.p.b", "02", "06", 4.0),  # beside a: 6 s of wall, 8 s of execution
            _node("test.p.not_null_a", "06", "07", 1.0),
            _node("seed.p.markets", "10", "11", 1.0),
        ],
    }
    folder = tmp_path / "dbt_models-abcdef1-1234567"
    folder.mkdir()
    (folder / "run_results.json").write_text(json.dumps(results))
    (tmp_path / "dbt_models-zzzzzzz-1234567").mkdir()  # another run's build: not read

    breakdown = harness.dbt_breakdown("abcdef1-rest-of-run-id", tmp_path)

    assert breakdown["invocation_seconds"] == 12.5
    assert breakdown["by_type"]["model"] == {"nodes": 2, "execution_seconds": 8.0, "wall_seconds": 6.0}
    assert breakdown["by_type"]["test"]["wall_seconds"] == 1.0
    assert breakdown["test_only_seconds"] == 1.0  # 00:06-00:07: no model ran beside the test
    assert next(iter(breakdown["slowest_nodes"])) in ("model.p.a", "model.p.b")
    assert harness.dbt_breakdown("0000000", tmp_path) is None


def test_each_night_is_calibrated_against_fixed_work(harness) -> None:
    """Two fixed pieces of work timed before a night (the machine's speed then), and their cell."""
    calibrated = harness.calibration()
    assert set(calibrated) == {"python_s", "duckdb_s"}
    assert all(isinstance(seconds, float) and seconds > 0 for seconds in calibrated.values()), calibrated
    assert harness.calibration_cell({"python_s": 0.35, "duckdb_s": 0.2}) == "0.35 / 0.2"
    assert harness.calibration_cell(None) == ""  # results of rounds before the calibration


def test_the_ratio_is_read_on_the_median_of_the_one_day_nights(harness) -> None:
    """Three one-day nights after a 800 s full night: each share, and the median night's."""
    nights = [{"wall_seconds": 125.0, "succeeded": True}, {"wall_seconds": 78.0, "succeeded": True}]
    nights.append({"wall_seconds": 82.0, "succeeded": True})
    summary = harness.incremental_summary(800.0, nights)
    assert summary["shares_of_full"] == [0.156, 0.098, 0.102]
    assert (summary["median_wall_seconds"], summary["median_share_of_full"]) == (82.0, 0.102)
    failed = harness.incremental_summary(800.0, [*nights[:1], {"wall_seconds": 30.0, "succeeded": False}])
    assert failed == {"nights": 2, "succeeded": False}  # no ratio from a series with a failed night


def test_the_table_lists_every_one_day_night_and_the_median(harness) -> None:
    def night(wall: float) -> dict:
        return {"wall_seconds": wall, "succeeded": True, "peak_rss_mib": 1, "load_average_before": [0.5], "stages": {}}

    full, first, later = night(800.0), night(125.0), [night(78.0), night(82.0)]
    entry = {"scale": 10.0, "full": full, "incremental": first, "incremental_later": later}
    entry["incremental_summary"] = harness.incremental_summary(800.0, [first, *later])
    machine = {"cpus": 2, "cpu": "x", "mem_gib": 1, "python": "3.11", "duckdb": "1"}
    text = harness.markdown({"machine": machine, "measured_at": "now", "scales": [entry]})
    assert "| 10 | incremental, night 2 | 78.0 |" in text and "| 10 | incremental, night 3 | 82.0 |" in text
    assert "| 0.102 (3 nights) |" in text


def test_a_saved_work_folder_is_put_back_for_the_same_night_again(harness, tmp_path: Path) -> None:
    """--save-state / --from-state: two commits compared on the same one-day night."""
    data, state = tmp_path / "sf10", tmp_path / "state" / "sf10"
    (data / "dagster_home" / "history").mkdir(parents=True)
    (data / "landing" / "platform" / "orders").mkdir(parents=True)
    (data / "warehouse.duckdb").write_bytes(b"before the night")
    (data / "dagster_home" / "history" / "runs.db").write_text("runs before")
    (data / "landing" / "platform" / "orders" / "2025-07-07.parquet").write_text("old day")
    cache = data / "landing" / ".sample_cache"
    cache.mkdir()
    (cache / "orders-42-10-old-739386.pkl").write_text("a day cached before the night")
    harness.save_state(data, state)

    # The night: the warehouse changes, a WAL and a run appear, a new day lands, Data Docs grow.
    (data / "warehouse.duckdb").write_bytes(b"after the night, longer")
    (data / "warehouse.duckdb.wal").write_bytes(b"wal")
    (data / "dagster_home" / "history" / "runs.db").write_text("runs after")
    (data / "dagster_home" / "history" / "new-run.db").write_text("a run")
    (data / "gx").mkdir()
    (data / "gx" / "result.json").write_text("{}")
    (data / "landing" / "platform" / "orders" / "2025-07-08.parquet").write_text("new day")
    # ...and the sample cache is pruned and given the night's day (or rebuilt for a changed generator).
    (cache / "orders-42-10-old-739386.pkl").unlink()
    (cache / "orders-42-10-new-739387.pkl").write_text("the night's own day")

    assert harness.restore_state(state, data) == 1
    assert (data / "warehouse.duckdb").read_bytes() == b"before the night"
    assert not (data / "warehouse.duckdb.wal").exists() and not (data / "gx").exists()
    assert sorted(p.name for p in (data / "dagster_home" / "history").iterdir()) == ["runs.db"]
    assert (data / "dagster_home" / "history" / "runs.db").read_text() == "runs before"
    assert [p.name for p in (data / "landing" / "platform" / "orders").iterdir()] == ["2025-07-07.parquet"]
    # The cache as it was: a night run again neither finds its own day cached nor rebuilds a stale cache.
    assert [p.name for p in cache.iterdir()] == ["orders-42-10-old-739386.pkl"]
    # The state itself is untouched: the same night can be run from it again.
    assert harness.restore_state(state, data) == 0
    with pytest.raises(SystemExit, match="--save-state"):
        harness.restore_state(tmp_path / "nothing", data)
