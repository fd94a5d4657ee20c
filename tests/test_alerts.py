"""Alerts: every rule on crafted mart rows, the alert lifecycle (dedup, escalation, resolution,
a failing channel and its retry), the alert assets against a temporary warehouse, and the
on-call run-failure sensor.

Receivers (HTTP for webhook/Slack/PagerDuty, aiosmtpd) come from ``tests/test_notifiers.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.alerts import ALERT_ASSETS
from orchestration.defs.alerts import defs as alert_defs
from orchestration.defs.alerts import rules as r
from orchestration.defs.alerts.assets import ALERT_SPECS, freight_spike_alerts, mart_flag_disagreements
from orchestration.defs.alerts.lifecycle import deliver_unsent, plan_transitions, process_rule_run, record_run
from orchestration.defs.alerts.notifiers import jsonable, notify, route_channels
from orchestration.defs.alerts.rules import RuleResult, detect_freight_spikes
from orchestration.defs.alerts.sensors import build_failed_run_alert, oncall_run_failure, summarize_error
from orchestration.defs.alerts.store import ensure_alert_tables
from orchestration.lib.settings import ChannelSettings, NotifierSettings, Route, Settings, Thresholds, get_settings
from orchestration.lib.warehouse import WarehouseResource
from tests.test_notifiers import FAST, HttpReceiver, running_http_receiver

WEEK = dt.date(2025, 6, 23)
PREV_WEEK = WEEK - dt.timedelta(days=7)
AS_OF = dt.date(2025, 6, 30)
T = Thresholds()


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


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """Records webhook, Slack and PagerDuty requests; fails on demand (see tests/test_notifiers.py)."""
    with running_http_receiver() as receiver:
        yield receiver


# ================================================================ the rules


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
    alerts = detect_freight_spikes(pd.DataFrame([lane_row("CNSHA-DEHAM", wow, zscore)]), T)
    assert [a["severity"] for a in alerts] == ([expected] if expected else [])


def test_spike_alert_shape_and_latest_week_only() -> None:
    rows = pd.DataFrame(
        [
            lane_row("CNSHA-DEHAM", 300.0, 9.0, week=PREV_WEEK),  # last week's spike: not re-judged
            lane_row("CNSHA-DEHAM", 30.0, 1.2),
            lane_row("CNSZX-USLAX", 10.0, 0.5, mode="air_kg"),
        ]
    )
    result = r.evaluate_freight_spikes(rows, T)
    assert len(result.alerts) == 1 and result.judged == 2
    alert = result.alerts[0]
    assert alert["dedup_key"] == "freight_spike:CNSHA-DEHAM:ocean_fcl_40"  # the lane, not the week
    assert alert["rule"] == "freight_spike"
    assert alert["entity"] == "CNSHA-DEHAM/ocean_fcl_40"
    assert alert["severity"] == "warning"
    assert alert["facts"]["Week over week"] == "+30.0%"
    payload = alert["payload"]
    assert payload["rate_usd"] == pytest.approx(2600.0)
    assert payload["wow_change_pct"] == 30.0
    assert payload["zscore_12w"] == 1.2
    assert payload["rate_week"] == "2025-06-23"
    json.dumps(jsonable(alert))  # plain JSON types only


def test_lanes_without_the_latest_week_are_not_judged() -> None:
    rows = pd.DataFrame([lane_row("L1", 1.0, 0.1), lane_row("L2", 1.0, 0.1, week=PREV_WEEK)])
    result = r.evaluate_freight_spikes(rows, T)
    assert result.unjudged == {"freight_spike:L2:ocean_fcl_40"} and result.judged == 1


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
    alerts = detect_freight_spikes(rows, T)
    found = mart_flag_disagreements(rows, alerts)
    assert [d.split(":")[0] for d in found] == ["L2/ocean_fcl_40", "L3/ocean_fcl_40"]


def shipment(
    shipment_id: str,
    lane: str = "CNSHA-DEHAM",
    mode: str = "rail",
    status: str = "arrived",
    delay: float | None = 0.0,
    arrived_days_ago: float | None = 3,
    units: int = 10,
    sku: str = "SKU-1",
) -> dict[str, Any]:
    """One ``marts.shipment_transit`` row as of AS_OF (as_of_at is the next midnight)."""
    as_of_at = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    arrived = as_of_at - pd.Timedelta(days=arrived_days_ago) if status == "arrived" else pd.NaT
    planned = 15.0
    departed = (
        (arrived if status == "arrived" else as_of_at) - pd.Timedelta(days=planned) - pd.Timedelta(hours=delay or 0)
    )
    return {
        "shipment_id": shipment_id,
        "sku": sku,
        "lane_id": lane,
        "mode": mode,
        "origin_country": "CN",
        "destination_country": "DE",
        "transit_status": status,
        "units": units,
        "planned_transit_days": planned,
        "actual_transit_days": planned + (delay or 0) / 24 if status == "arrived" else None,
        "delay_hours": delay,
        "freight_cost_usd": 100.0,
        "freight_cost_per_unit_usd": 10.0,
        "is_delayed": (delay or 0) >= 48,
        "departed_at": departed,
        "planned_arrival_at": departed + pd.Timedelta(days=planned),
        "arrived_at": arrived,
        "as_of_at": as_of_at,
    }


def test_transit_delay_overdue_and_recent_late_arrivals_fire_per_lane() -> None:
    rows = pd.DataFrame(
        [
            shipment("S1", status="overdue", delay=60.0, arrived_days_ago=None, units=40),
            shipment("S2", delay=50.0, arrived_days_ago=5),  # same lane, arrived late recently
            shipment("S3", lane="CNSHA-USLAX", mode="ocean_lcl", delay=47.9),  # under the threshold
            shipment("S4", lane="CNSHA-FRLEH", mode="air", delay=300.0, arrived_days_ago=20),  # late, but long ago
            shipment("S5", lane="CNNGB-NLRTM", mode="ocean_lcl", status="overdue", delay=200.0, arrived_days_ago=None),
            shipment(
                "S6", lane="CNNGB-GBFXT", mode="ocean_lcl", status="in_transit", delay=None, arrived_days_ago=None
            ),
        ]
    )
    result = r.evaluate_transit_delays(rows, T)
    by_entity = {a["entity"]: a for a in result.alerts}
    assert set(by_entity) == {"CNSHA-DEHAM/rail", "CNNGB-NLRTM/ocean_lcl"}
    assert result.judged == 5
    rail = by_entity["CNSHA-DEHAM/rail"]
    assert rail["severity"] == "warning" and rail["dedup_key"] == "transit_delay:CNSHA-DEHAM:rail"
    assert rail["payload"]["overdue_count"] == 1 and rail["payload"]["late_arrival_count"] == 1
    assert rail["payload"]["overdue_units"] == 40 and rail["payload"]["max_delay_hours"] == 60.0
    assert [s["shipment_id"] for s in rail["payload"]["overdue_shipments"]] == ["S1"]
    assert rail["payload"]["late_arrivals"][0]["shipment_id"] == "S2"
    assert "1 shipment(s) in transit overdue by up to 60h" in rail["title"]
    assert by_entity["CNNGB-NLRTM/ocean_lcl"]["severity"] == "critical"  # 200h >= 168h
    assert r.evaluate_transit_delays(rows, Thresholds(transit_delay_hours=72)).alerts[0]["entity"] == (
        "CNNGB-NLRTM/ocean_lcl"
    )
    # The lane's countries are its first row's, late or not (the rule groups only late rows).
    on_time = {**shipment("S0", lane="CNNGB-NLRTM", mode="ocean_lcl", delay=1.0), "destination_country": "NL"}
    rows.loc[rows["shipment_id"] == "S5", "destination_country"] = None
    lanes = r.evaluate_transit_delays(pd.concat([pd.DataFrame([on_time]), rows], ignore_index=True), T)
    nlrtm = {a["entity"]: a for a in lanes.alerts}["CNNGB-NLRTM/ocean_lcl"]
    assert nlrtm["payload"]["destination_country"] == "NL" and "CN->NL" in nlrtm["title"]
    assert lanes.judged == 5


def test_transit_delay_lists_a_lanes_shipments_worst_first_and_skips_rows_without_a_lane() -> None:
    rows = pd.DataFrame(
        [
            shipment("A1", status="overdue", delay=70.0, arrived_days_ago=None, units=5, sku="SKU-B"),
            shipment("A2", status="overdue", delay=90.0, arrived_days_ago=None, units=7, sku="SKU-A"),
            shipment("A3", delay=55.0, arrived_days_ago=2, sku="SKU-C"),
            shipment("A4", delay=80.0, arrived_days_ago=3, sku=None),
            {**shipment("X1", status="overdue", delay=500.0, arrived_days_ago=None), "lane_id": None},
        ]
    )
    result = r.evaluate_transit_delays(rows, T)
    assert [a["entity"] for a in result.alerts] == ["CNSHA-DEHAM/rail"]  # the lane-less row alerts nothing
    payload = result.alerts[0]["payload"]
    assert [s["shipment_id"] for s in payload["overdue_shipments"]] == ["A2", "A1"]
    assert [s["shipment_id"] for s in payload["late_arrivals"]] == ["A4", "A3"]
    assert payload["overdue_units"] == 12 and payload["max_delay_hours"] == 90.0
    assert payload["skus_affected"] == ["SKU-A", "SKU-B", "SKU-C"]
    assert "2 arrived >= 48h late in the last 14 days (up to 80h)" in result.alerts[0]["title"]


def test_transit_delay_asset_reads_the_late_shipments_and_a_row_per_lane(tmp_path: Path) -> None:
    """The asset's query hands the rule the rows it needs, not the whole mart: same alerts, same lanes judged."""
    from orchestration.defs.alerts.assets import read_inputs

    rows = [
        shipment(f"S{i:04d}", lane=f"LANE-{i % 7}", mode="rail" if i % 2 else "air", delay=(i % 50) * 0.4)
        for i in range(600)
    ]
    rows += [
        shipment("L1", lane="LANE-1", mode="rail", status="overdue", delay=90.0, arrived_days_ago=None),
        shipment("L2", lane="LANE-2", mode="air", delay=200.0, arrived_days_ago=2),
        shipment("L3", lane="LANE-NEW", mode="truck", status="in_transit", delay=None, arrived_days_ago=None),
        shipment("L4", lane="LANE-3", mode="air", delay=100.0, arrived_days_ago=13.5),  # late, inside the look-back
    ]
    # Late arrivals older than the look-back (most late shipments of a long history): the rule
    # ignores them, so the query does not read them (ids after the lane's first row, S0011).
    old = [shipment(f"Z{i:03d}", lane="LANE-4", mode="rail", delay=300.0, arrived_days_ago=15 + i) for i in range(50)]
    rows += old
    full = pd.DataFrame(rows)
    path = tmp_path / "w.duckdb"
    write_table(path, "marts.shipment_transit", full)
    spec = next(s for s in ALERT_SPECS if s.name == "transit_delay_alerts")
    for thresholds in (T, Thresholds(transit_delay_hours=24)):
        with duckdb.connect(str(path)) as conn:
            frames, missing = read_inputs(conn, spec, thresholds)
        read = frames["marts.shipment_transit"]
        assert missing == [] and len(read) < len(full) / 2
        assert not set(read["shipment_id"]) & {o["shipment_id"] for o in old}
        assert {"L1", "L2", "L3", "L4"} <= set(read["shipment_id"])
        expected, got = r.evaluate_transit_delays(full, thresholds), r.evaluate_transit_delays(read, thresholds)
        assert got.alerts == expected.alerts and got.alerts
        assert got.judged == expected.judged == 15  # 14 lane x mode pairs of the on-time rows and LANE-NEW


def policy_event(event_id: str, days: int | None, skus: int = 3, impact: float | None = -1200.0, **extra: Any) -> dict:
    """One ``marts.risk_policy_events`` row as of AS_OF."""
    effective = AS_OF + dt.timedelta(days=days or 0)
    return {
        "event_id": event_id,
        "destination_country": extra.get("country", "DE"),
        "kind": extra.get("kind", "duty_change"),
        "hs_scope": "8516",
        "summary": f"{event_id} summary",
        "new_rate_pct": 6.5,
        "announced_on": AS_OF - dt.timedelta(days=60),
        "effective_on": effective,
        "as_of_date": AS_OF,
        "days_until_effective": days,
        "notice_days": 60 + (days or 0),
        "is_upcoming": (days or 0) > 0,
        "skus_touched": skus,
        "units_90d_touched": 10 * skus,
        "revenue_90d_usd_touched": 900.0 * skus,
        "est_margin_impact_usd": impact,
    }


def test_policy_change_window_exposure_and_severity() -> None:
    rows = pd.DataFrame(
        [
            policy_event("E-NEAR", 5),  # a loss within a week: critical
            policy_event("E-MONTH", 30),  # on the edge of the window: warning
            policy_event("E-LATER", 31),  # outside the window
            policy_event("E-NOSKU", 10, skus=0),  # touches nothing we sell
            policy_event("E-INFORCE", 0),  # effective on the as-of date: in force, not upcoming
            policy_event("E-CUT", 10, impact=250.0, kind="vat_change"),  # margin gain: info
            policy_event("E-RULE", 3, impact=None, kind="product_rule", country="GB"),  # compliance, not estimated
        ]
    )
    alerts = {a["payload"]["event_id"]: a for a in r.evaluate_policy_changes(rows, T).alerts}
    assert {k: a["severity"] for k, a in alerts.items()} == {
        "E-NEAR": "critical",
        "E-MONTH": "warning",
        "E-CUT": "info",
        "E-RULE": "critical",
    }
    near = alerts["E-NEAR"]
    assert near["dedup_key"] == "policy_change:E-NEAR:DE"
    assert near["payload"]["est_margin_impact_usd"] == -1200.0 and near["payload"]["skus_touched"] == 3
    assert "estimated margin impact -$1,200 over 90 days" in near["title"]
    assert near["facts"]["Est. margin impact (90 days)"] == "-$1,200"
    assert "not estimated" in alerts["E-RULE"]["title"]
    assert [
        a["payload"]["event_id"] for a in r.evaluate_policy_changes(rows, Thresholds(policy_window_days=7)).alerts
    ] == [
        "E-NEAR",
        "E-RULE",
    ]


def inventory_row(sku: str, on_hand: int, inbound: int, lead: int | None, rate: float, country: str = "DE") -> dict:
    return {
        "sku": sku,
        "destination_country": country,
        "as_of_date": AS_OF,
        "on_hand_units": on_hand,
        "inbound_units": inbound,
        "replenishment_lead_time_days": lead,
        "units_28d": int(rate * 28),
        "avg_daily_units_28d": rate,
        "days_of_cover": on_hand / rate if rate else None,
        "is_stockout_risk": rate * (lead or 0) > on_hand + inbound,
    }


def forecast_rows(sku: str, per_day: float, days: int, country: str = "DE", start: dt.date = AS_OF) -> list[dict]:
    return [
        {
            "sku": sku,
            "destination_country": country,
            "forecast_date": start + dt.timedelta(days=i + 1),
            "yhat_units": per_day,
            "yhat_lower_units": per_day * 0.5,
            "yhat_upper_units": per_day * 1.5,
            "model": "prophet",
            "trained_through": start,
            "generated_at": dt.datetime(2025, 7, 1, 2),
        }
        for i in range(days)
    ]


def test_stockout_risk_from_the_forecast_with_run_rate_fallback() -> None:
    inventory = pd.DataFrame(
        [
            inventory_row("FC-SHORT", on_hand=50, inbound=20, lead=30, rate=1.0),  # forecast 3/day: 90 > 70
            inventory_row("FC-OK", on_hand=50, inbound=20, lead=30, rate=9.0),  # forecast 1/day: 30 <= 70
            inventory_row("RR-CRIT", on_hand=5, inbound=5, lead=20, rate=2.0),  # no forecast: 40 > 10, < half
            inventory_row("PARTIAL", on_hand=100, inbound=0, lead=40, rate=0.1),  # forecast covers 20 of 40 days
            inventory_row("NO-LEAD", on_hand=0, inbound=0, lead=None, rate=5.0),  # cannot judge
        ]
    )
    forecast = pd.DataFrame(
        forecast_rows("FC-SHORT", 3.0, 90)
        + forecast_rows("FC-OK", 1.0, 90)
        + forecast_rows("PARTIAL", 4.0, 20)
        + forecast_rows("RR-CRIT", 9.0, 30, country="FR")  # another market's forecast does not count
    )
    result = r.evaluate_stockout_risk(inventory, forecast, T)
    alerts = {a["payload"]["sku"]: a for a in result.alerts}
    assert set(alerts) == {"FC-SHORT", "RR-CRIT", "PARTIAL"}
    short = alerts["FC-SHORT"]
    assert short["severity"] == "warning" and short["dedup_key"] == "stockout_risk:FC-SHORT:DE"
    assert short["payload"]["demand_source"] == "forecast" and short["payload"]["forecast_model"] == "prophet"
    assert short["payload"]["demand_over_lead_time_units"] == pytest.approx(90.0)
    assert short["payload"]["shortfall_units"] == pytest.approx(20.0)
    assert short["payload"]["expected_stockout_date"] == (AS_OF + dt.timedelta(days=23)).isoformat()
    crit = alerts["RR-CRIT"]
    assert crit["severity"] == "critical"  # 10 units cover a quarter of 40
    assert crit["payload"]["demand_source"] == "run_rate_28d"
    assert "no demand forecast for this SKU x market" in crit["payload"]["demand_note"]
    assert "28-day run rate" in crit["title"]
    partial = alerts["PARTIAL"]
    assert partial["payload"]["demand_over_lead_time_units"] == pytest.approx(160.0)
    assert "covers 20 of the 40" in partial["payload"]["demand_note"]
    assert result.unjudged == {"stockout_risk:NO-LEAD:DE"}
    assert any("28-day run rate" in n for n in result.notes)
    # Without any forecast table every SKU x market runs at the run rate: FC-OK's recent pace (9 a day)
    # would empty it, FC-SHORT's (1 a day) would not.
    fallback = r.evaluate_stockout_risk(inventory, None, T)
    assert {a["payload"]["sku"] for a in fallback.alerts} == {"FC-OK", "RR-CRIT"}


def test_stockout_risk_run_rate_prefilter_changes_nothing(monkeypatch) -> None:
    """The rows decided at once (run rate, covered) give the result the per-row path gives: on
    edge cases (half-day leads rounding to even, leads under a day, NULL/NaN/infinite inputs,
    fractional stock, text dates, forecast series) the two agree alert for alert."""
    rng = np.random.default_rng(7)
    rows = []
    specials = [None, np.nan, np.inf, 0, 0.3, 0.5, 1.5, 2.5, -3]
    for i in range(3000):
        lead = specials[i % len(specials)] if i % 4 == 0 else float(rng.integers(1, 60))
        rate = [None, np.nan, np.inf, 0.0][i % 4] if i % 7 == 0 else float(rng.gamma(1.0, 2.0))
        rows.append(
            {
                "sku": f"S{i % 400}",
                "destination_country": ["DE", "FR", "US"][i % 3],
                "as_of_date": None if i % 97 == 0 else (AS_OF.isoformat() if i % 2 else AS_OF),
                "on_hand_units": None if i % 11 == 0 else float(rng.integers(0, 80)) + (0.5 if i % 5 == 0 else 0),
                "inbound_units": np.inf if i % 53 == 0 else float(rng.integers(0, 40)),
                "replenishment_lead_time_days": lead,
                "avg_daily_units_28d": rate,
            }
        )
    inventory = pd.DataFrame(rows)
    forecast = pd.DataFrame(forecast_rows("S1", 3.0, 60, country="FR") + forecast_rows("S2", 0.5, 10, country="US"))
    quiet = r._quiet_run_rate_rows(inventory, {("S1", "FR"), ("S2", "US")})
    assert 0 < int(quiet.sum()) < len(inventory)  # the pre-filter takes part, and leaves some rows to the loop
    fast = r.evaluate_stockout_risk(inventory, forecast, T)
    monkeypatch.setattr(r, "_quiet_run_rate_rows", lambda inv, series: pd.Series(False, index=inv.index))
    slow = r.evaluate_stockout_risk(inventory, forecast, T)
    assert len(slow.alerts) > 100
    assert json.dumps(fast.alerts, sort_keys=True, default=str) == json.dumps(slow.alerts, sort_keys=True, default=str)
    assert (fast.unjudged, fast.judged, fast.notes) == (slow.unjudged, slow.judged, slow.notes)


def traffic_rows(sku: str, rates: list[float | None], country: str = "DE", end: dt.date = AS_OF) -> list[dict]:
    """Daily traffic ending on ``end``; None = no traffic that day (no row)."""
    out = []
    for i, rate in enumerate(reversed(rates)):
        if rate is None:
            continue
        sessions = 200
        out.append(
            {
                "sku": sku,
                "destination_country": country,
                "traffic_date": end - dt.timedelta(days=i),
                "sessions": sessions,
                "add_to_cart": round(rate * sessions),
                "add_to_cart_rate": rate,
                "conversion_rate": rate / 4,
            }
        )
    return out


def test_demand_surge_needs_seven_consecutive_days_to_the_latest_day() -> None:
    rows = pd.DataFrame(
        traffic_rows("SURGE", [0.2, 0.45, 0.5, 0.42, 0.6, 0.41, 0.44, 0.5, 0.55])  # 8 days above 40%
        + traffic_rows("SIX", [0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])  # only 6
        + traffic_rows("GAP", [0.5, 0.5, 0.5, None, 0.5, 0.5, 0.5, 0.5])  # a day without traffic breaks it
        + traffic_rows("EDGE", [0.40] * 10)  # "above 40%": 40% exactly is not
        + traffic_rows("OLD", [0.5] * 10 + [0.1], end=AS_OF)  # surged, but not up to the latest day
    )
    result = r.evaluate_demand_surges(rows, T)
    assert [a["entity"] for a in result.alerts] == ["SURGE/DE"]
    alert = result.alerts[0]
    assert alert["rule"] == "stockout_demand_surge" and alert["severity"] == "warning"
    assert alert["payload"]["streak_days"] == 8 and alert["payload"]["streak_start"] == "2025-06-23"
    assert result.judged == 5
    assert [a["entity"] for a in r.evaluate_demand_surges(rows, Thresholds(add_to_cart_surge_days=6)).alerts] == [
        "SIX/DE",
        "SURGE/DE",
    ]


def test_demand_surge_asset_reads_the_surge_days_and_the_latest_day_per_pair(tmp_path: Path) -> None:
    """The asset's query hands the rule the rows it needs of the window: same alerts, same pairs judged."""
    from orchestration.defs.alerts.assets import read_inputs

    rng = np.random.default_rng(7)
    rows = traffic_rows("SURGE", [0.2, 0.45, 0.5, 0.42, 0.6, 0.41, 0.44, 0.5, 0.55])
    rows += traffic_rows("GAP", [0.5, 0.5, 0.5, None, 0.5, 0.5, 0.5, 0.5])
    rows += traffic_rows("OLD", [0.5] * 10 + [0.1])
    rows += traffic_rows("EARLY", [0.5] * 8, end=AS_OF - dt.timedelta(days=3))  # its last day is not the latest
    for n in range(40):
        rows += traffic_rows(f"CALM{n}", list(rng.uniform(0.05, 0.39, 40)))
    full = pd.DataFrame(rows)
    path = tmp_path / "w.duckdb"
    write_table(path, "marts.traffic_sku_market_daily", full)
    spec = next(s for s in ALERT_SPECS if s.name == "demand_surge_alerts")
    for thresholds in (T, Thresholds(add_to_cart_surge_days=3, add_to_cart_surge_rate=0.3)):
        with duckdb.connect(str(path)) as conn:
            frames, _ = read_inputs(conn, spec, thresholds)
        read = frames["marts.traffic_sku_market_daily"]
        assert len(read) < len(full) / 2
        # Only each pair's streak up to the latest day and its latest row: not the surge days
        # before GAP's missing day, nor OLD's and EARLY's, whose streaks end before the latest day.
        per_sku = read["sku"].value_counts()
        assert (per_sku["SURGE"], per_sku["GAP"], per_sku["OLD"], per_sku["EARLY"]) == (8, 4, 1, 1)
        expected, got = r.evaluate_demand_surges(full, thresholds), r.evaluate_demand_surges(read, thresholds)
        assert got.alerts == expected.alerts and got.alerts
        assert got.judged == expected.judged == 44


def service_rows(
    country: str,
    tickets: int,
    breaches: int,
    satisfied_pct: float,
    rated: int,
    days: range = range(7),
    channel: str = "email",
    p90: float = 12.0,
) -> list[dict]:
    """Service mart rows per day (days back from AS_OF), the totals spread evenly."""
    n = len(days)
    return [
        {
            "destination_country": country,
            "channel": channel,
            "ticket_date": AS_OF - dt.timedelta(days=d),
            "tickets": tickets / n,
            "answered_tickets": tickets / n,
            "resolved_tickets": tickets / n,
            "first_response_p50_hours": p90 / 3,
            "first_response_p90_hours": p90,
            "resolution_p50_hours": 30.0,
            "resolution_p90_hours": 80.0,
            "rated_tickets": rated / n,
            "csat_avg": 1 + satisfied_pct / 25,
            "csat_satisfied_pct": satisfied_pct,
            "sla_breaches": breaches / n,
        }
        for d in days
    ]


def test_first_response_p90_over_sla_is_more_than_a_tenth_of_tickets_over_it() -> None:
    rows = pd.DataFrame(
        service_rows("DE", 70, 14, 80, 40, p90=30.0)  # 20% over SLA
        + service_rows("FR", 70, 7, 80, 40)  # exactly 10%: p90 not above the SLA
        + service_rows("BR", 70, 42, 80, 40, p90=72.0)  # 60%: the median waits too: critical
        + service_rows("JP", 10, 9, 80, 10)  # too few tickets to judge
        + service_rows("US", 70, 60, 80, 40, days=range(7, 14))  # bad, but last week
        + service_rows("US", 70, 0, 80, 40, channel="chat")
    )
    result = r.evaluate_first_response(rows, T)
    assert {a["entity"]: a["severity"] for a in result.alerts} == {"BR": "critical", "DE": "warning"}
    de = next(a for a in result.alerts if a["entity"] == "DE")
    assert de["dedup_key"] == "service_first_response:DE"
    assert de["payload"]["breach_share"] == pytest.approx(0.2)
    assert de["payload"]["first_response_p90_hours_mean"] == pytest.approx(30.0)
    assert de["payload"]["channels"][0]["channel"] == "email"
    assert result.unjudged == {"service_first_response:JP"}


def test_csat_drop_week_over_week() -> None:
    rows = pd.DataFrame(
        service_rows("DE", 70, 0, 70, 40)
        + service_rows("DE", 70, 0, 82, 40, days=range(7, 14))  # -12 points
        + service_rows("FR", 70, 0, 75, 40)
        + service_rows("FR", 70, 0, 84, 40, days=range(7, 14))  # -9
        + service_rows("BR", 70, 0, 50, 40)
        + service_rows("BR", 70, 0, 75, 40, days=range(7, 14))  # -25
        + service_rows("JP", 70, 0, 10, 5)
        + service_rows("JP", 70, 0, 90, 40, days=range(7, 14))  # 5 rated
    )
    result = r.evaluate_csat_drops(rows, T)
    assert {a["entity"]: a["severity"] for a in result.alerts} == {"BR": "critical", "DE": "warning"}
    de = next(a for a in result.alerts if a["entity"] == "DE")
    assert de["payload"]["drop_points"] == pytest.approx(12.0)
    assert de["facts"]["Satisfied (CSAT >= 4)"] == "70% vs 82% (-12 points)"
    assert result.unjudged == {"service_csat_drop:JP"}


def test_return_rate_above_twice_the_category() -> None:
    def row(sku: str, category: str, units: int, returned: int, country: str = "DE") -> dict:
        return {
            "sku": sku,
            "destination_country": country,
            "category": category,
            "units_90d": units,
            "returned_units_90d": returned,
            "return_rate_pct": 100 * returned / units,
            "top_return_reason": "voltage_mismatch",
        }

    rows = pd.DataFrame(
        [
            row("BAD", "tools", 100, 20),  # 20% vs the category's 7%
            row("OK1", "tools", 500, 20),
            row("OK2", "tools", 400, 30, country="FR"),
            row("SMALL", "tools", 5, 4),  # 80%, but 5 units: not judged
            row("ALONE", "pet", 50, 10),  # its own category: never twice itself
        ]
    )
    result = r.evaluate_return_rates(rows, T)
    assert [a["entity"] for a in result.alerts] == ["BAD/DE"]
    bad = result.alerts[0]
    assert bad["rule"] == "service_return_rate"
    assert bad["payload"]["category_return_rate_pct"] == pytest.approx(100 * 74 / 1005, rel=1e-3)
    assert "top reason voltage_mismatch" in bad["title"]
    assert result.unjudged == {"service_return_rate:SMALL:DE"}


def test_return_rate_rule_decides_row_by_row_as_written() -> None:
    """The rule picks its rows on whole columns; on a frame with NaN, infinite and missing
    rates, rows without a category and zero-unit categories it decides what the rule says row
    by row (the reference below)."""
    import numpy as np

    rng = np.random.default_rng(7)
    n = 400
    units = rng.integers(0, 60, n)
    rates = rng.uniform(0, 20, n)
    rates[rng.random(n) < 0.1] = 60.0  # well above twice any category's rate
    rates[rng.random(n) < 0.05] = np.nan
    rates[rng.random(n) < 0.02] = np.inf
    categories = rng.choice(np.array(["tools", "pet", "toys", None], dtype=object), n)
    frame = pd.DataFrame(
        {
            "sku": [f"S{i % 150}" for i in range(n)],
            "destination_country": rng.choice(["DE", "FR", "US"], n),
            "category": categories,
            "units_90d": units,
            "return_rate_pct": rates,
        }
    )
    frame.loc[frame["category"] == "toys", "units_90d"] = 0  # a category with no units: no rate
    result = r.evaluate_return_rates(frame, T)

    def rate_of(value: object) -> float | None:
        return float(value) if value is not None and np.isfinite(value) else None

    returned = (frame["return_rate_pct"] * frame["units_90d"] / 100).round()
    per_category = pd.DataFrame({"c": frame["category"], "u": frame["units_90d"], "r": returned}).groupby("c").sum()
    expected, unjudged = set(), set()
    for row in frame.to_dict("records"):
        sku_rate = rate_of(row["return_rate_pct"])
        if row["units_90d"] < T.return_rate_min_units or sku_rate is None:
            unjudged.add(f"service_return_rate:{row['sku']}:{row['destination_country']}")
            continue
        if pd.isna(row["category"]) or per_category.loc[row["category"], "u"] == 0:
            continue
        category_rate = 100 * per_category.loc[row["category"], "r"] / per_category.loc[row["category"], "u"]
        if category_rate and sku_rate > T.return_rate_multiple * category_rate:
            expected.add(f"{row['sku']}/{row['destination_country']}")
    assert expected and unjudged  # the frame exercises both
    assert {a["entity"] for a in result.alerts} == expected
    assert result.unjudged == unjudged


def test_supplier_concentration_above_the_share() -> None:
    rows = pd.DataFrame(
        [
            {
                "category": "tools",
                "supplier_id": "S1",
                "unit_share_pct": 85.0,
                "category_suppliers": 2,
                "units_90d": 850,
                "category_units_90d": 1000,
                "category_hhi": 7450.0,
                "supplier_country": "CN",
                "supplier_country_risk_tier": "high",
                "skus": 3,
            },
            {"category": "tools", "supplier_id": "S2", "unit_share_pct": 15.0, "category_suppliers": 2},
            {"category": "toys", "supplier_id": "S3", "unit_share_pct": 80.0, "category_suppliers": 3},
            {"category": "pet", "supplier_id": "S4", "unit_share_pct": 100.0, "category_suppliers": 1},
        ]
    )
    result = r.evaluate_supplier_concentration(rows, T)
    assert [a["dedup_key"] for a in result.alerts] == [
        "supplier_concentration:pet:S4",
        "supplier_concentration:tools:S1",
    ]
    assert "the only supplier" in result.alerts[0]["title"]
    assert result.alerts[1]["facts"]["Unit share (90 days)"] == "85.0% of 1000 units"


# ================================================================ the lifecycle


def make_settings(tmp_path: Path, **notifiers: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        webserver_base_url="http://dagster.test:3000",
        notifiers=NotifierSettings(**{**FAST, **notifiers}),
    )


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def found(*alerts: tuple[str, str], unjudged: set[str] | None = None) -> RuleResult:
    """A rule result with alerts (entity, severity) of the freight rule."""
    return RuleResult(
        [
            {
                "dedup_key": f"freight_spike:{e}",
                "rule": "freight_spike",
                "entity": e,
                "severity": s,
                "title": f"spike on {e} ({s})",
                "facts": {"Severity": s, "Entity": e},
                "payload": {"entity": e},
            }
            for e, s in alerts
        ],
        unjudged=unjudged or set(),
    )


def run(conn: duckdb.DuckDBPyConnection, settings: Settings, result: RuleResult, day: int):
    """One nightly run of the freight rule on day ``day``."""
    now = dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC) + dt.timedelta(days=day)
    return process_rule_run(
        conn,
        ["freight_spike"],
        result,
        settings,
        now,
        run_id=f"run-{day}",
        link=f"http://x/runs/run-{day}",
        sleep=lambda s: None,
    )


def events(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT * FROM alerts.alert_events ORDER BY alert_id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def deliveries(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT * FROM alerts.alert_deliveries ORDER BY created_at, seq, delivery_id")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def conn(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "lifecycle.duckdb"))
    yield connection
    connection.close()


def test_a_persisting_condition_notifies_once_over_three_runs(tmp_path: Path, conn) -> None:
    settings = make_settings(tmp_path)
    first = run(conn, settings, found(("L1", "warning"), ("L2", "critical")), 0)
    assert [a["entity"] for a in first.opened] == ["L1", "L2"] and len(first.delivered) == 2
    second = run(conn, settings, found(("L1", "warning"), ("L2", "critical")), 1)
    third = run(conn, settings, found(("L1", "warning"), ("L2", "critical")), 2)
    for later in (second, third):
        assert (
            later.opened == []
            and later.deliveries == []
            and sorted(later.persisting)
            == [
                "freight_spike:L1",
                "freight_spike:L2",
            ]
        )
    lines = read_outbox(settings.outbox)
    assert [(line["event"], line["entity"]) for line in lines] == [("trigger", "L1"), ("trigger", "L2")]
    rows = events(conn)
    assert [(row["status"], row["episode"]) for row in rows] == [("open", 1), ("open", 1)]
    assert rows[0]["first_seen_at"] == dt.datetime(2025, 7, 1, 2) and rows[0]["last_seen_at"] == dt.datetime(
        2025, 7, 3, 2
    )
    assert rows[0]["last_run_id"] == "run-2" and rows[0]["first_run_id"] == "run-0"
    assert lines[0]["link"] == "http://x/runs/run-0" and lines[0]["alert_id"] == "freight_spike:L1#1"


def test_escalation_notifies_once_and_a_fall_is_silent(tmp_path: Path, conn) -> None:
    settings = make_settings(tmp_path)
    run(conn, settings, found(("L1", "warning")), 0)
    up = run(conn, settings, found(("L1", "critical")), 1)
    assert [(a["entity"], a["previous_severity"]) for a in up.escalated] == [("L1", "warning")]
    down = run(conn, settings, found(("L1", "warning")), 2)
    again = run(conn, settings, found(("L1", "critical")), 3)  # already announced at critical
    assert down.deliveries == [] and again.deliveries == [] and again.escalated == []
    lines = read_outbox(settings.outbox)
    assert [(line["event"], line["severity"], line.get("previous_severity")) for line in lines] == [
        ("trigger", "warning", None),
        ("escalate", "critical", "warning"),
    ]
    [row] = events(conn)
    assert (row["severity"], row["notified_severity"]) == ("critical", "critical")
    assert row["escalated_at"] == dt.datetime(2025, 7, 2, 2)


def test_resolution_notifies_and_a_return_opens_a_new_episode(tmp_path: Path, conn) -> None:
    settings = make_settings(tmp_path)
    run(conn, settings, found(("L1", "warning"), ("L2", "warning")), 0)
    calm = run(conn, settings, found(("L2", "warning"), unjudged={"freight_spike:L1"}), 1)
    assert calm.resolved == [] and calm.unjudged_open == ["freight_spike:L1"]  # not judged: left open
    gone = run(conn, settings, found(("L2", "warning")), 2)
    assert gone.resolved == ["freight_spike:L1"]
    back = run(conn, settings, found(("L1", "critical"), ("L2", "warning")), 3)
    assert [a["entity"] for a in back.opened] == ["L1"]
    lines = read_outbox(settings.outbox)
    assert [(line["event"], line["entity"]) for line in lines] == [
        ("trigger", "L1"),
        ("trigger", "L2"),
        ("resolve", "L1"),
        ("trigger", "L1"),
    ]
    resolved = lines[2]
    assert resolved["status"] == "resolved" and resolved["resolved_at"].startswith("2025-07-03T02:00")
    assert resolved["first_seen_at"].startswith("2025-07-01T02:00") and resolved["alert_id"] == "freight_spike:L1#1"
    assert lines[3]["alert_id"] == "freight_spike:L1#2"
    rows = {row["alert_id"]: row for row in events(conn)}
    assert rows["freight_spike:L1#1"]["status"] == "resolved"
    assert rows["freight_spike:L1#2"]["status"] == "open" and rows["freight_spike:L1#2"]["episode"] == 2


def test_resolution_reaches_the_channels_that_heard_the_escalation(tmp_path: Path, conn) -> None:
    settings = make_settings(
        tmp_path,
        channels={
            "chat": ChannelSettings(kind="outbox", path=tmp_path / "chat.jsonl"),
            "pager": ChannelSettings(kind="outbox", path=tmp_path / "pager.jsonl"),
        },
        routes=[
            Route(rule="freight_*", min_severity="warning", channels=["chat"]),
            Route(rule="*", min_severity="critical", channels=["pager"]),
        ],
    )
    run(conn, settings, found(("L1", "warning")), 0)
    run(conn, settings, found(("L1", "critical")), 1)
    run(conn, settings, found(("L1", "warning")), 2)  # de-escalated, still open
    run(conn, settings, found(), 3)  # resolved while at warning: the pager that was paged still hears it
    assert [line["event"] for line in read_outbox(tmp_path / "chat.jsonl")] == ["trigger", "escalate", "resolve"]
    assert [line["event"] for line in read_outbox(tmp_path / "pager.jsonl")] == ["escalate", "resolve"]


def test_plan_is_pure_and_rejects_duplicate_keys() -> None:
    alert = found(("L1", "warning")).alerts[0]
    plan = plan_transitions([alert], {}, {"freight_spike:L1": 3})
    assert plan.opened[0][1:] == ("freight_spike:L1#4", 4)
    with pytest.raises(ValueError, match="duplicate dedup keys"):
        plan_transitions([alert, alert], {}, {})


def test_a_failing_channel_is_recorded_does_not_block_others_and_is_retried_next_run(
    tmp_path: Path, conn, http_receiver: HttpReceiver
) -> None:
    settings = make_settings(
        tmp_path,
        channels={
            "slack": ChannelSettings(kind="slack", url=f"{http_receiver.url}/slack/hook"),
            "outbox": ChannelSettings(kind="outbox"),
        },
        routes=[Route(channels=["slack", "outbox"])],
    )
    http_receiver.down("/slack/hook")
    first = run(conn, settings, found(("L1", "warning"), ("L2", "warning")), 0)
    assert sorted((d.channel, d.status) for d in first.deliveries) == [
        ("outbox", "delivered"),
        ("outbox", "delivered"),
        ("slack", "failed"),
        ("slack", "failed"),
    ]
    # The first Slack message used its retries; the second was not tried while the channel was down.
    slack = [d for d in first.deliveries if d.channel == "slack"]
    assert [d.attempts for d in slack] == [FAST["attempts"], 0] and "failed earlier in this run" in slack[1].detail
    assert http_receiver.attempts["/slack/hook"] == FAST["attempts"]
    assert len(read_outbox(settings.outbox)) == 2

    http_receiver.up("/slack/hook")
    second = run(conn, settings, found(("L1", "warning"), ("L2", "warning")), 1)
    assert [(d.channel, d.status, d.retried) for d in second.deliveries] == [("slack", "delivered", True)] * 2
    assert [m["blocks"][0]["type"] for m in http_receiver.at("/slack/hook")] == ["header", "header"]
    # Sent from the stored message: the facts keep the rule's order.
    assert [f["text"] for f in http_receiver.at("/slack/hook")[0]["blocks"][2]["fields"]] == [
        "*Severity*\nwarning",
        "*Entity*\nL1",
    ]
    assert len(read_outbox(settings.outbox)) == 2  # the outbox is not sent again
    rows = [d for d in deliveries(conn) if d["channel"] == "slack"]
    assert [(d["status"], d["attempts"]) for d in rows] == [("delivered", FAST["attempts"] + 1), ("delivered", 1)]

    third = run(conn, settings, found(("L1", "warning"), ("L2", "warning")), 2)
    assert third.deliveries == []  # nothing new, nothing left to retry


def test_an_undelivered_trigger_is_superseded_by_the_resolution(
    tmp_path: Path, conn, http_receiver: HttpReceiver
) -> None:
    settings = make_settings(
        tmp_path,
        channels={"hook": ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook")},
        routes=[Route(channels=["hook"])],
    )
    http_receiver.down("/hook")
    run(conn, settings, found(("L1", "warning")), 0)
    run(conn, settings, found(), 1)  # resolved while the webhook is still down
    http_receiver.up("/hook")
    last = run(conn, settings, found(), 2)
    assert [(d.event, d.status) for d in last.deliveries] == [("resolve", "delivered")]
    assert [m["event"] for m in http_receiver.at("/hook")] == ["resolve"]  # carries title and first seen
    assert [(d["event"], d["status"]) for d in deliveries(conn)] == [
        ("trigger", "superseded"),
        ("resolve", "delivered"),
    ]


def test_a_removed_channel_drops_its_queued_messages(tmp_path: Path, conn, http_receiver: HttpReceiver) -> None:
    hook = ChannelSettings(kind="webhook", url=f"{http_receiver.url}/hook")
    http_receiver.down("/hook")
    run(
        conn,
        make_settings(tmp_path, channels={"hook": hook}, routes=[Route(channels=["hook"])]),
        found(("L1", "warning")),
        0,
    )
    later = run(conn, make_settings(tmp_path), found(("L1", "warning")), 1)
    assert [(d.channel, d.status) for d in later.deliveries] == [("hook", "dropped")]


def test_a_configuration_error_changes_nothing(tmp_path: Path, conn) -> None:
    broken = make_settings(tmp_path, routes=[Route(channels=["nope"])])
    with pytest.raises(ValueError, match="nope"):
        run(conn, broken, found(("L1", "warning")), 0)
    ensure_alert_tables(conn)
    assert events(conn) == []


def test_alert_records_of_the_first_layout_are_carried_over_as_resolved(tmp_path: Path, conn) -> None:
    conn.execute("CREATE SCHEMA alerts")
    conn.execute(
        "CREATE TABLE alerts.alert_events (dedup_key VARCHAR PRIMARY KEY, rule VARCHAR NOT NULL, entity VARCHAR NOT NULL, "
        "severity VARCHAR NOT NULL, status VARCHAR NOT NULL, first_seen_at TIMESTAMP NOT NULL, "
        "last_seen_at TIMESTAMP NOT NULL, payload JSON)"
    )
    conn.execute(
        "INSERT INTO alerts.alert_events VALUES ('freight_spike:L1:ocean:2025-06-23', 'freight_spike', 'L1/ocean', "
        "'warning', 'delivered', '2025-06-24 02:00', '2025-06-25 02:00', '{}')"
    )
    settings = make_settings(tmp_path)
    summary = run(conn, settings, found(("L1", "warning")), 0)
    assert len(summary.opened) == 1 and summary.resolved == []  # the old week key is not announced as resolved
    rows = {row["alert_id"]: row for row in events(conn)}
    old = rows["freight_spike:L1:ocean:2025-06-23#1"]
    assert (old["status"], old["resolved_at"]) == ("resolved", dt.datetime(2025, 6, 25, 2))


def test_record_and_deliver_can_run_apart(tmp_path: Path, conn) -> None:
    """Recording queues; a later delivery sends (what an interrupted run leaves for the next)."""
    settings = make_settings(tmp_path)
    now = dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC)
    summary = record_run(conn, ["freight_spike"], found(("L1", "warning")), settings, now, "run-a")
    assert summary.messages == 1 and not settings.outbox.exists()
    [outcome] = deliver_unsent(conn, ["freight_spike"], settings, now, "run-b", sleep=lambda s: None)
    assert outcome.status == "delivered" and outcome.retried
    with pytest.raises(ValueError, match="other rules"):
        record_run(conn, ["transit_delay"], found(("L1", "warning")), settings, now)


def test_delivery_outcomes_are_recorded_in_batches_and_when_a_send_raises(
    tmp_path: Path, conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven messages, outcomes written every three; the sixth send raises: the five sent before
    are recorded delivered (the last two in the final write), the rest stay pending for the next run."""
    from orchestration.defs.alerts import lifecycle

    settings = make_settings(tmp_path)
    now = dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC)
    record_run(conn, ["freight_spike"], found(*((f"L{i}", "warning") for i in range(7))), settings, now, "run-a")
    monkeypatch.setattr(lifecycle, "RECORD_EVERY", 3)
    real, sent = lifecycle.send_with_retries, []

    def flaky(*args: Any, **kwargs: Any):
        if len(sent) == 5:
            raise RuntimeError("notifier bug")
        sent.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "send_with_retries", flaky)
    with pytest.raises(RuntimeError, match="notifier bug"):
        deliver_unsent(conn, ["freight_spike"], settings, now, "run-a", sleep=lambda s: None)
    statuses = [row["status"] for row in deliveries(conn)]
    assert statuses == ["delivered"] * 5 + ["pending"] * 2
    assert len(read_outbox(settings.outbox)) == 5
    monkeypatch.setattr(lifecycle, "send_with_retries", real)
    later = deliver_unsent(conn, ["freight_spike"], settings, now, "run-b", sleep=lambda s: None)
    assert [o.status for o in later] == ["delivered"] * 2
    assert {row["status"] for row in deliveries(conn)} == {"delivered"}
    assert all(row["attempts"] == 1 and row["delivered_at"] is not None for row in deliveries(conn))


def test_outbox_lines_are_on_disk_before_their_batch_is_recorded(
    tmp_path: Path, conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven outbox messages, outcomes recorded every three: one fsync per record (three), each before
    the record that says delivered, not one per line."""
    from orchestration.defs.alerts import lifecycle, notifiers, store

    settings = make_settings(tmp_path)
    now = dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC)
    record_run(conn, ["freight_spike"], found(*((f"L{i}", "warning") for i in range(7))), settings, now, "run-a")
    monkeypatch.setattr(lifecycle, "RECORD_EVERY", 3)
    events: list[str] = []
    real_fsync, real_record = os.fsync, store.record_attempts
    monkeypatch.setattr(notifiers.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        store, "record_attempts", lambda c, rows, *a: events.append(f"record {len(rows)}") or real_record(c, rows, *a)
    )
    outcomes = deliver_unsent(conn, ["freight_spike"], settings, now, "run-a", sleep=lambda s: None)
    assert [o.status for o in outcomes] == ["delivered"] * 7
    assert events == ["fsync", "record 3", "fsync", "record 3", "fsync", "record 1"]
    assert len(read_outbox(settings.outbox)) == 7


def test_outbox_lines_not_saved_to_disk_are_recorded_failed_and_sent_again(
    tmp_path: Path, conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync that fails turns the batch's outbox deliveries into failures (the next run sends them
    again) and stops the channel for the rest of the run."""
    from orchestration.defs.alerts import lifecycle, notifiers

    settings = make_settings(tmp_path)
    now = dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC)
    record_run(conn, ["freight_spike"], found(*((f"L{i}", "warning") for i in range(5))), settings, now, "run-a")
    monkeypatch.setattr(lifecycle, "RECORD_EVERY", 3)
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(notifiers.os, "fsync", failing)
    outcomes = deliver_unsent(conn, ["freight_spike"], settings, now, "run-a", sleep=lambda s: None)
    assert [o.status for o in outcomes] == ["failed"] * 5
    assert all("not saved to disk" in o.detail for o in outcomes[:3])
    assert all("not attempted" in o.detail for o in outcomes[3:])  # the channel was down after the first batch
    assert {row["status"] for row in deliveries(conn)} == {"failed"}
    monkeypatch.setattr(notifiers.os, "fsync", real_fsync)
    later = deliver_unsent(conn, ["freight_spike"], settings, now, "run-b", sleep=lambda s: None)
    assert [o.status for o in later] == ["delivered"] * 5 and all(o.retried for o in later)


# ================================================================ routing and the outbox


ALERT = {
    "dedup_key": "freight_spike:L1:ocean_fcl_40",
    "rule": "freight_spike",
    "entity": "L1/ocean_fcl_40",
    "severity": "warning",
    "title": "spike",
    "payload": {"rate_week": dt.date(2025, 6, 23), "wow_change_pct": 30.0, "zscore_12w": math.nan},
}


def test_outbox_appends_one_json_line_per_alert(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    results = notify(ALERT, settings)
    assert [(r.channel, r.kind, r.ok) for r in results] == [("outbox", "outbox", True)]
    lines = read_outbox(settings.outbox)
    assert len(lines) == 1
    assert lines[0]["dedup_key"] == ALERT["dedup_key"]
    assert lines[0]["payload"] == {"rate_week": "2025-06-23", "wow_change_pct": 30.0, "zscore_12w": None}
    assert lines[0]["channel"] == "outbox" and "delivered_at" in lines[0] and lines[0]["event"] == "trigger"


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


# ================================================================ the assets against a temporary warehouse


@pytest.fixture
def alert_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_WEBSERVER_BASE_URL", "http://dagster.example:3000/")
    monkeypatch.setenv("TRADEWINDS_NOTIFIERS__BACKOFF_SECONDS", "0.01")
    get_settings.cache_clear()
    return tmp_path


def write_table(path: Path, table: str, rows: list[dict[str, Any]] | pd.DataFrame) -> None:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    schema = table.split(".")[0]
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.register("frame", frame)
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM frame")


def write_lane_mart(path: Path, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows).astype({"wow_change_pct": float, "zscore_12w": float, "is_spike": "boolean"})
    frame["rate_week"] = pd.to_datetime(frame["rate_week"])
    write_table(path, "marts.risk_lane_weekly", frame)


def alert_events(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path)) as conn:
        return conn.execute("SELECT * FROM alerts.alert_events ORDER BY alert_id").df()


def materialize(warehouse: Path, assets: list[dg.AssetsDefinition] | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets or [freight_spike_alerts],
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, name: str = "freight_spike_alerts") -> dict[str, Any]:
    event = result.asset_materializations_for_node(f"alerts__{name}")[0]
    return {k: v.value for k, v in event.metadata.items()}


def test_freight_asset_dedups_escalates_and_resolves_across_runs(alert_env: Path) -> None:
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
    first = materialize(warehouse)
    assert first.success
    meta = metadata(first)
    assert (meta["alerts_found"], meta["new"], meta["delivered"], meta["open_alerts"]) == (2, 2, 2, 2)
    assert meta["mart_flag_disagreements"] == 0 and "| critical | new | L2/ocean_fcl_40 |" in meta["alerts"]
    lines = read_outbox(outbox)
    assert sorted(line["dedup_key"] for line in lines) == [
        "freight_spike:L1:ocean_fcl_40",
        "freight_spike:L2:ocean_fcl_40",
    ]
    assert all(line["link"].startswith("http://dagster.example:3000/runs/") for line in lines)
    events_before = alert_events(warehouse)
    assert events_before["status"].tolist() == ["open", "open"]
    assert json.loads(events_before["payload"].iloc[1])["wow_change_pct"] == 150.0

    # Same night again: the conditions persist, nothing is delivered, last_seen_at moves on.
    second = materialize(warehouse)
    meta = metadata(second)
    assert second.success and (meta["alerts_found"], meta["new"], meta["persisting"], meta["delivered"]) == (2, 0, 2, 0)
    assert len(read_outbox(outbox)) == 2
    again = alert_events(warehouse)
    assert (again["first_seen_at"] == events_before["first_seen_at"]).all()
    assert (again["last_seen_at"] > events_before["last_seen_at"]).all()

    # Next week L1 doubles (escalates to critical), L2 stays high by z-score (persists), L3 spikes (new).
    next_week = WEEK + dt.timedelta(days=7)
    write_lane_mart(
        warehouse,
        [
            lane_row("L1", 110.0, 5.0, week=next_week),
            lane_row("L2", 5.0, 3.5, week=next_week),
            lane_row("L3", 40.0, 2.0, week=next_week),
        ],
    )
    third = materialize(warehouse)
    meta = metadata(third)
    assert (meta["new"], meta["escalated"], meta["persisting"], meta["resolved"]) == (1, 1, 1, 0)
    # The week after, everything calms down: all three resolve.
    write_lane_mart(
        warehouse, [lane_row(lane, 1.0, 0.1, week=next_week + dt.timedelta(days=7)) for lane in ("L1", "L2", "L3")]
    )
    fourth = materialize(warehouse)
    assert (metadata(fourth)["resolved"], metadata(fourth)["open_alerts"]) == (3, 0)
    assert [(line["event"], line["entity"]) for line in read_outbox(outbox)[2:]] == [
        ("trigger", "L3/ocean_fcl_40"),
        ("escalate", "L1/ocean_fcl_40"),
        ("resolve", "L1/ocean_fcl_40"),
        ("resolve", "L2/ocean_fcl_40"),
        ("resolve", "L3/ocean_fcl_40"),
    ]


def test_failed_delivery_fails_the_step_and_is_retried(alert_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    blocked = alert_env / "blocked"
    blocked.mkdir()  # a directory where the outbox file should be: every append fails
    monkeypatch.setenv("TRADEWINDS_OUTBOX_PATH", str(blocked))
    get_settings.cache_clear()
    write_lane_mart(warehouse, [lane_row("L1", 30.0, 1.0)])

    failed = materialize(warehouse)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "will be retried by the next run" in failure.step_failure_data.error.message
    assert alert_events(warehouse)["status"].tolist() == ["open"]  # the alert is recorded all the same

    monkeypatch.setenv("TRADEWINDS_OUTBOX_PATH", str(alert_env / "ok" / "alerts.jsonl"))
    get_settings.cache_clear()
    retried = materialize(warehouse)
    assert retried.success
    meta = metadata(retried)
    assert (meta["new"], meta["delivered"], meta["retried_deliveries"]) == (0, 1, 1)
    assert len(read_outbox(alert_env / "ok" / "alerts.jsonl")) == 1


def test_an_asset_whose_table_is_missing_skips_and_still_retries(alert_env: Path) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    [asset] = [a for a in ALERT_ASSETS if a.key.path[-1] == "supplier_concentration_alerts"]
    result = materialize(warehouse, [asset])
    assert result.success
    meta = metadata(result, "supplier_concentration_alerts")
    assert "marts.risk_supplier_concentration does not exist" in meta["skipped"]
    assert meta["alerts_found"] == 0


def test_an_empty_mart_judges_nothing_and_resolves_nothing(alert_env: Path) -> None:
    warehouse = alert_env / "warehouse.duckdb"
    write_lane_mart(warehouse, [lane_row("L1", 60.0, 4.0)])
    assert metadata(materialize(warehouse))["new"] == 1
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DELETE FROM marts.risk_lane_weekly")
    result = materialize(warehouse)
    meta = metadata(result)
    assert result.success and meta["alerts_found"] == 0 and "marts.risk_lane_weekly has no rows" in meta["skipped"]
    assert meta["open_alerts"] == 1 and alert_events(warehouse)["status"].tolist() == ["open"]


def crafted_warehouse(path: Path) -> None:
    """Every table the alert assets read, with one condition per rule."""
    write_lane_mart(path, [lane_row("L1", 150.0, 6.0, week=AS_OF - dt.timedelta(days=AS_OF.weekday()))])
    write_table(path, "marts.shipment_transit", [shipment("S1", status="overdue", delay=80.0, arrived_days_ago=None)])
    write_table(path, "marts.risk_policy_events", [policy_event("E1", 12)])
    write_table(path, "marts.inventory_position", [inventory_row("SKU-1", 5, 0, 30, 1.0)])
    write_table(path, "forecast.demand_forecast", forecast_rows("SKU-1", 2.0, 90))
    write_table(path, "marts.traffic_sku_market_daily", traffic_rows("SKU-2", [0.6] * 9))
    write_table(
        path,
        "marts.service_market_daily",
        service_rows("DE", 70, 35, 60, 40) + service_rows("DE", 70, 0, 85, 40, days=range(7, 14)),
    )
    write_table(
        path,
        "marts.selection_sku_market",
        [
            {
                "sku": "SKU-3",
                "destination_country": "US",
                "category": "tools",
                "units_90d": 100,
                "returned_units_90d": 30,
                "return_rate_pct": 30.0,
                "top_return_reason": "voltage_mismatch",
            },
            {
                "sku": "SKU-4",
                "destination_country": "US",
                "category": "tools",
                "units_90d": 900,
                "returned_units_90d": 20,
                "return_rate_pct": 2.2,
                "top_return_reason": None,
            },
        ],
    )
    write_table(
        path,
        "marts.risk_supplier_concentration",
        [{"category": "tools", "supplier_id": "SUP-1", "unit_share_pct": 92.0, "category_suppliers": 2}],
    )


def test_every_alert_asset_fires_on_crafted_marts_and_pages_pagerduty(
    alert_env: Path, monkeypatch: pytest.MonkeyPatch, http_receiver: HttpReceiver
) -> None:
    """Each asset end to end through Dagster; critical alerts also go to a PagerDuty receiver."""
    monkeypatch.setenv("TW_TEST_PD_KEY", "pd-key-000111")
    monkeypatch.setenv(
        "TRADEWINDS_NOTIFIERS__CHANNELS",
        json.dumps(
            {
                "outbox": {"kind": "outbox"},
                "pd": {
                    "kind": "pagerduty",
                    "url": f"{http_receiver.url}/pagerduty",
                    "routing_key_env": "TW_TEST_PD_KEY",
                },
            }
        ),
    )
    monkeypatch.setenv(
        "TRADEWINDS_NOTIFIERS__ROUTES",
        json.dumps(
            [{"rule": "*", "channels": ["outbox"]}, {"rule": "*", "min_severity": "critical", "channels": ["pd"]}]
        ),
    )
    get_settings.cache_clear()
    warehouse = alert_env / "warehouse.duckdb"
    crafted_warehouse(warehouse)
    result = materialize(warehouse, ALERT_ASSETS)
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    fired = {(line["rule"], line["entity"], line["severity"]) for line in read_outbox(get_settings().outbox)}
    assert fired == {
        ("freight_spike", "L1/ocean_fcl_40", "critical"),
        ("transit_delay", "CNSHA-DEHAM/rail", "warning"),
        ("policy_change", "E1/DE", "warning"),
        ("stockout_risk", "SKU-1/DE", "critical"),
        ("stockout_demand_surge", "SKU-2/DE", "warning"),
        ("service_first_response", "DE", "critical"),
        ("service_csat_drop", "DE", "critical"),
        ("service_return_rate", "SKU-3/US", "warning"),
        ("supplier_concentration", "tools/SUP-1", "warning"),
    }
    paged = {e["dedup_key"]: e["event_action"] for e in http_receiver.at("/pagerduty")}
    assert paged == {
        "freight_spike:L1:ocean_fcl_40": "trigger",
        "stockout_risk:SKU-1:DE": "trigger",
        "service_first_response:DE": "trigger",
        "service_csat_drop:DE": "trigger",
    }
    assert {spec.key for spec in ALERT_SPECS} == {a.key for a in ALERT_ASSETS}

    # The freight lane calms down: PagerDuty gets the resolve with the same dedup key.
    write_lane_mart(warehouse, [lane_row("L1", 1.0, 0.1, week=AS_OF - dt.timedelta(days=AS_OF.weekday()))])
    assert materialize(warehouse).success
    resolve = http_receiver.at("/pagerduty")[-1]
    assert resolve == {
        "routing_key": "pd-key-000111",
        "event_action": "resolve",
        "dedup_key": "freight_spike:L1:ocean_fcl_40",
    }


def test_alert_assets_depend_on_what_they_read() -> None:
    deps = {a.key.path[-1]: {k.to_user_string() for k in a.asset_deps[a.key]} for a in ALERT_ASSETS}
    assert deps["freight_spike_alerts"] == {"marts/risk_lane_weekly"}
    assert deps["stockout_risk_alerts"] == {"marts/inventory_position", "forecast/demand_forecast"}
    assert deps["demand_surge_alerts"] == {"marts/traffic_sku_market_daily"}
    assert deps["service_degradation_alerts"] == {"marts/service_market_daily"}
    assert deps["return_rate_alerts"] == {"marts/selection_sku_market"}
    assert all(a.group_names_by_key[a.key] == "alerts" for a in ALERT_ASSETS)


# ================================================================ the on-call sensor


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


def test_run_failure_sensor_pages_through_the_routes_to_pagerduty(
    alert_env: Path, monkeypatch: pytest.MonkeyPatch, http_receiver: HttpReceiver
) -> None:
    monkeypatch.setenv("TW_TEST_PD_KEY", "pd-key-000111")
    monkeypatch.setenv(
        "TRADEWINDS_NOTIFIERS__CHANNELS",
        json.dumps(
            {"pd": {"kind": "pagerduty", "url": f"{http_receiver.url}/pagerduty", "routing_key_env": "TW_TEST_PD_KEY"}}
        ),
    )
    monkeypatch.setenv("TRADEWINDS_NOTIFIERS__ROUTES", json.dumps([{"rule": "failed_run", "channels": ["pd"]}]))
    get_settings.cache_clear()
    with dg.DagsterInstance.ephemeral() as instance:
        context, run_id = run_failure_context(instance)
        oncall_run_failure(context)
    [event] = http_receiver.at("/pagerduty")
    assert event["dedup_key"] == f"failed_run:{run_id}" and event["payload"]["severity"] == "critical"
    assert event["links"][0]["href"] == f"http://dagster.example:3000/runs/{run_id}"
    assert event["payload"]["custom_details"]["payload"]["step_keys"] == ["explode"]
    assert not get_settings().outbox.exists()  # delivered: no fallback


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
    assert "routing_key_env" in lines[0]["delivery_errors"][0]


def test_alert_definitions_load_with_a_warehouse(tmp_path: Path) -> None:
    defs = dg.Definitions.merge(
        alert_defs, dg.Definitions(resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))})
    )
    sensor = defs.resolve_sensor_def("oncall_run_failure")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    keys = defs.resolve_all_asset_keys()
    for spec in ALERT_SPECS:
        assert spec.key in keys


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
        "nan": float("nan"),
        "inf": float("-inf"),
        "nested": {"a": [1, "x", True, np.int64(2), dt.date(2025, 6, 23)], 7: 2.5},
    }
    assert jsonable(payload) == {
        "na": None,
        "nat": None,
        "np": 1.5,
        "int": 3,
        "day": "2025-06-23",
        "nan": None,
        "inf": None,
        "nested": {"a": [1, "x", True, 2, "2025-06-23"], "7": 2.5},
    }


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
