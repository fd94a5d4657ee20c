"""Quality domain: Great Expectations 1.x suites run as blocking Dagster asset checks, and gating.

- ``validate_frame(suite, df)`` runs a suite of the file context in ``expectations/gx`` on a
  DataFrame and returns a :class:`SuiteOutcome` naming each failed expectation, its column(s),
  how many rows failed and a sample of failing values and key columns.
- ``outcome_to_check_result`` maps that onto an ``AssetCheckResult`` (passed, severity,
  markdown and JSON metadata).
- ``raw_check_spec(table)`` is the inline blocking check an ingest asset declares; the loads
  get ``gx_load_<table>`` checks (row-count band, freshness) in one step; the marts that
  forecasts, alerts and BI read get standalone blocking checks. All exported in ``defs`` (the
  root Definitions provides the ``warehouse`` resource), with the Data Docs asset.
- ``build_gating_defs(asset_graph)``: the ``upstream_gates`` check on each gated mart, which
  carries gate failures across runs (``gating.py``).
- ``build_data_docs(site_dir)`` renders GX Data Docs from the stored validation results.

GX itself is imported only when a suite runs, never while Dagster loads these definitions.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.defs.quality.checks import (
    build_load_checks,
    build_mart_check,
    build_mart_checks,
    failures_markdown,
    load_check_name,
    mart_check_name,
    outcome_to_check_result,
    raw_check_name,
    raw_check_spec,
    validate_mart,
)
from orchestration.defs.quality.docs import DATA_DOCS_KEY, build_data_docs_asset, rebuild_data_docs_quietly
from orchestration.defs.quality.gating import (
    UPSTREAM_GATES_CHECK,
    GateFailure,
    GateLedger,
    build_upstream_gate_check,
    gated_automation_condition,
    gates_upstream_of,
    open_gate_failures,
    require_gates_passed,
)
from orchestration.defs.quality.suites import MART_TABLES
from orchestration.defs.quality.validation import (
    FailedExpectation,
    SuiteNotFoundError,
    SuiteOutcome,
    build_data_docs,
    validate_frame,
    validate_query,
)

MART_KEYS = [dg.AssetKey(["marts", m]) for m in MART_TABLES]
#: Groups whose assets' automation conditions are made to wait for upstream gates.
GATED_GROUPS = ("forecast", "alerts", "publish")

defs = dg.Definitions(
    assets=[build_data_docs_asset(MART_KEYS)],
    asset_checks=[*build_mart_checks(), build_load_checks()],
)


def mart_gates(asset_graph: Any, mart_key: dg.AssetKey) -> list[dg.AssetCheckKey]:
    """The gates the ``upstream_gates`` check of a mart watches: every gate upstream of it and its own.

    Its own include the standalone ``gx_mart_<mart>`` check: a run that reads the mart without
    rebuilding it (a forecast refresh) must not read what the mart's suite rejected. A verdict
    about an older build of the mart does not count (``GateLedger.open_failures``), so when the
    mart is rebuilt in the run, only tonight's suite decides.
    """
    return gates_upstream_of(asset_graph, [mart_key], include_own=True)


def build_gating_defs(asset_graph: Any) -> dg.Definitions:
    """The ``upstream_gates`` check on each gated mart of ``asset_graph`` (the merged domains)."""
    checks = [build_upstream_gate_check(key, mart_gates(asset_graph, key)) for key in MART_KEYS if asset_graph.has(key)]
    return dg.Definitions(asset_checks=checks)


def gate_automation(definitions: dg.Definitions, asset_graph: Any) -> dg.Definitions:
    """AND every automation condition of the forecast, alert and publish assets with the gates.

    Assets without an automation condition are left alone (the nightly schedule runs them).
    """
    targets = [
        key
        for key in asset_graph.materializable_asset_keys
        if asset_graph.get(key).group_name in GATED_GROUPS and asset_graph.get(key).automation_condition is not None
    ]
    if not targets:
        return definitions
    return definitions.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(
            automation_condition=gated_automation_condition(spec.automation_condition)
        ),
        selection=targets,
    )


__all__ = [
    "DATA_DOCS_KEY",
    "GATED_GROUPS",
    "MART_KEYS",
    "MART_TABLES",
    "UPSTREAM_GATES_CHECK",
    "FailedExpectation",
    "GateFailure",
    "GateLedger",
    "SuiteNotFoundError",
    "SuiteOutcome",
    "build_data_docs",
    "build_data_docs_asset",
    "build_gating_defs",
    "build_load_checks",
    "build_mart_check",
    "build_mart_checks",
    "build_upstream_gate_check",
    "defs",
    "failures_markdown",
    "gate_automation",
    "gated_automation_condition",
    "gates_upstream_of",
    "load_check_name",
    "mart_check_name",
    "mart_gates",
    "open_gate_failures",
    "outcome_to_check_result",
    "raw_check_name",
    "raw_check_spec",
    "rebuild_data_docs_quietly",
    "require_gates_passed",
    "validate_frame",
    "validate_query",
    "validate_mart",
]
