"""Alert assets: one per rule family, each reading only the marts its rules need.

Every asset depends on the tables it reads, so the quality gates of those tables (blocking
asset checks) stop it, and only it, when they fail. A run of an asset reads its inputs,
evaluates its rules (:mod:`.rules`), records the episodes and queues the messages
(:mod:`.lifecycle`), and sends what is unsent, including what earlier runs failed to send.
The step fails when a message could not be delivered, after everything else is recorded,
so that on-call hears of it; the message is sent again by the next run.

A table an asset needs that does not exist yet (a mart not built) or has no rows does not
fail the asset: it says so in its log and metadata, judges nothing (so nothing is resolved
by mistake: an empty mart is no evidence that conditions ended) and still retries earlier
deliveries. The demand forecast is optional: without it stock-out risk uses run rates.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.alerts import rules as r
from orchestration.defs.alerts.lifecycle import RuleRunSummary, process_rule_run
from orchestration.defs.alerts.notifiers import utc_now, validate_routing
from orchestration.defs.alerts.store import ALERT_EVENTS, ALERT_EVENTS_COLUMNS
from orchestration.lib.catalog import OWNERS, WAREHOUSE_POOL, column_schema_metadata, daily_product_freshness
from orchestration.lib.frames import fetch_frame
from orchestration.lib.settings import Settings, Thresholds, get_settings
from orchestration.lib.warehouse import WarehouseResource

RISK_LANE_MART = "marts.risk_lane_weekly"
#: Days of traffic the demand-surge rule reads (the streak it reports can be this long).
SURGE_READ_DAYS = 60


@dataclass(frozen=True)
class AlertInput:
    """A table an alert asset reads. ``sql`` selects from it (``{table}`` is replaced, ``{t.<name>}`` by
    the thresholds of the settings); default: every row."""

    table: str
    sql: str | None = None
    required: bool = True

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.split("."))

    def query(self, thresholds: Thresholds | None = None) -> str:
        return (self.sql or "SELECT * FROM {table}").format(table=self.table, t=thresholds)


Frames = Mapping[str, pd.DataFrame | None]


@dataclass(frozen=True)
class AlertAssetSpec:
    name: str
    rules: tuple[str, ...]
    inputs: tuple[AlertInput, ...]
    evaluate: Callable[[Frames, Thresholds], r.RuleResult]
    description: str

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["alerts", self.name])

    @property
    def required_tables(self) -> list[str]:
        return [item.table for item in self.inputs if item.required]


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def read_inputs(
    conn: duckdb.DuckDBPyConnection, spec: AlertAssetSpec, thresholds: Thresholds | None = None
) -> tuple[dict[str, pd.DataFrame | None], list[str]]:
    """The frames of the spec's inputs (None for a missing optional table) and the missing required tables."""
    frames: dict[str, pd.DataFrame | None] = {}
    missing = []
    for item in spec.inputs:
        if not table_exists(conn, item.table):
            frames[item.table] = None
            if item.required:
                missing.append(item.table)
            continue
        frames[item.table] = fetch_frame(conn, item.query(thresholds))
    return frames, missing


def combine(*results: r.RuleResult) -> r.RuleResult:
    """Several rules evaluated by one asset, as one result."""
    out = r.RuleResult([])
    for result in results:
        out.alerts.extend(result.alerts)
        out.unjudged |= result.unjudged
        out.judged += result.judged
        out.notes.extend(result.notes)
    return out


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


# ---------------------------------------------------------------- the rule families


def _freight(frames: Frames, t: Thresholds) -> r.RuleResult:
    lanes = frames[RISK_LANE_MART]
    result = r.evaluate_freight_spikes(lanes, t)
    if not lanes.empty:
        latest = lanes[pd.to_datetime(lanes["rate_week"]) == pd.to_datetime(lanes["rate_week"]).max()]
        disagreements = mart_flag_disagreements(latest, result.alerts)
        if disagreements:
            result.notes.append(
                f"{len(disagreements)} lane(s) where the mart's is_spike/spike_severity differ from the configured "
                f"thresholds: {'; '.join(disagreements[:10])}"
            )
    return result


def _stockout(frames: Frames, t: Thresholds) -> r.RuleResult:
    result = r.evaluate_stockout_risk(frames["marts.inventory_position"], frames["forecast.demand_forecast"], t)
    if frames["forecast.demand_forecast"] is None:
        result.notes.append("forecast.demand_forecast does not exist: every SKU x market at the 28-day run rate")
    return result


ALERT_SPECS: tuple[AlertAssetSpec, ...] = (
    AlertAssetSpec(
        name="freight_spike_alerts",
        rules=(r.FREIGHT_SPIKE,),
        inputs=(
            AlertInput(
                RISK_LANE_MART,
                "SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY lane_id, mode ORDER BY rate_week DESC) = 1",
            ),
        ),
        evaluate=_freight,
        description=(
            "Freight spikes on the latest rate week: a lane up >= 25% week over week or at a z-score >= 3 vs its "
            "trailing 12 weeks (critical at >= 100%). One alert per lane and mode while the spike lasts."
        ),
    ),
    AlertAssetSpec(
        name="transit_delay_alerts",
        rules=(r.TRANSIT_DELAY,),
        inputs=(
            # The shipments late in transit, those that arrived late within the look-back, and one row
            # per lane (the lanes judged, their countries): what the rule reads of the ~800k rows at
            # SF 10. Reading them all into pandas took 1.8 s a night; reading every late shipment of
            # the history (~120k at SF 10, nearly all arrived long ago) 1.4 s.
            AlertInput(
                "marts.shipment_transit",
                "SELECT * FROM {table} QUALIFY (delay_hours >= {t.transit_delay_hours} "
                "AND (transit_status IS DISTINCT FROM 'arrived' OR arrived_at >= "
                "(SELECT max(as_of_at) FROM {table}) - INTERVAL {t.transit_delay_lookback_days} DAY)) "
                "OR row_number() OVER (PARTITION BY lane_id, mode ORDER BY shipment_id) = 1 "
                "ORDER BY lane_id, mode, shipment_id",
            ),
        ),
        evaluate=lambda f, t: r.evaluate_transit_delays(f["marts.shipment_transit"], t),
        description=(
            "Transit delays: lanes with a shipment in transit 48h or more past its planned arrival, or arrived that "
            "late in the last 14 days (critical from a week)."
        ),
    ),
    AlertAssetSpec(
        name="policy_change_alerts",
        rules=(r.POLICY_CHANGE,),
        inputs=(AlertInput("marts.risk_policy_events"),),
        evaluate=lambda f, t: r.evaluate_policy_changes(f["marts.risk_policy_events"], t),
        description=(
            "Policy changes: duty, VAT, DST, CBAM and regulatory events effective within 30 days that touch SKUs "
            "sold in the last 90 days, with the revenue touched and the estimated margin impact."
        ),
    ),
    AlertAssetSpec(
        name="stockout_risk_alerts",
        rules=(r.STOCKOUT_RISK,),
        inputs=(
            AlertInput("marts.inventory_position"),
            AlertInput(
                "forecast.demand_forecast",
                "SELECT sku, destination_country, forecast_date, yhat_units, model, trained_through FROM {table}",
                required=False,
            ),
        ),
        evaluate=_stockout,
        description=(
            "Stock-out risk: forecast demand over the replenishment lead time above on-hand plus inbound units "
            "(28-day run rate where a SKU x market has no forecast)."
        ),
    ),
    AlertAssetSpec(
        name="demand_surge_alerts",
        rules=(r.DEMAND_SURGE,),
        inputs=(
            # Of the last SURGE_READ_DAYS days (2.1M rows at SF 10): each SKU x market's latest day (the
            # pairs judged, the latest day) and the days of its streak, the surge days from the latest
            # day back without a gap or a day at or under the rate (counting back from the pair's
            # latest row: the n-th row back must be n days before the latest day, and every row so far
            # above the rate). What the rule reads: 47k rows at SF 10. Every surge day of the window
            # (335k rows) took 1.8 s a night to read and judge, the streaks ~0.6 s.
            # The rows are chosen on the key and the rate alone, then read whole (the window functions
            # carried every column of the 2.1M rows: 0.74-1.08 s against 0.61 s).
            AlertInput(
                "marts.traffic_sku_market_daily",
                "WITH recent AS (SELECT sku, destination_country, traffic_date, "
                "coalesce(add_to_cart_rate > {t.add_to_cart_surge_rate}, false) AS surging FROM {table} "
                f"WHERE traffic_date > (SELECT max(traffic_date) FROM {{table}}) - INTERVAL {SURGE_READ_DAYS} DAY), "
                "chosen AS (SELECT sku, destination_country, traffic_date FROM recent "
                "WINDOW pair AS (PARTITION BY sku, destination_country ORDER BY traffic_date DESC) "
                "QUALIFY row_number() OVER pair = 1 OR ("
                "bool_and(surging) OVER (pair ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
                "AND date_diff('day', traffic_date, (SELECT max(traffic_date) FROM {table})) = row_number() OVER pair - 1)) "
                "SELECT * FROM {table} SEMI JOIN chosen USING (sku, destination_country, traffic_date) "
                f"WHERE traffic_date > (SELECT max(traffic_date) FROM {{table}}) - INTERVAL {SURGE_READ_DAYS} DAY "
                "ORDER BY sku, destination_country, traffic_date",
            ),
        ),
        evaluate=lambda f, t: r.evaluate_demand_surges(f["marts.traffic_sku_market_daily"], t),
        description="Demand surges (stock-out risk): add-to-cart rate above 40% for 7 consecutive days.",
    ),
    AlertAssetSpec(
        name="service_degradation_alerts",
        rules=(r.SERVICE_FIRST_RESPONSE, r.SERVICE_CSAT_DROP),
        inputs=(
            AlertInput(
                "marts.service_market_daily",
                "SELECT * FROM {table} WHERE ticket_date > (SELECT max(ticket_date) FROM {table}) - "
                f"INTERVAL {2 * r.SERVICE_WINDOW_DAYS} DAY",
            ),
        ),
        evaluate=lambda f, t: combine(
            r.evaluate_first_response(f["marts.service_market_daily"], t),
            r.evaluate_csat_drops(f["marts.service_market_daily"], t),
        ),
        description=(
            "Service degradation per market: first-response p90 over the SLA in the last 7 days, satisfied share "
            "(CSAT >= 4) down 10 points or more week over week."
        ),
    ),
    AlertAssetSpec(
        name="return_rate_alerts",
        rules=(r.SERVICE_RETURN_RATE,),
        inputs=(AlertInput("marts.selection_sku_market"),),
        evaluate=lambda f, t: r.evaluate_return_rates(f["marts.selection_sku_market"], t),
        description="Service degradation per SKU x market: 90-day return rate above twice its category's.",
    ),
    AlertAssetSpec(
        name="supplier_concentration_alerts",
        rules=(r.SUPPLIER_CONCENTRATION,),
        inputs=(AlertInput("marts.risk_supplier_concentration"),),
        evaluate=lambda f, t: r.evaluate_supplier_concentration(f["marts.risk_supplier_concentration"], t),
        description="Supplier concentration: one supplier above 80% of a category's 90-day units.",
    ),
)


# ---------------------------------------------------------------- running one asset


def _alerts_table(summary: RuleRunSummary, found: Sequence[Mapping[str, Any]], limit: int = 25) -> str:
    opened = {a["dedup_key"] for a in summary.opened}
    escalated = {a["dedup_key"] for a in summary.escalated}
    lines = ["| severity | state | entity | title |", "| --- | --- | --- | --- |"]
    for alert in found[:limit]:
        key = alert["dedup_key"]
        state = "new" if key in opened else "escalated" if key in escalated else "persisting"
        title = str(alert.get("title", "")).replace("|", "/")
        lines.append(f"| {alert['severity']} | {state} | {alert['entity']} | {title} |")
    if len(found) > limit:
        lines.append(f"| | | | ... and {len(found) - limit} more |")
    return "\n".join(lines) if found else "no alert"


def open_count(conn: duckdb.DuckDBPyConnection, rules: Sequence[str]) -> int:
    if not table_exists(conn, ALERT_EVENTS):
        return 0
    return int(
        conn.execute(
            f"SELECT count(*) FROM {ALERT_EVENTS} WHERE status = 'open' AND rule IN (SELECT unnest(?::VARCHAR[]))",
            [list(rules)],
        ).fetchone()[0]
    )


def run_alert_asset(
    spec: AlertAssetSpec, context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: Settings
) -> dg.MaterializeResult:
    """Read, evaluate, record, deliver; fail the step only after all of that if a delivery failed."""
    validate_routing(settings)  # before anything changes: a misconfiguration is never half-applied
    now = utc_now()
    link = f"{settings.webserver_base_url.rstrip('/')}/runs/{context.run.run_id}"
    with warehouse.connect() as conn:
        frames, missing = read_inputs(conn, spec, settings.thresholds)
        empty = [t for t in spec.required_tables if t not in missing and frames[t] is not None and frames[t].empty]
        result = None if missing or empty else spec.evaluate(frames, settings.thresholds)
        summary = process_rule_run(conn, spec.rules, result, settings, now, context.run.run_id, link)
        still_open = open_count(conn, spec.rules)

    rows_read = {table: (len(frame) if frame is not None else None) for table, frame in frames.items()}
    failed = summary.failed
    metadata: dict[str, Any] = {
        "rules": dg.MetadataValue.text(", ".join(spec.rules)),
        "rows_read": dg.MetadataValue.json(rows_read),
        "delivered": dg.MetadataValue.int(len(summary.delivered)),
        "delivery_failed": dg.MetadataValue.int(len(failed)),
        "retried_deliveries": dg.MetadataValue.int(sum(d.retried for d in summary.deliveries)),
        "open_alerts": dg.MetadataValue.int(still_open),
    }
    if result is None:
        problems = [f"{t} does not exist in the warehouse (not built yet?)" for t in missing]
        problems += [f"{t} has no rows (in the window read)" for t in empty]
        reason = f"skipped: {'; '.join(problems)}; nothing judged, open alerts left as they are"
        context.log.warning(f"{spec.name} {reason}")
        metadata["skipped"] = dg.MetadataValue.text(reason)
        metadata["alerts_found"] = dg.MetadataValue.int(0)
        metadata["new"] = dg.MetadataValue.int(0)
    else:
        found = result.alerts
        metadata.update(
            {
                "judged": dg.MetadataValue.int(result.judged),
                "alerts_found": dg.MetadataValue.int(len(found)),
                "new": dg.MetadataValue.int(len(summary.opened)),
                "escalated": dg.MetadataValue.int(len(summary.escalated)),
                "persisting": dg.MetadataValue.int(len(summary.persisting)),
                "resolved": dg.MetadataValue.int(len(summary.resolved)),
                "unjudged_open": dg.MetadataValue.int(len(summary.unjudged_open)),
                "messages": dg.MetadataValue.int(summary.messages),
                "by_severity": dg.MetadataValue.json(dict(Counter(a["severity"] for a in found))),
                "alerts": dg.MetadataValue.md(_alerts_table(summary, found)),
            }
        )
        if spec.name == "freight_spike_alerts":
            metadata["mart_flag_disagreements"] = dg.MetadataValue.int(
                sum(int(n.split()[0]) for n in result.notes if "is_spike/spike_severity" in n)
            )
        if result.notes:
            metadata["notes"] = dg.MetadataValue.text("\n".join(result.notes))
        context.log.info(
            f"{', '.join(spec.rules)}: judged {result.judged}, {len(found)} condition(s) hold "
            f"({len(summary.opened)} new, {len(summary.escalated)} escalated, {len(summary.persisting)} persisting), "
            f"{len(summary.resolved)} resolved, {len(summary.unjudged_open)} open but not judged; "
            f"{len(summary.delivered)} message(s) delivered, {len(failed)} failed"
        )
        for note in result.notes:
            context.log.info(note)
        if summary.unrouted:
            context.log.info(f"no route selects: {'; '.join(summary.unrouted[:10])}")
    if failed:
        details = "; ".join(f"{d.event} {d.dedup_key} -> {d.channel}: {d.detail}" for d in failed[:10])
        raise dg.Failure(
            description=(
                f"{len(failed)} alert message(s) could not be delivered; they are recorded in "
                f"alerts.alert_deliveries and will be retried by the next run: {details}"
            ),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


def build_alert_asset(spec: AlertAssetSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key,
        group_name="alerts",
        deps=[item.key for item in spec.inputs],
        kinds={"python", "duckdb"},
        owners=[OWNERS["alerts"]],
        pool=WAREHOUSE_POOL,
        freshness_policy=daily_product_freshness(),
        metadata={**column_schema_metadata(ALERT_EVENTS_COLUMNS), "dagster/table_name": ALERT_EVENTS},
        description=spec.description
        + " Episodes in alerts.alert_events: a condition notifies when it opens, escalates and resolves, "
        "never again while it persists.",
    )
    def _alert_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return run_alert_asset(spec, context, warehouse, get_settings())

    return _alert_asset


ALERT_ASSETS: list[dg.AssetsDefinition] = [build_alert_asset(spec) for spec in ALERT_SPECS]
freight_spike_alerts = ALERT_ASSETS[0]
