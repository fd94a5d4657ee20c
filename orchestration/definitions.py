"""The one root Definitions of Tradewinds, merged from the domain folders under ``defs/``.

Built lazily (``@dg.definitions``) so that importing this module does no work: settings are
read and the dbt manifest is prepared only when Dagster loads the code location.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs import alerts, forecast, ingest, publish, quality, transform
from orchestration.defs.jobs import build_jobs_and_schedules
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource


def build_definitions() -> dg.Definitions:
    settings = get_settings()
    warehouse = WarehouseResource.from_settings(settings)
    jobs, schedules = build_jobs_and_schedules()
    domains = dg.Definitions.merge(
        ingest.build_defs(column_docs=transform.source_column_docs()),
        transform.build_defs(),
        quality.defs,
        forecast.defs,
        alerts.defs,
        dg.Definitions(jobs=jobs, schedules=schedules, resources={"warehouse": warehouse}),
    )
    # Gating and publication need the whole graph: which gates lie upstream of each mart, and
    # which forecast tables are published with the marts.
    graph = domains.resolve_asset_graph()
    merged = dg.Definitions.merge(domains, quality.build_gating_defs(graph), publish.build_defs(graph))
    return quality.gate_automation(merged, graph)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
