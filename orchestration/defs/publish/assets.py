"""The publish asset: one BI release of the marts and forecast tables per good night."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from orchestration.defs.ingest.partitions import run_last_day
from orchestration.defs.publish.release import VIEWS_FILE, PublishError, publish_release
from orchestration.defs.quality.gating import require_gates_passed
from orchestration.lib.catalog import OWNERS, WAREHOUSE_POOL, daily_product_freshness
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource

PUBLISH_KEY = dg.AssetKey(["publish", "bi_release"])
PUBLISH_GROUP = "publish"
#: Published tables written as one Parquet folder per month of this date column: the day-grain
#: marts, of which a night rewrites only its days. Whole, they were 29M of the 30M rows a one-day
#: night at SF 10 exported again (4 of the publish step's 6 s); by month, that night writes one.
MONTHLY_TABLES = {
    "marts.demand_sku_market_daily": "order_date",
    "marts.traffic_sku_market_daily": "traffic_date",
}


def run_as_of(tags: dict[str, str]) -> str | None:
    """The last partition day of the run: the day the published data is 'as of'."""
    day = run_last_day(tags)
    return day.isoformat() if day else None


def build_publish_asset(tables: Sequence[dg.AssetKey], gates: Sequence[dg.AssetCheckKey]) -> dg.AssetsDefinition:
    """The publish asset over ``tables`` (``<schema>/<table>`` keys), refusing while any of ``gates`` fails."""
    table_keys = tuple(tables)
    gate_keys = tuple(gates)
    names = [(k.path[0], k.path[-1]) for k in table_keys]
    monthly = {f"{s}.{t}": MONTHLY_TABLES[f"{s}.{t}"] for s, t in names if f"{s}.{t}" in MONTHLY_TABLES}

    @dg.asset(
        key=PUBLISH_KEY,
        group_name=PUBLISH_GROUP,
        deps=list(table_keys),
        kinds={"python", "duckdb", "parquet"},
        owners=[OWNERS["publish"]],
        pool=WAREHOUSE_POOL,
        freshness_policy=daily_product_freshness(),
        description=(
            "Write-audit-publish for BI: when every gate upstream passed, exports "
            + ", ".join(f"{s}.{t}" for s, t in names)
            + f" to Parquet (the day-grain marts one folder per month) with a read-only DuckDB file of views "
            f"({VIEWS_FILE}) in a new release folder under the publication root, audits it and switches `current` "
            "to it atomically. Files whose rows did not change since the current release are hard links to it. "
            "A failed night keeps the last good publication."
        ),
        metadata={"gates": dg.MetadataValue.json([g.to_user_string() for g in gate_keys])},
    )
    def bi_release(context, warehouse: WarehouseResource) -> dg.MaterializeResult:  # context: AssetExecutionContext
        settings = get_settings()
        refused = "publication refused, the last good publication stays current"
        require_gates_passed(context, gate_keys, what=refused)
        run_id = context.run.run_id
        stale = []
        for key in table_keys:
            latest = context.instance.get_latest_materialization_event(key)
            if latest is None or latest.run_id != run_id:
                stale.append(key.to_user_string())
        if stale:
            raise dg.Failure(
                description=f"{refused}: {', '.join(stale)} not rebuilt in this run; a publication holds one "
                "night's marts and forecasts together (run the nightly job)."
            )
        as_of = run_as_of(dict(context.run.tags))
        try:
            release = publish_release(
                warehouse.path,
                settings.published,
                names,
                run_id=run_id,
                as_of=as_of,
                keep=settings.publish.keep_releases,
                monthly=monthly,
                threads=warehouse.threads,
                memory_limit=warehouse.memory_limit,
            )
        except PublishError as exc:
            raise dg.Failure(description=f"{refused}: {exc}") from exc
        context.log.info(
            f"published release {release.name} (as of {as_of}): "
            + ", ".join(f"{t.qualified} {t.rows}" for t in release.tables)
            + f"; {release.written_parts} Parquet files written, {release.reused_parts} unchanged since the "
            "release before (linked)"
        )
        return dg.MaterializeResult(
            metadata={
                "release": release.name,
                "path": dg.MetadataValue.path(str(release.path)),
                "views_file": dg.MetadataValue.path(str(settings.published / "current" / VIEWS_FILE)),
                "run_id": run_id,
                "as_of": as_of or "unknown",
                "published_at": release.published_at,
                "rows": dg.MetadataValue.json({t.qualified: t.rows for t in release.tables}),
                "pruned_releases": dg.MetadataValue.json(list(release.pruned)),
                "files_written": release.written_parts,
                "files_linked_unchanged": release.reused_parts,
                "gates_checked": len(gate_keys),
            }
        )

    return bi_release
