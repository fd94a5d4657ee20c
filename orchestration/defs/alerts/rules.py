"""Alert rules: pure functions from mart rows and thresholds to alerts.

Each ``evaluate_*`` function takes the rows its asset read (DataFrames with the marts'
columns) and the :class:`~orchestration.lib.settings.Thresholds`, and returns a
:class:`RuleResult`: the conditions that hold now, one alert per entity, and the entities
present in the data that could not be judged (too little evidence). The alert store
(:mod:`.lifecycle`) compares that with what was open: an open alert whose entity is neither
firing nor unjudged is resolved.

The rules recompute their conditions from the measured columns instead of trusting flags
the marts may also carry (``is_spike``, ``is_delayed``, ``is_stockout_risk``, ...), so that
they always follow the thresholds in the settings and can be tested on their own.

An alert is a dict: ``dedup_key`` (``<rule>:<entity parts>``, stable while the condition
lasts), ``rule``, ``entity``, ``severity`` (info, warning, critical), ``title`` (one line a
person can act on), ``facts`` (label -> text, the figures shown first in Slack and e-mail)
and ``payload`` (the machine-readable detail).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from orchestration.lib.settings import Thresholds

FREIGHT_SPIKE = "freight_spike"
TRANSIT_DELAY = "transit_delay"
POLICY_CHANGE = "policy_change"
STOCKOUT_RISK = "stockout_risk"
DEMAND_SURGE = "stockout_demand_surge"
SERVICE_FIRST_RESPONSE = "service_first_response"
SERVICE_CSAT_DROP = "service_csat_drop"
SERVICE_RETURN_RATE = "service_return_rate"
SUPPLIER_CONCENTRATION = "supplier_concentration"

#: Service rules compare rolling 7-day windows ending on the latest ticket day ("week over week").
SERVICE_WINDOW_DAYS = 7
#: Shipments, events, ... listed in one alert's payload (the counts cover all of them).
MAX_LISTED = 10
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class RuleResult:
    """What one evaluation of a rule found."""

    alerts: list[dict[str, Any]]
    #: Dedup keys of entities present in the data but not judged this run (too little evidence):
    #: an open alert for them stays open, neither confirmed nor resolved.
    unjudged: set[str] = field(default_factory=set)
    #: Entities judged (firing or not).
    judged: int = 0
    #: Remarks for the run log and the asset metadata (fallbacks used, rows skipped).
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- helpers


def _number(value: Any) -> float | None:
    """A finite float, or None for NULL / NaN / infinity (a z-score over a flat series is undefined)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    number = _number(value)
    return int(round(number)) if number is not None else 0


def _iso_date(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp.date().isoformat()


def _iso_time(value: Any) -> str | None:
    if value is None or value is pd.NaT:
        return None
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp.isoformat(timespec="minutes")


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _usd(value: float | None) -> str:
    """Dollars: whole above 100 ($4,400), cents below ($1.72 per kg)."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if abs(value) >= 100 else f"{sign}${abs(value):,.2f}"


def _sorted(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a["severity"], 9), a["entity"]))


def _alert(
    rule: str,
    key: tuple[Any, ...],
    entity: str,
    severity: str,
    title: str,
    facts: Mapping[str, Any],
    payload: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "dedup_key": dedup_key(rule, *key),
        "rule": rule,
        "entity": entity,
        "severity": severity,
        "title": title,
        "facts": {k: v for k, v in facts.items() if v is not None},
        "payload": dict(payload),
    }


def dedup_key(rule: str, *parts: Any) -> str:
    """``<rule>:<part>:<part>``: the identity of a condition, the same every night while it lasts."""
    return ":".join([rule, *(str(p) for p in parts)])


# ---------------------------------------------------------------- freight spike


def freight_spike_severity(wow_pct: float | None, zscore: float | None, thresholds: Thresholds) -> str | None:
    """'critical', 'warning' or None for one lane-week.

    A spike is a rise of at least ``freight_spike_wow_pct`` percent week over week, or a
    z-score of at least ``freight_spike_zscore`` against the trailing 12 weeks. It is
    critical when the weekly rise reaches ``freight_spike_critical_pct`` percent (a doubling
    at the default 100). Percentages are in percent units (25.0 means +25%), like the mart's
    ``wow_change_pct``.
    """
    by_wow = wow_pct is not None and wow_pct >= thresholds.freight_spike_wow_pct
    by_z = zscore is not None and zscore >= thresholds.freight_spike_zscore
    if not (by_wow or by_z):
        return None
    if wow_pct is not None and wow_pct >= thresholds.freight_spike_critical_pct:
        return "critical"
    return "warning"


def detect_freight_spikes(df_latest_weeks: pd.DataFrame, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Freight-spike alerts for ``marts.risk_lane_weekly`` rows, one per spiking lane and mode.

    Only the latest ``rate_week`` of each lane and mode is judged (older rows in the frame are
    ignored). The dedup key is the lane and mode, not the week: a spike that carries on into
    the next weeks is the same condition (it does not page again) until the lane calms down.
    """
    if df_latest_weeks.empty:
        return []
    frame = df_latest_weeks.copy()
    frame["rate_week"] = pd.to_datetime(frame["rate_week"])
    latest = frame.groupby(["lane_id", "mode"])["rate_week"].transform("max")
    frame = frame[frame["rate_week"] == latest]

    alerts: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        wow = _number(row.get("wow_change_pct"))
        zscore = _number(row.get("zscore_12w"))
        severity = freight_spike_severity(wow, zscore, thresholds)
        if severity is None:
            continue
        lane_id, mode, week = str(row["lane_id"]), str(row["mode"]), _iso_date(row["rate_week"])
        reasons = []
        if wow is not None and wow >= thresholds.freight_spike_wow_pct:
            reasons.append(f"up {wow:.1f}% week over week (threshold {thresholds.freight_spike_wow_pct:g}%)")
        if zscore is not None and zscore >= thresholds.freight_spike_zscore:
            reasons.append(f"z-score {zscore:.2f} vs trailing 12 weeks (threshold {thresholds.freight_spike_zscore:g})")
        rate = _number(row.get("rate_usd"))
        origin, destination = row.get("origin_country"), row.get("destination_country")
        unit = _text(row.get("rate_unit"))
        alerts.append(
            _alert(
                FREIGHT_SPIKE,
                (lane_id, mode),
                f"{lane_id}/{mode}",
                severity,
                f"Freight spike {origin}->{destination} {mode} ({lane_id}), week of {week}: " + "; ".join(reasons),
                {
                    "Lane": f"{lane_id} ({origin}->{destination}, {mode})",
                    "Week": week,
                    "Rate": f"{_usd(rate)}" + (f" {unit.replace('_', ' ')}" if unit else ""),
                    "Week over week": f"{wow:+.1f}%" if wow is not None else "n/a",
                    "4 weeks": f"{_number(row.get('change_4w_pct')):+.1f}%"
                    if _number(row.get("change_4w_pct")) is not None
                    else None,
                    "z-score (12 weeks)": f"{zscore:.2f}" if zscore is not None else "n/a",
                    "Risk tier": _text(row.get("risk_tier")),
                },
                {
                    "lane_id": lane_id,
                    "mode": mode,
                    "origin_country": origin,
                    "destination_country": destination,
                    "rate_week": week,
                    "rate_usd": rate,
                    "rate_unit": unit,
                    "prev_week_rate_usd": _number(row.get("prev_week_rate_usd")),
                    "wow_change_pct": wow,
                    "change_4w_pct": _number(row.get("change_4w_pct")),
                    "zscore_12w": zscore,
                    "mean_12w_usd": _number(row.get("mean_12w_usd")),
                    "transit_days": _number(row.get("transit_days")),
                    "risk_tier": _text(row.get("risk_tier")),
                    "reasons": reasons,
                },
            )
        )
    return _sorted(alerts)


def evaluate_freight_spikes(lanes: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Judge the lanes that reported the latest rate week; a lane whose latest week is older is not judged."""
    if lanes.empty:
        return RuleResult([])
    weeks = pd.to_datetime(lanes["rate_week"])
    latest_week = weeks.max()
    per_lane = lanes.assign(_week=weeks).groupby(["lane_id", "mode"])["_week"].max()
    stale = per_lane[per_lane < latest_week]
    current = lanes[weeks == latest_week]
    result = RuleResult(
        detect_freight_spikes(current, thresholds),
        unjudged={dedup_key(FREIGHT_SPIKE, lane, mode) for lane, mode in stale.index},
        judged=int(current[["lane_id", "mode"]].drop_duplicates().shape[0]),
    )
    if len(stale):
        result.notes.append(f"{len(stale)} lane(s) without a rate for the week of {latest_week.date()}: not judged")
    return result


# ---------------------------------------------------------------- transit delay


def _shipment_view(row: Mapping[str, Any], arrived: bool) -> dict[str, Any]:
    view = {
        "shipment_id": str(row["shipment_id"]),
        "sku": _text(row.get("sku")),
        "units": _int(row.get("units")) if _number(row.get("units")) is not None else None,
        "departed_at": _iso_time(row.get("departed_at")),
        "planned_arrival_at": _iso_time(row.get("planned_arrival_at")),
        "planned_transit_days": _number(row.get("planned_transit_days")),
        "delay_hours": round(float(row["_delay"]), 1),
    }
    if arrived:
        view["arrived_at"] = _iso_time(row.get("arrived_at"))
        view["actual_transit_days"] = _number(row.get("actual_transit_days"))
    return view


def evaluate_transit_delays(shipments: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Lanes whose shipments run ``transit_delay_hours`` (48) or more beyond plan.

    One alert per lane and mode, firing while a shipment on it is in transit and overdue by
    at least the threshold, or arrived that late within the last ``transit_delay_lookback_days``.
    Critical from ``transit_delay_critical_hours`` (a week) of delay. It resolves when the
    lane's overdue shipments arrived and its late arrivals are older than the look-back.
    ``shipments`` has the columns of ``marts.shipment_transit``; the as-of moment is its
    ``as_of_at``.
    """
    if shipments.empty:
        return RuleResult([])
    frame = shipments.copy()
    frame["_delay"] = pd.to_numeric(frame["delay_hours"], errors="coerce")
    arrived_at = pd.to_datetime(frame["arrived_at"])
    as_of = pd.to_datetime(frame["as_of_at"]).max() if "as_of_at" in frame else arrived_at.max()
    # transit_status is the mart's (arrived, overdue, in_transit); without it, arrived means an arrival time.
    arrived = frame["transit_status"].astype(str).eq("arrived") if "transit_status" in frame else arrived_at.notna()
    late = frame["_delay"].ge(thresholds.transit_delay_hours)
    since = as_of - pd.Timedelta(days=thresholds.transit_delay_lookback_days)
    frame["_overdue"] = ~arrived & late
    frame["_late_arrival"] = arrived & late & arrived_at.ge(since)
    judged = int(frame[["lane_id", "mode"]].drop_duplicates().shape[0])
    # A lane's countries come from its first row; then only the flagged rows matter (the mart
    # has ~800k shipments at SF 10, a few hundred of them late: grouping them all cost 1.3 s).
    countries = [c for c in ("origin_country", "destination_country") if c in frame]
    firsts = {
        (row["lane_id"], row["mode"]): row
        for row in frame.drop_duplicates(["lane_id", "mode"])[["lane_id", "mode", *countries]].to_dict("records")
    }
    flagged = frame[frame["_overdue"] | frame["_late_arrival"]]
    # Grouped in plain Python: per-lane pandas slices and to_dict() cost ~2 ms a lane (0.6 s a night).
    lanes: dict[tuple[Any, Any], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for row in flagged.to_dict("records"):
        if _text(row["lane_id"]) is None or _text(row["mode"]) is None:  # as groupby drops a NULL key
            continue
        overdue_rows, arrival_rows = lanes.setdefault((row["lane_id"], row["mode"]), ([], []))
        (overdue_rows if row["_overdue"] else arrival_rows).append(row)

    def by_delay(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda row: -float(row["_delay"]))

    alerts = []
    for (lane_id, mode), (overdue_rows, arrival_rows) in sorted(lanes.items(), key=lambda kv: kv[0]):
        overdue, arrivals = by_delay(overdue_rows), by_delay(arrival_rows)
        worst = float(max(row["_delay"] for row in overdue + arrivals))
        severity = "critical" if worst >= thresholds.transit_delay_critical_hours else "warning"
        first = firsts[(lane_id, mode)]
        origin, destination = _text(first.get("origin_country")), _text(first.get("destination_country"))
        parts = []
        if overdue:
            parts.append(f"{len(overdue)} shipment(s) in transit overdue by up to {overdue[0]['_delay']:.0f}h")
        if arrivals:
            parts.append(
                f"{len(arrivals)} arrived >= {thresholds.transit_delay_hours:g}h late in the last "
                f"{thresholds.transit_delay_lookback_days} days (up to {arrivals[0]['_delay']:.0f}h)"
            )
        skus = sorted({sku for sku in (_text(row.get("sku")) for row in overdue + arrivals) if sku is not None})
        units_overdue = int(sum(_number(row.get("units")) or 0.0 for row in overdue))
        alerts.append(
            _alert(
                TRANSIT_DELAY,
                (lane_id, mode),
                f"{lane_id}/{mode}",
                severity,
                f"Transit delay {origin}->{destination} {mode} ({lane_id}): " + "; ".join(parts),
                {
                    "Lane": f"{lane_id} ({origin}->{destination}, {mode})",
                    "Overdue in transit": f"{len(overdue)} shipment(s), {units_overdue} units",
                    "Arrived late (look-back)": f"{len(arrivals)} shipment(s)",
                    "Worst delay": f"{worst:.0f}h ({worst / 24:.1f} days)",
                    "SKUs affected": ", ".join(skus[:MAX_LISTED]) + (" ..." if len(skus) > MAX_LISTED else ""),
                    "Threshold": f"{thresholds.transit_delay_hours:g}h (critical {thresholds.transit_delay_critical_hours:g}h)",
                },
                {
                    "lane_id": str(lane_id),
                    "mode": str(mode),
                    "origin_country": origin,
                    "destination_country": destination,
                    "as_of": _iso_time(as_of),
                    "max_delay_hours": round(worst, 1),
                    "overdue_count": len(overdue),
                    "overdue_units": units_overdue,
                    "late_arrival_count": len(arrivals),
                    "skus_affected": skus,
                    "overdue_shipments": [_shipment_view(row, False) for row in overdue[:MAX_LISTED]],
                    "late_arrivals": [_shipment_view(row, True) for row in arrivals[:MAX_LISTED]],
                    "threshold_hours": thresholds.transit_delay_hours,
                    "lookback_days": thresholds.transit_delay_lookback_days,
                },
            )
        )
    return RuleResult(_sorted(alerts), judged=judged)


# ---------------------------------------------------------------- policy change


def evaluate_policy_changes(events: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Duty, VAT, DST, CBAM and regulatory events effective within ``policy_window_days`` that touch active SKUs.

    ``events`` has the columns of ``marts.risk_policy_events`` (one row per event and
    market, with ``days_until_effective`` as of the run and the SKUs, revenue and estimated
    90-day margin impact it touches). Severity: ``info`` when the estimated impact is not a
    loss (a rate cut, goods under a de-minimis threshold); otherwise ``warning``, and
    ``critical`` from ``policy_critical_days`` before it takes effect, so an alert escalates
    as the date nears. It resolves once the event is in force (or no longer touches SKUs).
    """
    alerts = []
    for row in events.to_dict("records"):
        days = _number(row.get("days_until_effective"))
        skus = _int(row.get("skus_touched"))
        if days is None or not (0 < days <= thresholds.policy_window_days) or skus <= 0:
            continue
        event_id, country = str(row["event_id"]), str(row["destination_country"])
        kind = _text(row.get("kind")) or "event"
        impact = _number(row.get("est_margin_impact_usd"))
        revenue = _number(row.get("revenue_90d_usd_touched"))
        if impact is not None and impact >= 0:
            severity = "info"
        else:
            severity = "critical" if days <= thresholds.policy_critical_days else "warning"
        effective = _iso_date(row.get("effective_on"))
        if impact is None:
            impact_text = "margin impact not estimated (a product rule changes compliance, not duty or tax)"
        else:
            impact_text = f"estimated margin impact {_usd(impact)} over 90 days"
        summary = _text(row.get("summary"))
        alerts.append(
            _alert(
                POLICY_CHANGE,
                (event_id, country),
                f"{event_id}/{country}",
                severity,
                f"Policy change in {country}: {kind} effective {effective} (in {days:.0f} days) touches {skus} active "
                f"SKU(s) with {_usd(revenue)} of 90-day revenue; {impact_text}" + (f" - {summary}" if summary else ""),
                {
                    "Market": country,
                    "Kind": kind,
                    "Effective": f"{effective} (in {days:.0f} days)",
                    "SKUs touched": str(skus),
                    "90-day revenue touched": _usd(revenue),
                    "Est. margin impact (90 days)": _usd(impact) if impact is not None else "not estimated",
                    "HS scope": _text(row.get("hs_scope")) or "all goods",
                    "New rate": f"{_number(row.get('new_rate_pct')):g}%"
                    if _number(row.get("new_rate_pct")) is not None
                    else None,
                },
                {
                    "event_id": event_id,
                    "destination_country": country,
                    "kind": kind,
                    "hs_scope": _text(row.get("hs_scope")),
                    "summary": summary,
                    "new_rate_pct": _number(row.get("new_rate_pct")),
                    "announced_on": _iso_date(row.get("announced_on")),
                    "effective_on": effective,
                    "as_of_date": _iso_date(row.get("as_of_date")),
                    "days_until_effective": int(days),
                    "skus_touched": skus,
                    "units_90d_touched": _int(row.get("units_90d_touched")) if "units_90d_touched" in row else None,
                    "revenue_90d_usd_touched": revenue,
                    "est_margin_impact_usd": impact,
                    "window_days": thresholds.policy_window_days,
                },
            )
        )
    return RuleResult(_sorted(alerts), judged=len(events))


# ---------------------------------------------------------------- stock-out risk


def forecast_demand(
    forecast: pd.DataFrame | None, as_of: dt.date, lead_days: int
) -> tuple[float, str, str | None, str | None] | None:
    """Forecast units over the ``lead_days`` after ``as_of`` for one series: (units, source, note, model).

    None when the forecast has no day in that window. When it covers only part of the lead
    time, the rest is taken at its mean daily rate, and the note says so.
    """
    if forecast is None or forecast.empty:
        return None
    dates = pd.to_datetime(forecast["forecast_date"]).dt.date
    window = forecast[(dates > as_of) & (dates <= as_of + dt.timedelta(days=lead_days))]
    if window.empty:
        return None
    covered = int(pd.to_datetime(window["forecast_date"]).dt.date.nunique())
    units = float(pd.to_numeric(window["yhat_units"], errors="coerce").fillna(0).sum())
    note = None
    if covered < lead_days:
        units += units / covered * (lead_days - covered)
        note = f"the forecast covers {covered} of the {lead_days} lead-time days; the rest at its mean daily rate"
    model = _text(window["model"].iloc[0]) if "model" in window else None
    return units, "forecast", note, model


def _quiet_run_rate_rows(inventory: pd.DataFrame, forecast_series: set[tuple[str, str]]) -> pd.Series:
    """Rows of ``inventory`` that :func:`evaluate_stockout_risk` judges on the 28-day run rate and
    finds covered (no alert), decided for all rows at once: the per-row path then sees only the
    rest (a few thousand of ~45k at SF 10: 0.6 s less a night). Conservative: any row with a
    forecast series, a missing or non-finite input, or that might alert goes the per-row way.
    """
    needed = ("sku", "destination_country", "replenishment_lead_time_days", "as_of_date", "avg_daily_units_28d")
    if inventory.empty or any(c not in inventory for c in needed):
        return pd.Series(False, index=inventory.index)

    def numbers(column: str) -> np.ndarray:
        if column not in inventory:
            return np.full(len(inventory), np.nan)
        return pd.to_numeric(inventory[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    lead, rate = numbers("replenishment_lead_time_days"), numbers("avg_daily_units_28d")
    on_hand, inbound = numbers("on_hand_units"), numbers("inbound_units")
    units = np.where(np.isfinite(on_hand), np.round(on_hand), 0) + np.where(np.isfinite(inbound), np.round(inbound), 0)
    with np.errstate(invalid="ignore"):
        demand = rate * np.round(lead)
        alerting = (demand > units) & (demand > 0)
    has_forecast = np.fromiter(
        (
            (str(sku), str(country)) in forecast_series
            for sku, country in zip(inventory["sku"], inventory["destination_country"], strict=True)
        ),
        dtype=bool,
        count=len(inventory),
    )
    as_of = pd.to_datetime(inventory["as_of_date"], errors="coerce").notna().to_numpy()
    quiet = np.isfinite(lead) & (lead > 0) & np.isfinite(rate) & as_of & ~has_forecast & ~alerting
    return pd.Series(quiet, index=inventory.index)


def evaluate_stockout_risk(
    inventory: pd.DataFrame, forecast: pd.DataFrame | None, thresholds: Thresholds
) -> RuleResult:
    """SKU x markets whose demand over the replenishment lead time exceeds on-hand plus inbound units.

    Demand comes from ``forecast.demand_forecast`` (the days after the inventory's as-of date,
    up to the lead time); for a SKU x market without a forecast (only the top series have
    one) it is the 28-day average daily units times the lead time, and the payload says
    which was used. Critical when stock covers less than ``stockout_critical_coverage`` of
    that demand. ``inventory`` has the columns of ``marts.inventory_position``.
    """
    by_series: dict[tuple[str, str], pd.DataFrame] = {}
    if forecast is not None and not forecast.empty:
        by_series = {(str(k[0]), str(k[1])): g for k, g in forecast.groupby(["sku", "destination_country"])}
    alerts, unjudged, fallback = [], set(), 0
    quiet = _quiet_run_rate_rows(inventory, set(by_series))
    fallback += int(quiet.sum())
    for row in inventory[~quiet].to_dict("records"):
        sku, country = str(row["sku"]), str(row["destination_country"])
        key = dedup_key(STOCKOUT_RISK, sku, country)
        lead = _number(row.get("replenishment_lead_time_days"))
        as_of = pd.Timestamp(row["as_of_date"]).date() if _iso_date(row.get("as_of_date")) else None
        if lead is None or lead <= 0 or as_of is None:
            unjudged.add(key)
            continue
        lead_days = int(round(lead))
        found = forecast_demand(by_series.get((sku, country)), as_of, lead_days)
        if found is None:
            rate = _number(row.get("avg_daily_units_28d"))
            if rate is None:
                unjudged.add(key)
                continue
            fallback += 1
            why = (
                "no demand forecast for this SKU x market"
                if (sku, country) not in by_series
                else ("the demand forecast does not cover the days after the inventory as-of date")
            )
            found = (rate * lead_days, "run_rate_28d", f"{why}: 28-day average daily units x lead time", None)
        demand, source, note, model = found
        on_hand, inbound = _int(row.get("on_hand_units")), _int(row.get("inbound_units"))
        available = on_hand + inbound
        if not (demand > available and demand > 0):
            continue
        severity = "critical" if available < thresholds.stockout_critical_coverage * demand else "warning"
        daily = demand / lead_days
        cover_days = available / daily if daily > 0 else None
        stockout_on = (
            (as_of + dt.timedelta(days=math.floor(cover_days))).isoformat() if cover_days is not None else None
        )
        shortfall = demand - available
        if source == "forecast":
            source_text = f"{model} forecast" if model else "forecast"
        else:
            source_text = "28-day run rate, no forecast"
        alerts.append(
            _alert(
                STOCKOUT_RISK,
                (sku, country),
                f"{sku}/{country}",
                severity,
                f"Stock-out risk {sku} in {country}: {demand:.1f} units expected over the {lead_days}-day lead time "
                f"({source_text}) vs {available} on hand and inbound; short {math.ceil(shortfall)} unit(s), "
                f"out around {stockout_on}",
                {
                    "SKU / market": f"{sku} / {country}",
                    "Demand over lead time": f"{demand:.1f} units in {lead_days} days",
                    "Demand source": source_text,
                    "On hand + inbound": f"{on_hand} + {inbound} = {available}",
                    "Shortfall": f"{math.ceil(shortfall)} unit(s)",
                    "Expected stock-out": stockout_on,
                    "Days of cover": f"{cover_days:.1f}" if cover_days is not None else None,
                },
                {
                    "sku": sku,
                    "destination_country": country,
                    "as_of_date": as_of.isoformat(),
                    "on_hand_units": on_hand,
                    "inbound_units": inbound,
                    "available_units": available,
                    "replenishment_lead_time_days": lead_days,
                    "demand_over_lead_time_units": round(demand, 2),
                    "demand_source": source,
                    "demand_note": note,
                    "forecast_model": model,
                    "avg_daily_units_28d": _number(row.get("avg_daily_units_28d")),
                    "shortfall_units": round(shortfall, 2),
                    "coverage_ratio": round(available / demand, 3),
                    "days_of_cover": round(cover_days, 1) if cover_days is not None else None,
                    "expected_stockout_date": stockout_on,
                },
            )
        )
    result = RuleResult(_sorted(alerts), unjudged=unjudged, judged=len(inventory) - len(unjudged))
    if fallback:
        result.notes.append(f"{fallback} SKU x market(s) without a usable forecast: demand at the 28-day run rate")
    if unjudged:
        result.notes.append(f"{len(unjudged)} SKU x market(s) without a lead time or demand: not judged")
    return result


def evaluate_demand_surges(traffic: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """SKU x markets whose add-to-cart rate was above ``add_to_cart_surge_rate`` (0.40) for
    ``add_to_cart_surge_days`` (7) consecutive days up to the latest traffic day.

    A day without traffic breaks the streak. ``traffic`` has the columns of
    ``marts.traffic_sku_market_daily`` (rates as fractions); the rule needs at least the
    last ``add_to_cart_surge_days`` days of it.
    """
    if traffic.empty:
        return RuleResult([])
    frame = traffic.copy()
    frame["traffic_date"] = pd.to_datetime(frame["traffic_date"]).dt.normalize()
    if "add_to_cart_rate" in frame:
        rate = pd.to_numeric(frame["add_to_cart_rate"], errors="coerce")
    else:
        rate = pd.to_numeric(frame["add_to_cart"], errors="coerce") / pd.to_numeric(frame["sessions"], errors="coerce")
    frame["_rate"] = rate
    latest = frame["traffic_date"].max()
    frame["_back"] = (latest - frame["traffic_date"]).dt.days
    surging = frame[frame["_rate"] > thresholds.add_to_cart_surge_rate].sort_values(
        ["sku", "destination_country", "_back"]
    )
    # A streak ending on the latest day: surge days 0, 1, 2, ... back without a gap.
    surging = surging.assign(_rank=surging.groupby(["sku", "destination_country"]).cumcount())
    streak_rows = surging[surging["_back"] == surging["_rank"]]
    alerts = []
    for (sku, country), days in streak_rows.groupby(["sku", "destination_country"], sort=True):
        streak = len(days)
        if streak < thresholds.add_to_cart_surge_days:
            continue
        sessions = pd.to_numeric(days["sessions"], errors="coerce") if "sessions" in days else None
        carts = pd.to_numeric(days["add_to_cart"], errors="coerce") if "add_to_cart" in days else None
        pooled = (
            float(carts.sum() / sessions.sum())
            if sessions is not None and carts is not None and sessions.sum() > 0
            else None
        )
        since = days["traffic_date"].min().date().isoformat()
        alerts.append(
            _alert(
                DEMAND_SURGE,
                (sku, country),
                f"{sku}/{country}",
                "warning",
                f"Demand surge {sku} in {country}: add-to-cart rate above {thresholds.add_to_cart_surge_rate:.0%} "
                f"for {streak} consecutive days (since {since}; {pooled:.0%} pooled) - check stock and inbound"
                if pooled is not None
                else f"Demand surge {sku} in {country}: add-to-cart rate above "
                f"{thresholds.add_to_cart_surge_rate:.0%} for {streak} consecutive days (since {since})",
                {
                    "SKU / market": f"{sku} / {country}",
                    "Streak": f"{streak} days since {since}",
                    "Add-to-cart rate": f"{pooled:.0%} pooled, lowest day {days['_rate'].min():.0%}"
                    if pooled is not None
                    else None,
                    "Sessions in streak": f"{int(sessions.sum())}" if sessions is not None else None,
                    "Threshold": f"> {thresholds.add_to_cart_surge_rate:.0%} for {thresholds.add_to_cart_surge_days} days",
                },
                {
                    "sku": str(sku),
                    "destination_country": str(country),
                    "latest_traffic_date": latest.date().isoformat(),
                    "streak_days": streak,
                    "streak_start": since,
                    "add_to_cart_rate_pooled": round(pooled, 4) if pooled is not None else None,
                    "add_to_cart_rate_min": round(float(days["_rate"].min()), 4),
                    "sessions": int(sessions.sum()) if sessions is not None else None,
                    "add_to_cart": int(carts.sum()) if carts is not None else None,
                    "threshold_rate": thresholds.add_to_cart_surge_rate,
                    "threshold_days": thresholds.add_to_cart_surge_days,
                },
            )
        )
    judged = int(frame[["sku", "destination_country"]].drop_duplicates().shape[0])
    return RuleResult(_sorted(alerts), judged=judged)


# ---------------------------------------------------------------- service degradation


def _service_windows(service: pd.DataFrame) -> tuple[pd.DataFrame, pd.Timestamp]:
    frame = service.copy()
    frame["ticket_date"] = pd.to_datetime(frame["ticket_date"]).dt.normalize()
    latest = frame["ticket_date"].max()
    frame["_window"] = ((latest - frame["ticket_date"]).dt.days // SERVICE_WINDOW_DAYS).astype(int)
    for column in ("tickets", "answered_tickets", "sla_breaches", "rated_tickets"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0)
    return frame, latest


def _weighted(values: pd.Series, weights: pd.Series) -> float | None:
    values, weights = pd.to_numeric(values, errors="coerce"), pd.to_numeric(weights, errors="coerce").fillna(0)
    mask = values.notna() & (weights > 0)
    if not mask.any():
        return None
    return float((values[mask] * weights[mask]).sum() / weights[mask].sum())


def evaluate_first_response(service: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Markets whose first-response p90 over the last 7 days is above ``first_response_sla_hours``.

    The p90 is above the SLA exactly when more than 10% of the tickets waited longer than
    the SLA; that share adds up across days and channels (daily percentiles do not) and it
    counts the tickets still unanswered past the SLA, which a percentile over answered
    tickets leaves out. So the rule reads the mart's ``sla_breaches`` (computed with the same
    SLA, passed to dbt from the settings) over ``tickets``, per market; the answered-weighted
    mean of the daily p90s is shown beside it. Critical when the breach share reaches
    ``first_response_critical_breach_share`` (0.5: the median buyer waits longer than the SLA).
    Markets with fewer than ``service_min_tickets`` tickets in the window are not judged.
    """
    if service.empty:
        return RuleResult([])
    frame, latest = _service_windows(service)
    week = frame[frame["_window"] == 0]
    start = (latest - pd.Timedelta(days=SERVICE_WINDOW_DAYS - 1)).date().isoformat()
    alerts, unjudged = [], set()
    markets = sorted(frame["destination_country"].astype(str).unique())
    for country in markets:
        rows = week[week["destination_country"].astype(str) == country]
        key = dedup_key(SERVICE_FIRST_RESPONSE, country)
        tickets = int(rows["tickets"].sum())
        if tickets < thresholds.service_min_tickets:
            unjudged.add(key)
            continue
        breaches = int(rows["sla_breaches"].sum())
        share = breaches / tickets
        if share <= 0.10:
            continue
        severity = "critical" if share >= thresholds.first_response_critical_breach_share else "warning"
        p90 = _weighted(rows["first_response_p90_hours"], rows["answered_tickets"])
        channels = []
        for channel, g in rows.groupby("channel", sort=True):
            t = int(g["tickets"].sum())
            channels.append(
                {
                    "channel": str(channel),
                    "tickets": t,
                    "sla_breaches": int(g["sla_breaches"].sum()),
                    "breach_share": round(float(g["sla_breaches"].sum()) / t, 4) if t else None,
                    "first_response_p90_hours_mean": _weighted(g["first_response_p90_hours"], g["answered_tickets"]),
                }
            )
        worst = max(channels, key=lambda c: c["breach_share"] or 0)
        sla = thresholds.first_response_sla_hours
        alerts.append(
            _alert(
                SERVICE_FIRST_RESPONSE,
                (country,),
                country,
                severity,
                f"First response over SLA in {country}: {share:.0%} of {tickets} tickets since {start} waited more "
                f"than {sla:g}h (p90 over SLA when above 10%); worst channel {worst['channel']} "
                f"({worst['breach_share'] or 0:.0%})",
                {
                    "Market": country,
                    "Window": f"{start}..{latest.date().isoformat()}",
                    "Tickets over SLA": f"{breaches} of {tickets} ({share:.0%})",
                    "p90 first response (daily, weighted)": f"{p90:.1f}h" if p90 is not None else "n/a",
                    "SLA": f"{sla:g}h",
                    "Worst channel": f"{worst['channel']} ({worst['breach_share'] or 0:.0%} over SLA)",
                },
                {
                    "destination_country": country,
                    "window_start": start,
                    "window_end": latest.date().isoformat(),
                    "tickets": tickets,
                    "sla_breaches": breaches,
                    "breach_share": round(share, 4),
                    "first_response_p90_hours_mean": round(p90, 2) if p90 is not None else None,
                    "sla_hours": sla,
                    "channels": channels,
                },
            )
        )
    result = RuleResult(_sorted(alerts), unjudged=unjudged, judged=len(markets) - len(unjudged))
    if unjudged:
        result.notes.append(
            f"{len(unjudged)} market(s) with fewer than {thresholds.service_min_tickets} tickets in the last "
            f"{SERVICE_WINDOW_DAYS} days: first response not judged"
        )
    return result


def evaluate_csat_drops(service: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Markets whose share of satisfied buyers fell ``csat_drop_points`` (10) points or more week over week.

    CSAT here is ``csat_satisfied_pct`` (rated tickets with CSAT >= 4, 0-100: "points" are
    percentage points), weighted by rated tickets over the last 7 days against the 7 before.
    Critical from ``csat_drop_critical_points``. A market needs ``service_min_tickets`` rated
    tickets in both weeks to be judged.
    """
    if service.empty:
        return RuleResult([])
    frame, latest = _service_windows(service)
    alerts, unjudged = [], set()
    markets = sorted(frame["destination_country"].astype(str).unique())
    for country in markets:
        rows = frame[frame["destination_country"].astype(str) == country]
        key = dedup_key(SERVICE_CSAT_DROP, country)
        this, last = rows[rows["_window"] == 0], rows[rows["_window"] == 1]
        rated_now, rated_before = int(this["rated_tickets"].sum()), int(last["rated_tickets"].sum())
        if min(rated_now, rated_before) < thresholds.service_min_tickets:
            unjudged.add(key)
            continue
        now = _weighted(this["csat_satisfied_pct"], this["rated_tickets"])
        before = _weighted(last["csat_satisfied_pct"], last["rated_tickets"])
        if now is None or before is None:
            unjudged.add(key)
            continue
        drop = before - now
        if drop < thresholds.csat_drop_points:
            continue
        severity = "critical" if drop >= thresholds.csat_drop_critical_points else "warning"
        has_avg = "csat_avg" in rows
        avg_now = _weighted(this["csat_avg"], this["rated_tickets"]) if has_avg else None
        avg_before = _weighted(last["csat_avg"], last["rated_tickets"]) if has_avg else None
        end = latest.date()
        alerts.append(
            _alert(
                SERVICE_CSAT_DROP,
                (country,),
                country,
                severity,
                f"CSAT drop in {country}: {now:.0f}% satisfied in the 7 days to {end} vs {before:.0f}% the week "
                f"before (-{drop:.0f} points, {rated_now} and {rated_before} rated tickets)",
                {
                    "Market": country,
                    "Satisfied (CSAT >= 4)": f"{now:.0f}% vs {before:.0f}% ({-drop:+.0f} points)",
                    "CSAT average": f"{avg_now:.2f} vs {avg_before:.2f}" if avg_now and avg_before else None,
                    "Rated tickets": f"{rated_now} vs {rated_before}",
                    "Threshold": f"-{thresholds.csat_drop_points:g} points (critical -{thresholds.csat_drop_critical_points:g})",
                },
                {
                    "destination_country": country,
                    "week_end": end.isoformat(),
                    "csat_satisfied_pct": round(now, 2),
                    "csat_satisfied_pct_prev_week": round(before, 2),
                    "drop_points": round(drop, 2),
                    "csat_avg": round(avg_now, 3) if avg_now is not None else None,
                    "csat_avg_prev_week": round(avg_before, 3) if avg_before is not None else None,
                    "rated_tickets": rated_now,
                    "rated_tickets_prev_week": rated_before,
                },
            )
        )
    result = RuleResult(_sorted(alerts), unjudged=unjudged, judged=len(markets) - len(unjudged))
    if unjudged:
        result.notes.append(
            f"{len(unjudged)} market(s) with fewer than {thresholds.service_min_tickets} rated tickets in one of the "
            "two weeks: CSAT not judged"
        )
    return result


def evaluate_return_rates(selection: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """SKU x markets whose 90-day return rate is above ``return_rate_multiple`` (2) times their category's.

    The category's rate is units-weighted over every SKU x market of the category (returned
    units / units of the 90-day order cohort, as in ``marts.selection_sku_market``). A SKU x
    market with fewer than ``return_rate_min_units`` units is not judged: three returns of
    five units say little.
    """
    if selection.empty:
        return RuleResult([])
    frame = selection.copy()
    frame["_units"] = pd.to_numeric(frame["units_90d"], errors="coerce").fillna(0)
    rate = pd.to_numeric(frame["return_rate_pct"], errors="coerce")
    if "returned_units_90d" in frame:
        frame["_returned"] = pd.to_numeric(frame["returned_units_90d"], errors="coerce")
        frame["_returned"] = frame["_returned"].fillna((rate * frame["_units"] / 100).round())
    else:
        frame["_returned"] = (rate * frame["_units"] / 100).round()
    frame["_rate"] = rate
    category = frame.groupby("category").agg(units=("_units", "sum"), returned=("_returned", "sum"))
    category["rate_pct"] = 100 * category["returned"] / category["units"].where(category["units"] > 0)
    # Judged and above the multiple, decided on whole columns: the mart has a row per SKU x
    # market (hundreds of thousands), of which a handful alert; only those become dicts.
    finite_rate = rate.where(np.isfinite(rate.astype("float64")))
    judged = (frame["_units"] >= thresholds.return_rate_min_units) & finite_rate.notna()
    unjudged = {
        dedup_key(SERVICE_RETURN_RATE, str(sku), str(country))
        for sku, country in zip(frame.loc[~judged, "sku"], frame.loc[~judged, "destination_country"], strict=True)
    }
    cat_rates = frame["category"].map(category["rate_pct"]).astype("float64")
    above = (
        judged & (cat_rates != 0) & np.isfinite(cat_rates) & (finite_rate > thresholds.return_rate_multiple * cat_rates)
    )
    frame["_cat_rate"] = cat_rates
    alerts = []
    for row in frame[above].to_dict("records"):  # finite rates, category rate finite and not 0
        sku, country = str(row["sku"]), str(row["destination_country"])
        sku_rate, cat_rate, cat_name = float(row["_rate"]), float(row["_cat_rate"]), row["category"]
        multiple = sku_rate / cat_rate
        reason = _text(row.get("top_return_reason"))
        alerts.append(
            _alert(
                SERVICE_RETURN_RATE,
                (sku, country),
                f"{sku}/{country}",
                "warning",
                f"Return rate {sku} in {country}: {sku_rate:.1f}% of 90-day units returned, {multiple:.2f}x its "
                f"category {cat_name} ({cat_rate:.1f}%)" + (f"; top reason {reason}" if reason else ""),
                {
                    "SKU / market": f"{sku} / {country}",
                    "Return rate (90 days)": f"{sku_rate:.1f}% ({int(row['_returned'])} of {int(row['_units'])} units)",
                    "Category rate": f"{cat_rate:.1f}% ({cat_name})",
                    "Multiple": f"{multiple:.2f}x (threshold {thresholds.return_rate_multiple:g}x)",
                    "Top return reason": reason,
                },
                {
                    "sku": sku,
                    "destination_country": country,
                    "category": _text(cat_name),
                    "units_90d": int(row["_units"]),
                    "returned_units_90d": int(row["_returned"]),
                    "return_rate_pct": round(sku_rate, 4),
                    "category_return_rate_pct": round(cat_rate, 4),
                    "multiple_of_category": round(multiple, 3),
                    "top_return_reason": reason,
                    "threshold_multiple": thresholds.return_rate_multiple,
                },
            )
        )
    result = RuleResult(_sorted(alerts), unjudged=unjudged, judged=len(frame) - len(unjudged))
    if unjudged:
        result.notes.append(
            f"{len(unjudged)} SKU x market(s) under {thresholds.return_rate_min_units} units in 90 days: "
            "return rate not judged"
        )
    return result


# ---------------------------------------------------------------- supplier concentration


def evaluate_supplier_concentration(concentration: pd.DataFrame, thresholds: Thresholds) -> RuleResult:
    """Categories where one supplier has more than ``supplier_concentration_share`` (80%) of the 90-day units.

    ``concentration`` has the columns of ``marts.risk_supplier_concentration`` (one row per
    category and supplier; ``unit_share_pct`` in percent). One alert per category and
    supplier: if another supplier takes over the category, that is a new condition.
    """
    alerts = []
    limit = 100 * thresholds.supplier_concentration_share
    for row in concentration.to_dict("records"):
        share = _number(row.get("unit_share_pct"))
        if share is None or share <= limit:
            continue
        category, supplier = str(row["category"]), str(row["supplier_id"])
        suppliers = _int(row.get("category_suppliers")) if _number(row.get("category_suppliers")) else None
        country = _text(row.get("supplier_country"))
        tier = _text(row.get("supplier_country_risk_tier"))
        hhi = _number(row.get("category_hhi"))
        sole = suppliers == 1
        alerts.append(
            _alert(
                SUPPLIER_CONCENTRATION,
                (category, supplier),
                f"{category}/{supplier}",
                "warning",
                f"Supplier concentration in {category}: {supplier}"
                + (f" ({country}, {tier} risk)" if country else "")
                + f" supplies {share:.0f}% of the category's 90-day units"
                + (" - the only supplier" if sole else f" (threshold {limit:.0f}%)"),
                {
                    "Category": category,
                    "Supplier": supplier + (f" ({country})" if country else ""),
                    "Unit share (90 days)": f"{share:.1f}%"
                    + (
                        f" of {_int(row.get('category_units_90d'))} units"
                        if _number(row.get("category_units_90d"))
                        else ""
                    ),
                    "Suppliers in category": str(suppliers) if suppliers is not None else None,
                    "HHI": f"{hhi:,.0f}" if hhi is not None else None,
                    "Supplier country risk": tier,
                },
                {
                    "category": category,
                    "supplier_id": supplier,
                    "supplier_country": country,
                    "supplier_country_risk_tier": tier,
                    "unit_share_pct": share,
                    "units_90d": _int(row.get("units_90d")) if "units_90d" in row else None,
                    "category_units_90d": _int(row.get("category_units_90d")) if "category_units_90d" in row else None,
                    "category_suppliers": suppliers,
                    "category_hhi": hhi,
                    "skus": _int(row.get("skus")) if "skus" in row else None,
                    "threshold_share": thresholds.supplier_concentration_share,
                },
            )
        )
    return RuleResult(_sorted(alerts), judged=len(concentration))
