"""Quality domain: Great Expectations 1.x suites run as blocking Dagster asset checks.

- ``validate_frame(suite, df)`` runs a suite of the file context in ``expectations/gx`` on a
  DataFrame and returns a :class:`SuiteOutcome` naming each failed expectation, its column(s),
  how many rows failed and a sample of failing values and key columns.
- ``outcome_to_check_result`` maps that onto an ``AssetCheckResult`` (passed, severity,
  markdown and JSON metadata).
- ``raw_check_spec(table)`` is the inline blocking check an ingest asset declares; the marts
  that forecasts, alerts and BI read get standalone blocking checks, exported in ``defs``
  (the root Definitions provides the ``warehouse`` resource).
- ``build_data_docs(site_dir)`` renders GX Data Docs from the stored validation results.

GX itself is imported only when a suite runs, never while Dagster loads these definitions.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.quality.checks import (
    build_mart_check,
    build_mart_checks,
    failures_markdown,
    mart_check_name,
    outcome_to_check_result,
    raw_check_name,
    raw_check_spec,
    validate_mart,
)
from orchestration.defs.quality.suites import MART_TABLES
from orchestration.defs.quality.validation import (
    FailedExpectation,
    SuiteNotFoundError,
    SuiteOutcome,
    build_data_docs,
    validate_frame,
)

defs = dg.Definitions(asset_checks=build_mart_checks())

__all__ = [
    "MART_TABLES",
    "FailedExpectation",
    "SuiteNotFoundError",
    "SuiteOutcome",
    "build_data_docs",
    "build_mart_check",
    "build_mart_checks",
    "defs",
    "failures_markdown",
    "mart_check_name",
    "outcome_to_check_result",
    "raw_check_name",
    "raw_check_spec",
    "validate_frame",
    "validate_mart",
]
