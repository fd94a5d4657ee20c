"""Alerts: the freight-spike rule, routing and the outbox, the alert asset and the on-call sensor."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.alerts import defs as alert_defs
from orchestration.defs.alerts.assets import freight_spike_alerts, mart_flag_disagreements
from orchestration.defs.alerts.notifiers import jsonable, notify, route_channels
from orchestration.defs.alerts.rules import detect_freight_spikes
from orchestration.defs.alerts.sensors import build_failed_run_alert, oncall_run_failure, summarize_error
from orchestration.lib.settings import ChannelSettings, NotifierSettings, Route, Settings, Thresholds, get_settings
from orchestration.lib.warehouse import WarehouseResource

WEEK = dt.date(2025, 6, 23)
PREV_WEEK = WEEK - dt.timedelta(days=7)


def lane_row(
    lane_id: str,
    wow: float | None,
    zscore: float | None,
    week: dt.date = WEEK,
    mode: str = "ocean_fcl_40",
    is_spike: bool | None = None,
    spike_severity: str | None = None,
) -> dict[str, Any]:
    """One ``marts.risk_lane_weekly`` row with every column of the mart."""
    prev = 2000.0
    rate = prev * (1 + (wow or 0.0) / 100)
    return {
        "lane_id": lane_id,
        "mode": mode,
        "origin_country": "CN",
        "destination_country": "DE",
        "rate_week": week,
        "rate_unit": "per_container",
        "currency": "USD",
        "rate_local": rate,
        "rate_usd": rate,
        "prev_week_rate_usd": prev,
        "wow_change_pct": wow,
        "change_4w_pct": wow,
        "mean_12w_usd": prev,
        "stddev_12w_usd": 150.0,
        "volatility_cv_12w": 0.075,
        "zscore_12w": zscore,
        "transit_days": 32.0,
        "is_spike": is_spike,
        "spike_severity": spike_severity,
        "risk_tier": "high",
    }


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("wow", "zscore", "expected"),
    [
        (24.0, 1.0, None),
        (24.99, None, None),
        (25.0, None, "warning"),
        (5.0, 3.0, "warning"),
        (5.0, 2.99, None),
        (99.9, 4.0, "warning"),
        (100.0, None, "critical"),
        (250.0, 8.0, "critical"),
        (None, None, None),
        (float("nan"), float("inf"), None),
        (-40.0, -5.0, None),
    ],
)
def test_spike_thresholds(wow: float | None, zscore: float | None, expected: str | None) -> None:
    alerts = detect_freight_spikes(pd.DataFrame([lane_row("CNSHA-DEHAM", wow, zscore)]), Thresholds())
    assert [a["severity"] for a in alerts] == ([expected] if expected else [])


def test_spike_alert_shape_and_latest_week_only() -> None:
    rows = pd.DataFrame(
        [
            lane_row("CNSHA-DEHAM", 300.0, 9.0, week=PREV_WEEK),  # last week's spike: not re-judged
            lane_row("CNSHA-DEHAM", 30.0, 1.2),
            lane_row("CNSZX-USLAX", 10.0, 0.5, mode="air_kg"),
        ]
    )
    alerts = detect_freight_spikes(rows, Thresholds())
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["dedup_key"] == "freight_spike:CNSHA-DEHAM:ocean_fcl_40:2025-06-23"
    assert alert["rule"] == "freight_spike"
    assert alert["entity"] == "CNSHA-DEHAM/ocean_fcl_40"
    assert alert["severity"] == "warning"
    payload = alert["payload"]
    assert payload["rate_usd"] == pytest.approx(2600.0)
    assert payload["wow_change_pct"] == 30.0
    assert payload["zscore_12w"] == 1.2
    assert payload["rate_week"] == "2025-06-23"
    json.dumps(payload)  # plain JSON types only


def test_thresholds_come_from_settings() -> None:
    rows = pd.DataFrame([lane_row("L1", 30.0, 1.0), lane_row("L2", 60.0, 1.0)])
    strict = Thresholds(freight_spike_wow_pct=40.0, freight_spike_critical_pct=50.0)
    assert [(a["entity"], a["severity"]) for a in detect_freight_spikes(rows, strict)] == [
        ("L2/ocean_fcl_40", "critical")
    ]


def test_mart_flags_that_disagree_with_the_rule_are_reported() -> None:
    rows = pd.DataFrame(
        [
            lane_row("L1", 30.0, 1.0, is_spike=True, spike_severity="warning"),  # agrees
            lane_row("L2", 30.0, 1.0, is_spike=False),  # mart built with other thresholds
            lane_row("L3", 120.0, 1.0, is_spike=True, spike_severity="warning"),  # severity differs
        ]
    )
    alerts = detect_freight_spikes(rows, Thresholds())
    found = mart_flag_disagreements(rows, alerts)
    assert [d.split(":")[0] for d in found] == ["L2/ocean_fcl_40", "L3/ocean_fcl_40"]


# ---------------------------------------------------------------- routing and the outbox


def make_settings(tmp_path: Path, **notifiers: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", notifiers=NotifierSettings(**notifiers))


ALERT = {
    "dedup_key": "freight_spike:L1:ocean_fcl_40:2025-06-23",
    "rule": "freight_spike",
    "entity": "L1/ocean_fcl_40",
    "severity": "warning",
    "title": "spike",
    "payload": {"rate_week": dt.date(2025, 6, 23), "wow_change_pct": 30.0, "zscore_12w": math.nan},
}


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_outbox_appends_one_json_line_per_alert(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    results = notify(ALERT, settings)
    assert [(r.channel, r.kind, r.ok) for r in results] == [("outbox", "outbox", True)]
    lines = read_outbox(settings.outbox)
    assert len(lines) == 1
    assert lines[0]["dedup_key"] == ALERT["dedup_key"]
    assert lines[0]["payload"] == {"rate_week": "2025-06-23", "wow_change_pct": 30.0, "zscore_12w": None}
    assert lines[0]["channel"] == "outbox" and "delivered_at" in lines[0]


def test_routes_filter_by_rule_and_severity(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        channels={
            "oncall": ChannelSettings(kind="outbox", path=tmp_path / "oncall.jsonl"),
            "business": ChannelSettings(kind="outbox", path=tmp_path / "business.jsonl"),
        },
        routes=[
            Route(rule="*", min_severity="critical", channels=["oncall"]),
            Route(rule="freight_*", min_severity="warning", channels=["business", "oncall"]),
        ],
    )
    assert route_channels(ALERT, settings) == ["business", "oncall"]
    assert route_channels({**ALERT, "rule": "failed_run", "severity": "critical"}, settings) == ["oncall"]
    assert route_channels({**ALERT, "rule": "failed_run"}, settings) == []
    assert route_channels({**ALERT, "severity": "info"}, settings) == []
    notify({**ALERT, "severity": "critical"}, settings)
    assert len(read_outbox(tmp_path / "oncall.jsonl")) == 1  # named by two routes, delivered once
    assert len(read_outbox(tmp_path / "business.jsonl")) == 1


def test_unimplemented_channel_fails_before_anything_is_sent(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        channels={
            "outbox": ChannelSettings(kind="outbox"),
            "slack": ChannelSettings(kind="slack", url="https://hooks.example/x"),
        },
        routes=[Route(channels=["outbox", "slack"])],
    )
    with pytest.raises(NotImplementedError, match="issue 7"):
        notify(ALERT, settings)
    assert not settings.outbox.exists()


def test_unknown_channel_name_is_a_configuration_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, routes=[Route(channels=["pager"])])
    with pytest.raises(ValueError, match="pager"):
        notify(ALERT, settings)


def test_secrets_named_by_settings_are_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_TEST_PD_KEY", "s3cr3t-routing-key")
    settings = make_settings(
        tmp_path, channels={"outbox": ChannelSettings(kind="outbox", routing_key_env="TW_TEST_PD_KEY")}
    )
    notify({**ALERT, "title": "failed with key s3cr3t-routing-key"}, settings)
    text = settings.outbox.read_text()
    assert "s3cr3t-routing-key" not in text and "failed with key ***" in text


# ---------------------------------------------------------------- the asset against a tmp warehouse


@pytest.fixture
def alert_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_WEBSERVER_BASE_URL", "http://dagster.example:3000/")
    get_settings.cache_clear()
    return tmp_path


def write_lane_mart(path: Path, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows)
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.register("lane_rows", frame)
        conn.execute(
            """
            CREATE OR REPLACE TABLE marts.risk_lane_weekly AS
            SELECT lane_id::VARCHAR AS lane_id, mode::VARCHAR AS mode, origin_country::VARCHAR AS origin_country,
                   destination_country::VARCHAR AS destination_country, rate_week::DATE AS rate_week,
                   rate_unit::VARCHAR AS rate_unit, currency::VARCHAR AS currency, rate_local::DOUBLE AS rate_local,
                   rate_usd::DOUBLE AS rate_usd, prev_week_rate_usd::DOUBLE AS prev_week_rate_usd,
                   wow_change_pct::DOUBLE AS wow_change_pct, change_4w_pct::DOUBLE AS change_4w_pct,
                   mean_12w_usd::DOUBLE AS mean_12w_usd, stddev_12w_usd::DOUBLE AS stddev_12w_usd,
                   volatility_cv_12w::DOUBLE AS volatility_cv_12w, zscore_12w::DOUBLE AS zscore_12w,
                   transit_days::DOUBLE AS transit_days, is_spike::BOOLEAN AS is_spike,
                   spike_severity::VARCHAR AS spike_severity, risk_tier::VARCHAR AS risk_tier
            FROM lane_rows
            """
        )
    finally:
        conn.close()


def alert_events(path: Path) -> pd.DataFrame:
    conn = duckdb.connect(str(path))
    try:
        return conn.execute("SELECT * FROM alerts.alert_events ORDER BY dedup_key").df()
    finally:
        conn.close()


def materialize_alerts(warehouse: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [freight_spike_alerts], resources={"warehouse": WarehouseResource(path=str(warehouse))}, raise_on_error=False
    )


def alert_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    event = result.asset_materializations_for_node("alerts__freight_spike_alerts")[0]
    return {k: v.value for k, v in event.metadata.items()}


def test_alert_asset_delivers_new_conditions_once(alert_env: Path) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    outbox = get_settings().outbox
    write_lane_mart(
        warehouse,
        [
            lane_row("L1", 120.0, 6.0, week=PREV_WEEK),
            lane_row("L1", 30.0, 1.0, is_spike=True, spike_severity="warning"),
            lane_row("L2", 150.0, 7.0, is_spike=True, spike_severity="critical"),
            lane_row("L3", 3.0, 0.2, is_spike=False),
        ],
    )

    first = materialize_alerts(warehouse)
    assert first.success
    meta = alert_metadata(first)
    assert (meta["alerts_found"], meta["new"], meta["delivered"]) == (2, 2, 2)
    assert meta["mart_flag_disagreements"] == 0
    lines = read_outbox(outbox)
    assert sorted(line["dedup_key"] for line in lines) == [
        "freight_spike:L1:ocean_fcl_40:2025-06-23",
        "freight_spike:L2:ocean_fcl_40:2025-06-23",
    ]
    assert all(line["link"].startswith("http://dagster.example:3000/runs/") for line in lines)
    events = alert_events(warehouse)
    assert events["status"].tolist() == ["delivered", "delivered"]
    assert json.loads(events["payload"].iloc[1])["wow_change_pct"] == 150.0

    # Same night again: the conditions persist, nothing is delivered, last_seen_at moves on.
    second = materialize_alerts(warehouse)
    assert second.success
    meta = alert_metadata(second)
    assert (meta["alerts_found"], meta["new"], meta["delivered"]) == (2, 0, 0)
    assert len(read_outbox(outbox)) == 2
    again = alert_events(warehouse)
    assert (again["first_seen_at"] == events["first_seen_at"]).all()
    assert (again["last_seen_at"] > events["last_seen_at"]).all()

    # Next week L2 is still climbing: a new week is a new condition; L1 calmed down.
    next_week = WEEK + dt.timedelta(days=7)
    write_lane_mart(warehouse, [lane_row("L1", 2.0, 0.1, week=next_week), lane_row("L2", 40.0, 3.5, week=next_week)])
    third = materialize_alerts(warehouse)
    assert alert_metadata(third)["new"] == 1
    lines = read_outbox(outbox)
    assert len(lines) == 3 and lines[-1]["dedup_key"] == "freight_spike:L2:ocean_fcl_40:2025-06-30"


def test_failed_delivery_fails_the_step_and_is_retried(alert_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    blocked = alert_env / "blocked"
    blocked.mkdir()  # a directory where the outbox file should be: every append fails
    monkeypatch.setenv("TRADEWINDS_OUTBOX_PATH", str(blocked))
    get_settings.cache_clear()
    write_lane_mart(warehouse, [lane_row("L1", 30.0, 1.0)])

    failed = materialize_alerts(warehouse)
    assert not failed.success
    assert alert_events(warehouse)["status"].tolist() == ["delivery_failed"]

    monkeypatch.setenv("TRADEWINDS_OUTBOX_PATH", str(alert_env / "ok" / "alerts.jsonl"))
    get_settings.cache_clear()
    retried = materialize_alerts(warehouse)
    assert retried.success
    assert (alert_metadata(retried)["new"], alert_metadata(retried)["delivered"]) == (0, 1)
    assert len(read_outbox(alert_env / "ok" / "alerts.jsonl")) == 1
    assert alert_events(warehouse)["status"].tolist() == ["delivered"]


def test_empty_mart_gives_no_alerts(alert_env: Path) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    write_lane_mart(warehouse, [lane_row("L1", 1.0, 0.0)])
    conn = duckdb.connect(str(warehouse))
    conn.execute("DELETE FROM marts.risk_lane_weekly")
    conn.close()
    result = materialize_alerts(warehouse)
    assert result.success and alert_metadata(result)["alerts_found"] == 0


# ---------------------------------------------------------------- the on-call sensor


@dg.op
def load_rates() -> int:
    return 1


@dg.op
def explode(rates: int) -> int:
    raise RuntimeError(f"freight API returned 502 after {rates} retries")


@dg.job
def fragile_job() -> None:
    explode(load_rates())


def run_failure_context(instance: dg.DagsterInstance) -> tuple[dg.RunStatusSensorContext, str]:
    result = fragile_job.execute_in_process(raise_on_error=False, instance=instance)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="oncall_run_failure",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    return context, result.run_id


def test_run_failure_sensor_pages_with_step_error_and_link(alert_env: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        context, run_id = run_failure_context(instance)
        oncall_run_failure(context)
    lines = read_outbox(get_settings().outbox)
    assert len(lines) == 1
    page = lines[0]
    assert page["dedup_key"] == f"failed_run:{run_id}"
    assert (page["rule"], page["severity"], page["entity"]) == ("failed_run", "critical", "fragile_job")
    assert page["link"] == f"http://dagster.example:3000/runs/{run_id}"
    payload = page["payload"]
    assert payload["run_id"] == run_id
    assert payload["job_name"] == "fragile_job"
    assert payload["step_keys"] == ["explode"]
    assert payload["error"] == "RuntimeError: freight API returned 502 after 1 retries"
    assert payload["steps"][0]["error_class"] == "RuntimeError"
    assert "in explode" in payload["steps"][0]["location"]
    assert "explode" in page["title"]


def test_run_failure_sensor_falls_back_to_the_outbox(alert_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misconfigured paging route must not swallow the page."""
    monkeypatch.setenv("TRADEWINDS_NOTIFIERS__CHANNELS", json.dumps({"pd": {"kind": "pagerduty"}}))
    monkeypatch.setenv("TRADEWINDS_NOTIFIERS__ROUTES", json.dumps([{"rule": "*", "channels": ["pd"]}]))
    get_settings.cache_clear()
    with dg.DagsterInstance.ephemeral() as instance:
        context, run_id = run_failure_context(instance)
        oncall_run_failure(context)
    lines = read_outbox(get_settings().outbox)
    assert [line["dedup_key"] for line in lines] == [f"failed_run:{run_id}"]
    assert lines[0]["channel"] == "fallback"
    assert "NotImplementedError" in lines[0]["delivery_errors"][0]


def test_alert_definitions_load_with_a_warehouse(tmp_path: Path) -> None:
    defs = dg.Definitions.merge(
        alert_defs, dg.Definitions(resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))})
    )
    sensor = defs.resolve_sensor_def("oncall_run_failure")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert dg.AssetKey(["alerts", "freight_spike_alerts"]) in defs.resolve_all_asset_keys()


def test_error_summary_unwraps_dagster_and_drops_module_paths() -> None:
    user_error = SimpleNamespace(
        cls_name="Failure",
        message="dagster._core.definitions.events.Failure: 2 alert(s) could not be delivered\n",
        stack=['  File "/app/assets.py", line 80, in freight_spike_alerts\n    raise dg.Failure(...)\n'],
        cause=None,
    )
    wrapper = SimpleNamespace(
        cls_name="DagsterExecutionStepExecutionError", message="Error occurred while executing op", cause=user_error
    )
    assert summarize_error(wrapper) == (
        "Failure",
        "Failure: 2 alert(s) could not be delivered",
        'File "/app/assets.py", line 80, in freight_spike_alerts',
    )


def test_run_level_failure_without_a_failed_step_still_pages_with_the_run_message() -> None:
    alert = build_failed_run_alert("abcdef12-0000", "nightly", [], "Run was canceled by the run monitor", "http://x/")
    assert alert["payload"]["step_keys"] == []
    assert alert["payload"]["error"] == "Run was canceled by the run monitor"
    assert alert["link"] == "http://x/runs/abcdef12-0000"
    assert "run level" in alert["title"]


def test_payload_values_become_plain_json() -> None:
    payload = {
        "na": pd.NA,
        "nat": pd.NaT,
        "np": np.float64(1.5),
        "int": np.int64(3),
        "day": np.datetime64("2025-06-23"),
    }
    assert jsonable(payload) == {"na": None, "nat": None, "np": 1.5, "int": 3, "day": "2025-06-23"}


def test_in_process_cli_runs_page_like_the_sensor(alert_env: Path) -> None:
    """`tradewinds nightly` runs in process (no daemon): it pages through page_failed_run."""
    from orchestration.defs.alerts import page_failed_run

    with dg.DagsterInstance.ephemeral() as instance:
        result = fragile_job.execute_in_process(raise_on_error=False, instance=instance)
        alert = page_failed_run(instance, result.run_id, get_settings())
    lines = read_outbox(get_settings().outbox)
    assert [page["dedup_key"] for page in lines] == [f"failed_run:{result.run_id}"] == [alert["dedup_key"]]
    assert lines[0]["payload"]["step_keys"] == ["explode"]
    assert lines[0]["payload"]["error"] == "RuntimeError: freight API returned 502 after 1 retries"
    assert lines[0]["link"].endswith(f"/runs/{result.run_id}")
