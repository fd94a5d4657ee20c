"""Alert rules: pure functions from mart rows and thresholds to alert dicts.

The rules recompute their conditions from the measured columns instead of trusting flags
that the marts may also carry, so that they can be tested on their own and always follow
the thresholds in the settings.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from orchestration.lib.settings import Thresholds

FREIGHT_SPIKE = "freight_spike"


def _number(value: Any) -> float | None:
    """A finite float, or None for NULL / NaN / infinity (a z-score over a flat series is undefined)."""
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _iso_date(value: Any) -> str:
    return pd.Timestamp(value).date().isoformat()


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

    Only the latest ``rate_week`` of each lane and mode is judged (older rows in the frame
    are ignored), so the caller may pass the latest week or a longer window. The dedup key
    carries the week: a spike that persists into the next week is a new condition and
    alerts again, while a re-run of the same night does not.
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
        alerts.append(
            {
                "dedup_key": f"{FREIGHT_SPIKE}:{lane_id}:{mode}:{week}",
                "rule": FREIGHT_SPIKE,
                "entity": f"{lane_id}/{mode}",
                "severity": severity,
                "title": f"Freight spike {origin}->{destination} {mode} ({lane_id}), week of {week}: "
                + "; ".join(reasons),
                "payload": {
                    "lane_id": lane_id,
                    "mode": mode,
                    "origin_country": origin,
                    "destination_country": destination,
                    "rate_week": week,
                    "rate_usd": rate,
                    "rate_unit": row.get("rate_unit"),
                    "prev_week_rate_usd": _number(row.get("prev_week_rate_usd")),
                    "wow_change_pct": wow,
                    "change_4w_pct": _number(row.get("change_4w_pct")),
                    "zscore_12w": zscore,
                    "mean_12w_usd": _number(row.get("mean_12w_usd")),
                    "transit_days": _number(row.get("transit_days")),
                    "risk_tier": row.get("risk_tier"),
                    "reasons": reasons,
                },
            }
        )
    alerts.sort(key=lambda a: (a["severity"] != "critical", a["entity"]))
    return alerts
