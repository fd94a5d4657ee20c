"""Alert assets: evaluate a rule on a mart, remember what was seen, deliver what is new."""

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.alerts.notifiers import DeliveryResult, notify, utc_now
from orchestration.defs.alerts.rules import detect_freight_spikes
from orchestration.defs.alerts.store import (
    DELIVERED,
    DELIVERY_FAILED,
    FINAL_STATUSES,
    UNROUTED,
    record_alerts,
    set_statuses,
)
from orchestration.lib.settings import Settings, get_settings
from orchestration.lib.warehouse import WarehouseResource

RISK_LANE_MART = "marts.risk_lane_weekly"


def read_latest_lane_week(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of the latest ``rate_week`` in the lane mart: a lane that stopped reporting is not re-judged."""
    return conn.execute(
        f"SELECT * FROM {RISK_LANE_MART} WHERE rate_week = (SELECT max(rate_week) FROM {RISK_LANE_MART})"
    ).df()


def mart_flag_disagreements(rows: pd.DataFrame, alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lane-weeks where the mart's own ``is_spike`` / ``spike_severity`` differ from the rule.

    They can differ when the thresholds in the settings are not the ones the dbt model was
    built with, or where the mart treats a missing previous week or z-score differently.
    The rule wins (it reads the settings); the differences are reported, not hidden.
    """
    if rows.empty or "is_spike" not in rows.columns:
        return []
    ours = {a["entity"]: a["severity"] for a in alerts}
    out = []
    for row in rows.to_dict("records"):
        entity = f"{row['lane_id']}/{row['mode']}"
        mart_spike = bool(row["is_spike"]) if pd.notna(row["is_spike"]) else False
        mart_severity = row.get("spike_severity") if mart_spike else None
        mart_severity = mart_severity if isinstance(mart_severity, str) else None
        if mart_spike != (entity in ours) or (mart_spike and mart_severity != ours.get(entity)):
            out.append(f"{entity}: mart {mart_severity or 'no spike'}, rule {ours.get(entity) or 'no spike'}")
    return out


def deliver_new(
    alerts: Sequence[Mapping[str, Any]], previous: Mapping[str, str | None], settings: Settings
) -> tuple[dict[str, str], dict[str, list[DeliveryResult]]]:
    """Deliver alerts whose condition is new, or was seen before but never delivered.

    Returns the new status per delivered key and the delivery results per key.
    """
    statuses: dict[str, str] = {}
    results: dict[str, list[DeliveryResult]] = {}
    for alert in alerts:
        key = str(alert["dedup_key"])
        if previous.get(key) in FINAL_STATUSES:
            continue
        delivered = notify(alert, settings)
        results[key] = delivered
        if not delivered:
            statuses[key] = UNROUTED
        elif all(r.ok for r in delivered):
            statuses[key] = DELIVERED
        else:
            statuses[key] = DELIVERY_FAILED
    return statuses, results


@dg.asset(
    key=dg.AssetKey(["alerts", "freight_spike_alerts"]),
    group_name="alerts",
    deps=[dg.AssetKey(["marts", "risk_lane_weekly"])],
    kinds={"python", "duckdb"},
    description=(
        "Freight-spike alerts for the latest rate week: a lane up >= 25% week over week or at a z-score >= 3 "
        "vs its trailing 12 weeks (critical at >= 100%). Persisted in alerts.alert_events; a condition is "
        "delivered once, while it persists it only updates last_seen_at."
    ),
)
def freight_spike_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Detect, record and deliver freight spikes; fail the step if a delivery failed so on-call hears of it."""
    settings = get_settings()
    seen_at = utc_now()
    link = f"{settings.webserver_base_url.rstrip('/')}/runs/{context.run_id}"
    with warehouse.connect() as conn:
        rows = read_latest_lane_week(conn)
        alerts = [
            {**a, "detected_at": seen_at.isoformat(), "link": link}
            for a in detect_freight_spikes(rows, settings.thresholds)
        ]
        disagreements = mart_flag_disagreements(rows, alerts)
        previous = record_alerts(conn, alerts, seen_at)
        statuses, results = deliver_new(alerts, previous, settings)
        set_statuses(conn, statuses)

    week = str(pd.Timestamp(rows["rate_week"].max()).date()) if not rows.empty else "none"
    new = [k for k, status in previous.items() if status is None]
    failed = {k: [r for r in res if not r.ok] for k, res in results.items() if any(not r.ok for r in res)}
    context.log.info(
        f"rate week {week}: {len(rows)} lanes, {len(alerts)} spikes ({len(new)} new), "
        f"{sum(s == DELIVERED for s in statuses.values())} delivered"
    )
    if disagreements:
        context.log.warning(
            f"{len(disagreements)} lane(s) where the mart's is_spike/spike_severity differ from the configured "
            f"thresholds: {'; '.join(disagreements[:10])}"
        )
    metadata: dict[str, Any] = {
        "rate_week": dg.MetadataValue.text(week),
        "lanes_evaluated": dg.MetadataValue.int(len(rows)),
        "alerts_found": dg.MetadataValue.int(len(alerts)),
        "new": dg.MetadataValue.int(len(new)),
        "delivered": dg.MetadataValue.int(sum(s == DELIVERED for s in statuses.values())),
        "delivery_failed": dg.MetadataValue.int(len(failed)),
        "by_severity": dg.MetadataValue.json(dict(Counter(a["severity"] for a in alerts))),
        "mart_flag_disagreements": dg.MetadataValue.int(len(disagreements)),
    }
    if failed:
        details = "; ".join(f"{k}: " + ", ".join(f"{r.channel} ({r.detail})" for r in res) for k, res in failed.items())
        raise dg.Failure(
            description=f"{len(failed)} alert(s) could not be delivered and will be retried next run: {details}",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
