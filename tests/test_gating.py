"""Gating across runs, on small stand-in graphs (fast): the ledger of open gate failures, the
``upstream_gates`` check on a mart, dbt-test-like failures, automation, and the gate page.

The real nightly job is exercised in ``tests/test_publish_nightly.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pytest

from orchestration.defs.alerts import oncall_gate_failure, page_failed_gates
from orchestration.defs.quality import (
    GateLedger,
    build_upstream_gate_check,
    gate_automation,
    gated_automation_condition,
    gates_upstream_of,
    open_gate_failures,
    require_gates_passed,
)
from orchestration.defs.quality.gating import parse_day_range
from orchestration.lib.settings import get_settings

PARTS = dg.DailyPartitionsDefinition(start_date="2025-01-01")
RAW = dg.AssetKey(["raw", "t"])
MART = dg.AssetKey(["marts", "m"])
MART2 = dg.AssetKey(["marts", "m2"])
FORECAST = dg.AssetKey(["forecast", "f"])
ALERT = dg.AssetKey(["alerts", "a"])
RAW_GATE = dg.AssetCheckKey(RAW, "gx_raw_t")
DBT_TEST = dg.AssetCheckKey(MART, "not_null_m_units")

#: Days whose landing data is "bad" (the raw gate fails when its load covers one of them).
BAD_DAYS: set[str] = set()
#: Whether the dbt-like test on marts/m fails.
DBT_FAILS = {"value": False}


@dg.asset(
    key=RAW,
    partitions_def=PARTS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("gx_raw_t", asset=RAW, blocking=True)],
)
def raw_t(context):  # context: AssetExecutionContext
    first, last = context.partition_key_range.start, context.partition_key_range.end
    bad = sorted(d for d in BAD_DAYS if first <= d <= last)
    yield dg.MaterializeResult(metadata={"partition_range": f"{first}..{last}"})
    yield dg.AssetCheckResult(
        check_name="gx_raw_t",
        passed=not bad,
        description=f"unit_price out of bounds on {bad}" if bad else "all passed",
        metadata={"failures": dg.MetadataValue.json([{"expectation_type": "between", "columns": ["unit_price"]}])},
    )


@dg.multi_asset(
    specs=[dg.AssetSpec(MART, deps=[RAW]), dg.AssetSpec(MART2, deps=[RAW])],
    check_specs=[dg.AssetCheckSpec("not_null_m_units", asset=MART, blocking=True)],
)
def dbt_like():
    """Stands in for @dbt_assets: one step builds both marts and runs the dbt test on m."""
    yield dg.MaterializeResult(asset_key=MART)
    yield dg.AssetCheckResult(asset_key=MART, check_name="not_null_m_units", passed=not DBT_FAILS["value"])
    yield dg.MaterializeResult(asset_key=MART2)


@dg.asset(key=FORECAST, deps=[MART], group_name="forecast")
def forecast_f() -> None:
    return None


@dg.asset(key=ALERT, deps=[MART2], group_name="alerts")
def alert_a() -> None:
    return None


def stand_in_defs(**extra: Any) -> dg.Definitions:
    base = dg.Definitions(assets=[raw_t, dbt_like, forecast_f, alert_a])
    graph = base.resolve_asset_graph()
    gates = [
        build_upstream_gate_check(MART, gates_upstream_of(graph, [MART])),
        build_upstream_gate_check(MART2, gates_upstream_of(graph, [MART2])),
    ]
    nightly = dg.define_asset_job("nightly", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[raw_t, dbt_like, forecast_f, alert_a], asset_checks=gates, jobs=[nightly], **extra)


def run(
    instance: dg.DagsterInstance, first: str, last: str | None = None, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    job = stand_in_defs().resolve_job_def("nightly")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last or first,
            **(tags or {}),
        },
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


@pytest.fixture(autouse=True)
def _reset() -> None:
    BAD_DAYS.clear()
    DBT_FAILS["value"] = False


@pytest.fixture
def page_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_WEBSERVER_BASE_URL", "http://dagster.example:3000")
    get_settings.cache_clear()
    # Pages rebuild the GX Data Docs first (tested with the real nightly); not needed here.
    import orchestration.defs.quality.docs as docs

    monkeypatch.setattr(docs, "rebuild_data_docs_quietly", lambda: tmp_path / "data_docs" / "index.html")
    return tmp_path / "data"


def read_outbox() -> list[dict[str, Any]]:
    path = get_settings().outbox
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ---------------------------------------------------------------- helpers


def test_parse_day_range() -> None:
    assert parse_day_range("2025-06-01..2025-06-30") == (dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    assert parse_day_range("snapshot") is None
    assert parse_day_range("whole series") is None
    assert parse_day_range(None) is None


def test_gates_upstream_of_a_mart_are_the_raw_gates_and_its_own_dbt_tests() -> None:
    graph = stand_in_defs().resolve_asset_graph()
    assert gates_upstream_of(graph, [MART]) == [DBT_TEST, RAW_GATE]
    assert gates_upstream_of(graph, [MART2]) == [RAW_GATE]
    # the derived checks never count as gates of something else
    assert all(k.name != "upstream_gates" for k in gates_upstream_of(graph, [FORECAST], include_own=True))


# ---------------------------------------------------------------- across runs, per partition day


def test_a_failed_raw_day_gates_later_runs_until_it_is_reloaded_and_passes() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        first = run(instance, "2025-01-01", "2025-01-03")
        assert first.success and {FORECAST, ALERT} <= materialized(first)

        BAD_DAYS.add("2025-01-04")
        bad = run(instance, "2025-01-04")
        assert not bad.success
        assert not evaluations(bad)["raw/t:gx_raw_t"].passed
        assert materialized(bad) == {RAW}  # in-run blocking: nothing downstream

        # The next night loads 01-05, whose rows pass: Dagster's own blocking would let the
        # marts' readers run on the 01-04 rows still in the table. The upstream gate does not.
        later = run(instance, "2025-01-05")
        checks = evaluations(later)
        assert checks["raw/t:gx_raw_t"].passed
        gate = checks["marts/m:upstream_gates"]
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
        assert "raw/t:gx_raw_t" in gate.description and "2025-01-04" in gate.description
        assert "2025-01-04" in gate.metadata["failing_gates"].value
        assert not checks["marts/m2:upstream_gates"].passed
        assert FORECAST not in materialized(later) and ALERT not in materialized(later)
        assert not later.success

        [open_failure] = open_gate_failures(instance, [RAW_GATE])
        assert open_failure.run_id == bad.run_id
        assert open_failure.days == (dt.date(2025, 1, 4),)

        # Fix the source, rerun the failed day: the failure is closed and the readers run again.
        BAD_DAYS.clear()
        fixed = run(instance, "2025-01-04")
        assert fixed.success
        assert {FORECAST, ALERT} <= materialized(fixed)
        assert open_gate_failures(instance, [RAW_GATE]) == []


def test_a_wider_failed_load_stays_open_for_the_days_not_reloaded() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        BAD_DAYS.add("2025-01-02")
        run(instance, "2025-01-01", "2025-01-03")
        BAD_DAYS.clear()
        run(instance, "2025-01-03")  # passes, covers 01-03 only
        [failure] = GateLedger(instance).open_failures(RAW_GATE)
        assert failure.days == (dt.date(2025, 1, 1), dt.date(2025, 1, 2))
        assert failure.days_text == "2025-01-01..2025-01-02"
        run(instance, "2025-01-01", "2025-01-02")
        assert GateLedger(instance).open_failures(RAW_GATE) == []


# ---------------------------------------------------------------- dbt tests


def test_a_failed_dbt_test_stops_the_reader_in_the_same_run_and_in_a_later_run() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert run(instance, "2025-01-01").success
        DBT_FAILS["value"] = True
        same = run(instance, "2025-01-02")
        assert not evaluations(same)["marts/m:not_null_m_units"].passed
        assert FORECAST not in materialized(same)

        # A later run that does not rebuild the mart (a forecast refresh: the forecast and the
        # gates of what it reads) still refuses: the dbt test's latest verdict is a failure.
        gate_checks = list(stand_in_defs().asset_checks)  # the upstream_gates checks of m and m2
        refresh = dg.materialize(
            [raw_t, dbt_like, forecast_f, alert_a, *gate_checks],
            selection=dg.AssetSelection.assets(forecast_f, alert_a) | dg.AssetSelection.checks(*gate_checks),
            instance=instance,
            raise_on_error=False,
        )
        checks = evaluations(refresh)
        assert not checks["marts/m:upstream_gates"].passed
        assert "not_null_m_units" in checks["marts/m:upstream_gates"].description
        assert checks["marts/m2:upstream_gates"].passed  # m2 has no failing gate
        assert FORECAST not in materialized(refresh)
        assert ALERT in materialized(refresh)

        # The guard an asset can call itself refuses with the failing gate named.
        with pytest.raises(dg.Failure, match="forecast/f refused to run.*not_null_m_units"):
            require_gates_passed(_FakeContext(instance, FORECAST), [DBT_TEST])


def test_a_failed_mart_suite_stops_a_later_forecast_refresh_until_the_mart_is_rebuilt_and_passes() -> None:
    """The mart's own standalone GX check (``gx_mart_<mart>``) is a gate of its ``upstream_gates`` check: a
    forecast refresh that does not rebuild the mart must not read what last night's mart suite rejected."""
    from orchestration.defs import quality

    mart_suite_fails = {"value": False}

    @dg.asset_check(asset=MART, name="gx_mart_m", blocking=True)
    def gx_mart_m() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=not mart_suite_fails["value"], description="rate_usd <= 0 on 2 rows")

    base = dg.Definitions(assets=[raw_t, dbt_like, forecast_f, alert_a], asset_checks=[gx_mart_m])
    graph = base.resolve_asset_graph()
    gate_checks = [
        build_upstream_gate_check(key, quality.mart_gates(graph, key)) for key in (MART, MART2)
    ]  # what build_gating_defs builds for each mart
    everything = [raw_t, dbt_like, forecast_f, alert_a, gx_mart_m, *gate_checks]
    tags = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-01"}

    def refresh() -> dg.ExecuteInProcessResult:
        """The forecast again with the marts' upstream gates, the marts not rebuilt."""
        return dg.materialize(
            everything,
            selection=dg.AssetSelection.assets(forecast_f) | dg.AssetSelection.checks(*gate_checks),
            instance=instance,
            raise_on_error=False,
        )

    with dg.DagsterInstance.ephemeral() as instance:
        mart_suite_fails["value"] = True
        night = dg.materialize(everything, instance=instance, raise_on_error=False, tags=tags)
        assert not evaluations(night)["marts/m:gx_mart_m"].passed
        assert FORECAST not in materialized(night)  # Dagster's own blocking, in the run

        later = refresh()
        gate = evaluations(later)["marts/m:upstream_gates"]
        assert not gate.passed and "marts/m:gx_mart_m" in gate.description and "rate_usd" in gate.description
        assert FORECAST not in materialized(later)

        # The mart rebuilt and its suite passing: tonight's verdict, not last night's, decides.
        mart_suite_fails["value"] = False
        fixed = dg.materialize(everything, instance=instance, raise_on_error=False, tags=tags)
        assert evaluations(fixed)["marts/m:upstream_gates"].passed
        assert FORECAST in materialized(fixed)
        assert evaluations(refresh())["marts/m:upstream_gates"].passed


class _FakeContext:
    """The attributes ``require_gates_passed`` reads from an asset context."""

    def __init__(self, instance: dg.DagsterInstance, key: dg.AssetKey) -> None:
        self.instance = instance
        self.asset_key = key
        self.run = SimpleNamespace(run_id="guard-called-by-hand")


def test_a_mart_rebuilt_since_its_failed_check_is_judged_by_its_next_verdict() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        DBT_FAILS["value"] = True
        run(instance, "2025-01-01")
        assert [f.check_key for f in open_gate_failures(instance, [DBT_TEST])] == [DBT_TEST]
        DBT_FAILS["value"] = False
        run(instance, "2025-01-02")
        assert open_gate_failures(instance, [DBT_TEST]) == []


# ---------------------------------------------------------------- automation


def test_automation_holds_a_gated_forecast_while_a_gate_upstream_fails() -> None:
    @dg.asset(key=FORECAST, deps=[MART], group_name="forecast", automation_condition=dg.AutomationCondition.eager())
    def eager_forecast() -> None:
        return None

    def defs_with(forecast: dg.AssetsDefinition) -> dg.Definitions:
        base = dg.Definitions(assets=[raw_t, dbt_like, forecast, alert_a])
        graph = base.resolve_asset_graph()
        gate = build_upstream_gate_check(MART, gates_upstream_of(graph, [MART]))
        return gate_automation(dg.Definitions.merge(base, dg.Definitions(asset_checks=[gate])), graph)

    gated = defs_with(eager_forecast)
    condition = gated.resolve_asset_graph().get(FORECAST).automation_condition
    assert "all_deps_blocking_checks_passed" in str(condition.get_label() or condition)
    assert gated_automation_condition(None) is None

    ungated = dg.Definitions(assets=[raw_t, dbt_like, eager_forecast, alert_a])
    everything = dg.AssetSelection.assets(FORECAST)

    def tick(defs: dg.Definitions, previous: Any = None) -> Any:
        cursor = previous.cursor if previous is not None else None
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=everything, cursor=cursor
        )

    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([raw_t, dbt_like, eager_forecast], instance=instance, partition_key="2025-01-01")
        gated_0, naive_0 = tick(gated), tick(ungated)
        assert gated_0.get_num_requested(FORECAST) == naive_0.get_num_requested(FORECAST) == 0

        # The marts are rebuilt outside the nightly (a manual dbt run) and the dbt test fails.
        DBT_FAILS["value"] = True
        dg.materialize([raw_t, dbt_like], selection=[MART, MART2], instance=instance, raise_on_error=False)
        gated_1, naive_1 = tick(gated, gated_0), tick(ungated, naive_0)
        assert naive_1.get_num_requested(FORECAST) == 1  # eager alone would start the forecast
        assert gated_1.get_num_requested(FORECAST) == 0  # the gated condition holds it

        # Rebuilt again with the test passing and the upstream gate evaluated: released.
        DBT_FAILS["value"] = False
        dg.materialize(
            [raw_t, dbt_like, *gated.asset_checks],
            selection=dg.AssetSelection.assets(MART, MART2) | dg.AssetSelection.checks(*gated.asset_checks),
            instance=instance,
        )
        assert tick(gated, gated_1).get_num_requested(FORECAST) == 1


# ---------------------------------------------------------------- paging


def test_a_failed_gate_pages_once_per_failure_episode(page_env: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        run(instance, "2025-01-01")
        BAD_DAYS.update({"2025-01-02", "2025-01-03"})
        bad = run(instance, "2025-01-02")
        pages = page_failed_gates(instance, bad.run_id, get_settings())
        assert [p["dedup_key"] for p in pages] == [f"failed_gate:raw/t:gx_raw_t:{bad.run_id}"]
        page = read_outbox()[0]
        assert (page["rule"], page["severity"], page["entity"]) == ("failed_gate", "critical", "raw/t:gx_raw_t")
        assert page["link"] == f"http://dagster.example:3000/runs/{bad.run_id}"
        payload = page["payload"]
        assert payload["partitions"] == "2025-01-02"
        assert payload["failures"] == [{"expectation_type": "between", "columns": ["unit_price"]}]
        assert payload["check_link"] == "http://dagster.example:3000/assets/raw/t?view=checks"
        assert payload["data_docs"].endswith("index.html")
        assert "unit_price" in page["title"]

        # The same gate fails again (the next day is bad too, 01-02 not fixed): same episode.
        again = run(instance, "2025-01-03")
        assert not evaluations(again)["raw/t:gx_raw_t"].passed
        assert page_failed_gates(instance, again.run_id, get_settings()) == []
        # The derived upstream_gates checks never page.
        later = run(instance, "2025-01-04")
        assert not evaluations(later)["marts/m:upstream_gates"].passed
        assert page_failed_gates(instance, later.run_id, get_settings()) == []
        assert len(read_outbox()) == 1

        # Fixed and reloaded: the episode is closed; a new failure pages again.
        BAD_DAYS.clear()
        assert run(instance, "2025-01-02", "2025-01-03").success
        BAD_DAYS.add("2025-01-05")
        new = run(instance, "2025-01-05")
        assert [p["dedup_key"] for p in page_failed_gates(instance, new.run_id, get_settings())] == [
            f"failed_gate:raw/t:gx_raw_t:{new.run_id}"
        ]


def test_gate_sensor_pages_new_failures_once(page_env: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        defs = stand_in_defs(sensors=[oncall_gate_failure])
        # First tick: the cursor starts at the present, history is not paged.
        first = dg.build_sensor_context(instance=instance, definitions=defs)
        oncall_gate_failure(first)
        cursor = first.cursor
        assert cursor is not None

        BAD_DAYS.add("2025-01-01")
        bad = run(instance, "2025-01-01")
        tick = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        oncall_gate_failure(tick)
        assert [p["dedup_key"] for p in read_outbox()] == [f"failed_gate:raw/t:gx_raw_t:{bad.run_id}"]
        # Nothing new: nothing sent; the same evaluations are never read twice.
        again = dg.build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs)
        oncall_gate_failure(again)
        assert len(read_outbox()) == 1
        # A CLI run pages itself (page_failed_run): the sensor leaves it alone.
        BAD_DAYS.clear()
        run(instance, "2025-01-01")  # fixed: the episode ends
        BAD_DAYS.add("2025-01-02")
        run(instance, "2025-01-02", tags={"tradewinds/trigger": "cli"})
        cli = dg.build_sensor_context(instance=instance, cursor=again.cursor, definitions=defs)
        oncall_gate_failure(cli)
        assert len(read_outbox()) == 1
        assert int(cli.cursor) > int(again.cursor)


def test_many_passing_gates_are_judged_from_one_query_of_latest_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mart has hundreds of gates upstream: those whose latest verdict passed on the whole asset
    are settled from one batch read; only the others get the history walk (and the same answer)."""
    from orchestration.defs.quality.gating import GateLedger

    passing = [dg.AssetCheckSpec(f"ok_{i}", asset="wide") for i in range(6)]

    @dg.asset(check_specs=[*passing, dg.AssetCheckSpec("bad", asset="wide")])
    def wide():
        yield dg.MaterializeResult()
        for spec in passing:
            yield dg.AssetCheckResult(check_name=spec.name, passed=True)
        yield dg.AssetCheckResult(check_name="bad", passed=False, severity=dg.AssetCheckSeverity.ERROR)

    walked: list[str] = []
    real = GateLedger.open_failures

    def spy(self, check_key, **kwargs):
        walked.append(check_key.name)
        return real(self, check_key, **kwargs)

    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([wide], instance=instance, raise_on_error=False)
        keys = [dg.AssetCheckKey(dg.AssetKey("wide"), s.name) for s in passing] + [
            dg.AssetCheckKey(dg.AssetKey("wide"), "bad"),
            dg.AssetCheckKey(dg.AssetKey("wide"), "never_ran"),
        ]
        expected = [f for key in keys for f in GateLedger(instance).open_failures(key)]
        monkeypatch.setattr(GateLedger, "open_failures", spy)
        found = GateLedger(instance).open_gate_failures(keys)
    assert [f.gate for f in found] == [f.gate for f in expected] == ["wide:bad"]
    assert walked == ["bad"]


def test_a_run_walks_a_clear_per_day_gate_once_until_it_has_a_new_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's 13 upstream-gates checks and its forecasts, alerts and publication all read the
    same raw per-day gates: one that was clear at its latest verdict is not walked again in that run,
    and a new verdict (here a failed day) is seen at once."""
    from orchestration.defs.quality.gating import GateLedger, open_gate_failures

    days = dg.DailyPartitionsDefinition(start_date="2025-01-01")
    verdicts = {"2025-01-01": True, "2025-01-02": True, "2025-01-03": False}

    @dg.asset(partitions_def=days, check_specs=[dg.AssetCheckSpec("gx_day", asset="daily")])
    def daily(context):
        yield dg.MaterializeResult()
        passed = verdicts[context.partition_key]
        yield dg.AssetCheckResult(
            check_name="gx_day", passed=passed, severity=dg.AssetCheckSeverity.ERROR, description="bad day"
        )

    walked: list[str] = []
    real = GateLedger.open_failures

    def spy(self, check_key, **kwargs):
        walked.append(check_key.name)
        return real(self, check_key, **kwargs)

    @dg.asset(check_specs=[dg.AssetCheckSpec("gx_whole", asset="whole")])
    def whole():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="gx_whole", passed=True)

    judged: list[str] = []
    real_days = GateLedger.covered_days

    def days_spy(self, record):
        judged.append(record.key.name)
        return real_days(self, record)

    monkeypatch.setattr(GateLedger, "open_failures", spy)
    monkeypatch.setattr(GateLedger, "covered_days", days_spy)
    key = dg.AssetCheckKey(dg.AssetKey("daily"), "gx_day")
    whole_key = dg.AssetCheckKey(dg.AssetKey("whole"), "gx_whole")
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([whole], instance=instance)
        for day in ("2025-01-01", "2025-01-02"):
            dg.materialize([daily], instance=instance, partition_key=day)
        assert open_gate_failures(instance, [key, whole_key], run_id="night") == []
        judged_once = len(judged)
        assert open_gate_failures(instance, [key, whole_key], run_id="night") == []
        assert walked == ["gx_day"]  # the second reader of the run did not walk it again
        assert judged_once > 0 and len(judged) == judged_once  # nor read either gate's verdict again
        assert open_gate_failures(instance, [key]) == []  # no run: walked as before
        assert open_gate_failures(instance, [key], run_id="next night") == []  # another run: walked again
        assert len(walked) == 3
        dg.materialize([daily], instance=instance, partition_key="2025-01-03", raise_on_error=False)
        found = open_gate_failures(instance, [key], run_id="next night")
        assert [(f.gate, f.days_text) for f in found] == [("daily:gx_day", "2025-01-03")]
        assert open_gate_failures(instance, [key], run_id="next night") == found  # a failure is walked every time
        assert len(walked) == 5
