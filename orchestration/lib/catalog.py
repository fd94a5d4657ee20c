"""What the Dagster UI says about every asset besides its data: owners, freshness, column
schemas and the concurrency pool of the warehouse.

- Owners: one team per domain (:data:`OWNERS`); a dbt resource can name its own with
  ``meta: {owner: ...}`` (or dagster-dbt's ``meta: {dagster: {owners: [...]}}``).
- Freshness: each raw table is expected as often as its source publishes (``cadence`` in
  ``orchestration/lib/schemas.py``): daily sources by the morning after the nightly run,
  weekly sources (published on Mondays) by Tuesday morning, snapshot tables (reference lists
  their publishers change irregularly) at least weekly. The marts, forecasts, alerts and the
  BI publication are daily products: fresh by the same morning deadline.
- Pool: every step that opens the DuckDB warehouse (ingest, dbt, checks reading it,
  forecasts, alerts, publish) is in the ``warehouse`` pool. DuckDB allows one read-write
  process and no reader beside it, so the production instance (``deploy/dagster.yaml``)
  limits the pool to one step at a time across all runs.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping

import dagster as dg

from orchestration.lib.schemas import Cadence

WAREHOUSE_POOL = "warehouse"

OWNERS: dict[str, str] = {
    "ingest": "team:data-engineering",
    "transform": "team:analytics-engineering",
    "quality": "team:data-engineering",
    "forecast": "team:data-science",
    "alerts": "team:data-engineering",
    "publish": "team:data-engineering",
}

#: The nightly schedule starts at 02:00 UTC (``orchestration/defs/jobs.py``); a night's
#: products are due by 06:00 UTC, when the first BI users in Europe start.
FRESH_BY_CRON = "0 6 * * *"
#: Weekly sources land Monday's file; the Monday partition is loaded by Tuesday's night run.
WEEKLY_FRESH_BY_CRON = "0 6 * * 2"


@functools.cache
def daily_product_freshness() -> dg.FreshnessPolicy:
    """Rebuilt every night: materialized within the 24 hours before 06:00 UTC.

    One shared policy: building a cron policy costs ~6 ms (Dagster walks the cron to find its
    smallest interval), and dagster-dbt asks for the mart's spec once per dbt test as well,
    ~400 times per load of the definitions (2.4 s of every start, and again in the dbt step).
    """
    return dg.FreshnessPolicy.cron(deadline_cron=FRESH_BY_CRON, lower_bound_delta=dt.timedelta(hours=24))


def cadence_freshness(cadence: Cadence) -> dg.FreshnessPolicy:
    """The freshness policy of a raw table published at ``cadence``."""
    if cadence == "daily":
        return daily_product_freshness()
    if cadence == "weekly":
        # Loaded after Monday 06:00 UTC (Monday's publication), by Tuesday 06:00 UTC.
        return dg.FreshnessPolicy.cron(deadline_cron=WEEKLY_FRESH_BY_CRON, lower_bound_delta=dt.timedelta(days=1))
    if cadence == "snapshot":
        # Reference lists change irregularly: stale after a week without a load, a warning after two days.
        return dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(days=7), warn_window=dt.timedelta(days=2))
    raise ValueError(f"unknown cadence {cadence!r}")


def table_schema(columns: Mapping[str, str], descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """A Dagster column schema from ``{column: type}`` (and optional ``{column: description}``)."""
    descriptions = descriptions or {}
    out = []
    for name, sql_type in columns.items():
        base, nullable, unique = sql_type, True, False
        for suffix in (" NOT NULL", " PRIMARY KEY"):
            if base.upper().endswith(suffix):
                base, nullable = base[: -len(suffix)], False
                unique = unique or suffix == " PRIMARY KEY"
        out.append(
            dg.TableColumn(
                name=name,
                type=base,
                description=descriptions.get(name) or None,
                constraints=dg.TableColumnConstraints(nullable=nullable, unique=unique),
            )
        )
    return dg.TableSchema(columns=out)


def column_schema_metadata(columns: Mapping[str, str], descriptions: Mapping[str, str] | None = None) -> dict:
    return {"dagster/column_schema": table_schema(columns, descriptions)}
