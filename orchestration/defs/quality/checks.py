"""GX suites as Dagster asset checks: inline specs for the raw tables, standalone mart checks.

Raw tables: the ingest asset declares ``raw_check_spec(table)`` in its ``check_specs`` and
yields ``outcome_to_check_result(validate_frame(f"raw_{table}", rows), ...)`` for the rows it
just loaded. Marts: one blocking ``@asset_check`` per mart that forecasts, alerts and BI read,
reading the whole table from the warehouse. All checks are blocking: a failure with ERROR
severity stops the assets downstream in the same run.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg

from orchestration.defs.quality.suites import MART_TABLES
from orchestration.defs.quality.validation import FailedExpectation, SuiteOutcome, validate_frame
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.warehouse import RAW_SCHEMA, WarehouseResource

MARTS_SCHEMA = "marts"
#: Failed expectations listed in the markdown table (all of them are in the JSON entry).
MAX_TABLE_ROWS = 25


def outcome_to_check_result(
    outcome: SuiteOutcome,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
) -> dg.AssetCheckResult:
    """The check result of a suite outcome, naming every failed expectation.

    Failed ``critical`` expectations fail the check with ``severity``; when only ``warning``
    or ``info`` expectations failed, the check fails with WARN, which never blocks.
    """
    if outcome.success:
        passed, effective = True, severity
    elif outcome.critical_failures:
        passed, effective = False, severity
    else:
        passed, effective = False, dg.AssetCheckSeverity.WARN
    metadata: dict[str, Any] = {
        "suite": outcome.suite_name,
        "rows_validated": outcome.rows,
        "expectations_evaluated": outcome.evaluated,
        "expectations_failed": len(outcome.failures),
        "validation_seconds": outcome.duration_seconds,
        "validated_at_utc": outcome.validated_at.isoformat(timespec="seconds"),
    }
    if outcome.failures:
        metadata["failed_expectations"] = dg.MetadataValue.md(failures_markdown(outcome.failures))
        metadata["failures"] = dg.MetadataValue.json([f.to_dict() for f in outcome.failures])
    return dg.AssetCheckResult(
        passed=passed,
        severity=effective,
        asset_key=asset_key,
        check_name=check_name,
        metadata=metadata,
        description=_truncate(outcome.summary(), 2_000),
    )


def failures_markdown(failures: tuple[FailedExpectation, ...]) -> str:
    """A markdown table: expectation, column(s), severity, failing rows, % and a sample."""
    lines = [
        "| expectation | column(s) | severity | unexpected | % | arguments | sample (values / rows) |",
        "| --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    for f in failures[:MAX_TABLE_ROWS]:
        if f.exception:
            sample = f"error: {f.exception}"
        elif f.sample_rows:
            sample = json.dumps(f.sample_rows, default=str)
        elif f.sample:
            sample = json.dumps(f.sample, default=str)
        elif f.details:
            sample = json.dumps(f.details, default=str)
        else:
            sample = f"observed: {json.dumps(f.observed_value, default=str)}"
        pct = "" if f.unexpected_percent is None else f"{f.unexpected_percent:.3g}"
        count = "" if f.unexpected_count is None else str(f.unexpected_count)
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f.expectation_type,
                    ", ".join(f.columns),
                    f.severity,
                    count,
                    pct,
                    json.dumps(f.kwargs, default=str) if f.kwargs else "",
                    sample,
                )
            )
            + " |"
        )
    if len(failures) > MAX_TABLE_ROWS:
        lines.append(f"\n{len(failures) - MAX_TABLE_ROWS} more in the `failures` entry.")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return _truncate(text.replace("|", "\\|").replace("\n", " "), 400)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- raw tables (inline checks)


def raw_check_name(table_name: str) -> str:
    return f"gx_raw_{table_name}"


def raw_check_spec(table_name: str) -> dg.AssetCheckSpec:
    """The blocking GX check spec an ingest asset declares for ``raw.<table_name>``."""
    if table_name not in RAW_TABLES:
        raise ValueError(f"no raw table '{table_name}' in the contract (orchestration/lib/schemas.py)")
    return dg.AssetCheckSpec(
        name=raw_check_name(table_name),
        asset=dg.AssetKey([RAW_SCHEMA, table_name]),
        blocking=True,
        description=(
            f"Great Expectations suite raw_{table_name} on the rows just loaded into raw.{table_name}: "
            "schema, types, key, required columns, code lists and plausible bounds. Blocks downstream on failure."
        ),
    )


# ---------------------------------------------------------------- marts (standalone checks)


def mart_check_name(mart: str) -> str:
    return f"gx_mart_{mart}"


def validate_mart(warehouse: WarehouseResource, mart: str) -> SuiteOutcome | str:
    """Validate the whole ``marts.<mart>`` table; a message instead when it cannot be read."""
    import duckdb

    try:
        with warehouse.connect(read_only=True) as conn:
            df = conn.sql(f'SELECT * FROM {MARTS_SCHEMA}."{mart}"').df()
    except duckdb.Error as exc:
        return (
            f"{MARTS_SCHEMA}.{mart} cannot be read from the warehouse {warehouse.path}: {exc}. "
            "Materialize the mart (dbt build) before its check."
        )
    return validate_frame(f"mart_{mart}", df)


def build_mart_check(mart: str) -> dg.AssetChecksDefinition:
    """A blocking standalone check running the suite ``mart_<mart>`` on ``marts.<mart>``."""
    asset_key = dg.AssetKey([MARTS_SCHEMA, mart])

    @dg.asset_check(
        asset=asset_key,
        name=mart_check_name(mart),
        blocking=True,
        description=(
            f"Great Expectations suite mart_{mart} on the whole of {MARTS_SCHEMA}.{mart}: key unique and "
            "not null, codes in reference lists, rates and amounts within bounds. Blocks downstream on failure."
        ),
    )
    def _gx_mart_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        outcome = validate_mart(warehouse, mart)
        if isinstance(outcome, str):
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=outcome)
        return outcome_to_check_result(outcome)

    return _gx_mart_check


def build_mart_checks() -> list[dg.AssetChecksDefinition]:
    return [build_mart_check(m) for m in MART_TABLES]
