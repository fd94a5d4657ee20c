"""GX suites as Dagster asset checks: inline specs for the raw tables, load checks, mart checks.

Raw tables: the ingest asset declares ``raw_check_spec(table)`` in its ``check_specs`` and
yields ``outcome_to_check_result(validate_frame(f"raw_{table}", rows), ...)`` for the rows it
just loaded. Loads: one step (``gx_load_checks``) runs the suite ``load_<table>`` of every raw
table on its load profile (row count within a band of the median of the previous loads, freshness
of the latest partition), with the previous loads read from the Dagster instance. Marts: one blocking
``@asset_check`` per mart that forecasts, alerts and BI read, reading the whole table from the
warehouse. All checks are blocking: a failure with ERROR severity stops the assets downstream
in the same run (``gating.py`` carries failures across runs).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg

from orchestration.defs.ingest.partitions import run_last_day, run_window
from orchestration.defs.quality.suites import (
    FRESHNESS,
    LOAD_PROFILE_COLUMNS,
    MART_FRESHNESS,
    MART_TABLES,
    ROWS_MAX_PARAMETER,
    ROWS_MIN_PARAMETER,
    fresh_since_parameter,
    load_suite_name,
)
from orchestration.defs.quality.validation import FailedExpectation, SuiteOutcome, validate_frame, validate_query
from orchestration.lib.catalog import WAREHOUSE_POOL
from orchestration.lib.schemas import RAW_TABLES, RawTable
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import RAW_SCHEMA, WarehouseResource

MARTS_SCHEMA = "marts"
#: Failed expectations listed in the markdown table (all of them are in the JSON entry).
MAX_TABLE_ROWS = 25


def outcome_to_check_result(
    outcome: SuiteOutcome,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
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
    metadata.update(extra_metadata or {})
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


#: Freshness bound used when a check runs outside a partitioned run (no day to be fresh for).
UNJUDGED_SINCE = dt.datetime(1900, 1, 1)


def mart_parameters(
    mart: str, *, as_of: dt.date | None, baseline_rows: int | None, band: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Suite parameters of the row-count band and freshness rules of ``mart_<mart>``, and what they mean.

    ``baseline_rows``: the rows the mart is compared with (:func:`mart_baseline`; None: no band yet).
    ``as_of``: the run's last partition day (None: freshness is not judged, e.g. a check run by
    hand outside a nightly run).
    """
    params: dict[str, Any] = {}
    meta: dict[str, Any] = {"row_count_band": band}
    if baseline_rows is None:
        params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER] = 0, NO_BOUND
        meta["baseline"] = "none: first evaluation, the band starts with the next one"
    else:
        params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER] = row_band(baseline_rows, band)
        meta["baseline_rows"] = baseline_rows
    meta["rows_min"], meta["rows_max"] = params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER]
    _column, lags = MART_FRESHNESS.get(mart, (None, []))
    meta["as_of"] = as_of.isoformat() if as_of else "none: freshness not judged (no partition day in the run)"
    for lag, _severity in lags:
        since = dt.datetime.combine(as_of - dt.timedelta(days=lag), dt.time()) if as_of else UNJUDGED_SINCE
        params[fresh_since_parameter(lag)] = since
        meta[fresh_since_parameter(lag)] = since.date().isoformat() if as_of else "not judged"
    return params, meta


#: The marts dbt builds incrementally (only the run's days are rewritten), with their day column.
#: On a run with a partition window their row-wise expectations look at those days only.
INCREMENTAL_MART_DAYS: dict[str, str] = {
    "demand_sku_market_daily": "order_date",
    "traffic_sku_market_daily": "traffic_date",
}


def mart_row_filter(mart: str, window: tuple[str, str] | None) -> str | None:
    """The SQL predicate on the rows of ``mart`` the run rewrote (None: every row is checked)."""
    column = INCREMENTAL_MART_DAYS.get(mart)
    if column is None or window is None:
        return None
    start, end = (dt.date.fromisoformat(day) for day in window)  # daily partition keys: ISO days
    return f"\"{column}\" BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'"


def validate_mart(
    warehouse: WarehouseResource,
    mart: str,
    parameters: Mapping[str, Any] | None = None,
    row_filter: str | None = None,
) -> SuiteOutcome | str:
    """Validate ``marts.<mart>``; a message instead when it cannot be read.

    ``parameters``: the band and freshness bounds (``mart_parameters``); without them the band
    and freshness are not judged. ``row_filter`` (``mart_row_filter``): the rows the row-wise
    expectations check, and the uniqueness of a key holding the mart's day column; the
    row-count band and freshness always see the whole table.
    """
    import duckdb

    if parameters is None:
        parameters, _ = mart_parameters(mart, as_of=None, baseline_rows=None, band=0.5)
    try:
        with warehouse.connect(read_only=True) as conn:
            conn.execute(f'SELECT * FROM {MARTS_SCHEMA}."{mart}" LIMIT 0')
            outcome, _ = validate_query(
                f"mart_{mart}",
                conn,
                f'SELECT * FROM {MARTS_SCHEMA}."{mart}"',
                chunk_rows=get_settings().duckdb.validation_chunk_rows,
                parameters=parameters,
                row_filter=row_filter,
                day_column=INCREMENTAL_MART_DAYS.get(mart),
            )
    except duckdb.Error as exc:
        return (
            f"{MARTS_SCHEMA}.{mart} cannot be read from the warehouse {warehouse.path}: {exc}. "
            "Materialize the mart (dbt build) before its check."
        )
    return outcome


def _earlier_evaluations(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, run_id: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(run id, metadata values) of the check's latest evaluations (up to 20) in runs other than ``run_id``."""
    from orchestration.defs.quality.gating import GateLedger

    for record in GateLedger(instance).history(check_key, limit=20):
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        if evaluation is None or record.run_id == run_id:
            continue
        yield record.run_id, {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}


#: Earlier evaluations of a mart's check its row-count baseline looks at, and how many of them
#: must have failed under their band for a drop to count as lasting (a majority of the window).
MART_BASELINE_NIGHTS = 7
MART_LASTING_DROP_NIGHTS = MART_BASELINE_NIGHTS // 2 + 1


@dataclass(frozen=True)
class MartBaseline:
    rows: int
    #: What ``rows`` is, for the check's metadata.
    source: str


def mart_baseline(history: Sequence[tuple[int, bool]]) -> MartBaseline | None:
    """The row count a mart is compared with, from its earlier evaluations ``(rows, lower band held)``,
    newest first (up to :data:`MART_BASELINE_NIGHTS`).

    The rows at the latest evaluation whose lower band held: a broken night (a filter that lost
    most rows) never becomes the baseline, so the night after it is judged against the size
    before it. Unless :data:`MART_LASTING_DROP_NIGHTS` of them failed under their band: the
    mart shrank for good (a market or a marketplace dropped) and would otherwise block every
    night, each compared with the old size. Its baseline is then the median of the window (the
    lower middle), the new size once it is most of the window: a lasting drop blocks four
    nights, then passes.
    """
    window = list(history)[:MART_BASELINE_NIGHTS]
    under = sum(not held for _rows, held in window)
    if under >= MART_LASTING_DROP_NIGHTS:
        ranked = sorted(rows for rows, _held in window)
        return MartBaseline(
            ranked[(len(ranked) - 1) // 2],
            f"median of the last {len(window)} evaluations: {under} of them under their band, a lasting drop",
        )
    for rows, held in window:
        if held:
            return MartBaseline(rows, "latest earlier evaluation whose lower band held")
    return None


def _mart_baseline(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, run_id: str) -> MartBaseline | None:
    """:func:`mart_baseline` of the check's evaluations in earlier runs (the instance's records)."""
    history: list[tuple[int, bool]] = []
    for _run, meta in _earlier_evaluations(instance, check_key, run_id):
        rows = meta.get("rows_validated")
        if isinstance(rows, int) and isinstance(meta.get("band_low_ok"), bool):
            history.append((rows, meta["band_low_ok"]))
            if len(history) == MART_BASELINE_NIGHTS:
                break
    return mart_baseline(history)


def build_mart_check(mart: str) -> dg.AssetChecksDefinition:
    """A blocking standalone check running the suite ``mart_<mart>`` on ``marts.<mart>``."""
    asset_key = dg.AssetKey([MARTS_SCHEMA, mart])

    @dg.asset_check(
        asset=asset_key,
        name=mart_check_name(mart),
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=(
            f"Great Expectations suite mart_{mart} on {MARTS_SCHEMA}.{mart}: key unique and "
            "not null, codes in reference lists, rates and amounts within bounds. Blocks downstream on failure."
            + (
                f" Built incrementally: on a partitioned run the row-wise expectations and the uniqueness of "
                f"a key holding the day check the run's days ({INCREMENTAL_MART_DAYS[mart]}; the other days "
                "were checked on the nights that wrote them), row count and freshness the whole table."
                if mart in INCREMENTAL_MART_DAYS
                else " Every row is checked."
            )
        ),
    )
    def _gx_mart_check(context, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        check_key = dg.AssetCheckKey(asset_key, mart_check_name(mart))
        baseline = _mart_baseline(context.instance, check_key, context.run.run_id)
        params, meta = mart_parameters(
            mart,
            as_of=run_last_day(context.run.tags),
            baseline_rows=baseline.rows if baseline else None,
            band=get_settings().thresholds.row_count_band,
        )
        if baseline is not None:
            meta["baseline"] = baseline.source
        row_filter = mart_row_filter(mart, run_window(context.run.tags))
        meta["rows_checked_row_by_row"] = row_filter or "all"
        outcome = validate_mart(warehouse, mart, params, row_filter)
        if isinstance(outcome, str):
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=outcome)
        meta["band_low_ok"] = not any(
            f.expectation_type == "expect_table_row_count_to_be_between" and "min_value" in f.kwargs
            for f in outcome.failures
        )
        return outcome_to_check_result(outcome, extra_metadata=meta)

    return _gx_mart_check


def build_mart_checks() -> list[dg.AssetChecksDefinition]:
    return [build_mart_check(m) for m in MART_TABLES]


# ---------------------------------------------------------------- loads (row-count band, freshness)

#: Upper row bound when there is no previous load to compare with.
NO_BOUND = 10**15
#: Counts this small vary by chance: the band is at least this many standard deviations of a
#: Poisson count (3 x sqrt(expected)) so that 13 orders instead of 7 on a quiet day is no alarm.
POISSON_SIGMAS = 3.0
LOAD_CHECKS_NAME = "gx_load_checks"


def load_check_name(table_name: str) -> str:
    return f"gx_load_{table_name}"


@dataclass(frozen=True)
class LoadBaseline:
    """A previous load of a table, as its load check recorded it; ``loads``: of how many previous
    loads it is the median (:func:`_baseline`)."""

    run_id: str
    rows: int
    expected_days: int
    loads: int = 1

    @property
    def rows_per_day(self) -> float:
        return self.rows / self.expected_days


def expected_days(table: RawTable, first: dt.date | None, last: dt.date | None, first_day: dt.date | None) -> int:
    """Days of ``first..last`` on which the table should have rows (the unit a load is compared in).

    Daily tables: every day from the table's first day with data; weekly tables: the Mondays
    (they land on Mondays only). Series and snapshot tables load whole: one unit per load.
    """
    if not table.daily_partitioned or first is None or last is None:
        return 1
    start = max(first, first_day) if first_day else first
    if start > last:
        return 0
    days = (last - start).days + 1
    if table.cadence != "weekly":
        return days
    to_monday = (7 - start.weekday()) % 7
    return 0 if to_monday >= days else (days - to_monday - 1) // 7 + 1


def row_band(expected: float, band: float) -> tuple[int, int]:
    """``expected`` rows +/- max(band x expected, 3 sqrt(expected)), as whole rows."""
    slack = max(band * expected, POISSON_SIGMAS * math.sqrt(expected))
    return max(0, math.floor(expected - slack)), math.ceil(expected + slack)


def load_parameters(
    table: RawTable,
    *,
    load_range: tuple[dt.date, dt.date] | None,
    first_day: dt.date | None,
    as_of: dt.date,
    baseline: LoadBaseline | None,
    band: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Suite parameters of ``load_<table>`` for one load, and what they were derived from (metadata)."""
    first, last = load_range if load_range else (None, None)
    days = expected_days(table, first, last, first_day)
    params: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "load_range": f"{first}..{last}" if load_range and table.daily_partitioned else "all",
        "expected_days": days,
        "row_count_band": band,
        "as_of": as_of.isoformat(),
    }
    if baseline is None or baseline.expected_days <= 0:
        params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER] = 0, NO_BOUND
        meta["baseline"] = "none: first load, the band starts with the next one"
    else:
        expected = baseline.rows_per_day * days
        params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER] = row_band(expected, band)
        meta["baseline"] = (
            f"run {baseline.run_id[:8]}: {baseline.rows} rows over {baseline.expected_days} expected day(s)"
            + (f", the median of the previous {baseline.loads} loads" if baseline.loads > 1 else "")
        )
        meta["rows_expected"] = round(expected, 1)
    meta["rows_min"], meta["rows_max"] = params[ROWS_MIN_PARAMETER], params[ROWS_MAX_PARAMETER]
    for lag, _severity in FRESHNESS.get(table.name, []) if table.partitioned else []:
        since = as_of - dt.timedelta(days=lag)
        params[fresh_since_parameter(lag)] = dt.datetime.combine(since, dt.time())
        meta[fresh_since_parameter(lag)] = since.isoformat()
    return params, meta


def load_profile(conn: Any, table: RawTable, load_range: tuple[dt.date, dt.date] | None) -> Any:
    """Rows per partition day of ``raw.<table>`` and how many the latest load wrote (``LOAD_PROFILE_COLUMNS``)."""
    qualified = f'{RAW_SCHEMA}."{table.name}"'
    if not table.partitioned:
        sql = f"SELECT CAST(NULL AS DATE) AS day, count(*) AS rows, count(*) AS rows_in_load FROM {qualified}"
        return conn.execute(sql).df()
    if table.daily_partitioned and load_range:
        in_load, params = "_partition_date BETWEEN ? AND ?", list(load_range)
    else:
        in_load, params = "TRUE", []
    sql = (
        f"SELECT _partition_date AS day, count(*) AS rows, count(*) FILTER (WHERE {in_load}) AS rows_in_load "
        f"FROM {qualified} GROUP BY 1 ORDER BY 1"
    )
    return conn.execute(sql, params).df()[list(LOAD_PROFILE_COLUMNS)]


#: Previous loads whose median (rows per expected day) is a load's baseline.
BASELINE_LOADS = 7


def _baseline(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, run_id: str) -> LoadBaseline | None:
    """The median, by rows per expected day, of the check's previous loads (up to
    ``BASELINE_LOADS``; the lower of the two middle ones for an even count).

    A median rather than the latest load: after a spike day (Black Friday at three times the
    usual orders, above the band: a warning) an ordinary day would be under the band of the spike
    and block, and so would every day after it, each compared with the same spike. One spike or
    one truncated load does not move the median; a lasting change of volume moves it once it
    is about half of the loads compared.
    """
    loads: list[LoadBaseline] = []
    for record_run, meta in _earlier_evaluations(instance, check_key, run_id):
        rows, days = meta.get("rows_in_load"), meta.get("expected_days")
        if isinstance(rows, int) and isinstance(days, int) and days > 0:
            loads.append(LoadBaseline(record_run, rows, days))
            if len(loads) == BASELINE_LOADS:
                break
    if not loads:
        return None
    ranked = sorted(loads, key=lambda load: load.rows_per_day)
    return replace(ranked[(len(ranked) - 1) // 2], loads=len(loads))


def run_load_check(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, table: RawTable
) -> dg.AssetCheckResult:
    """Validate ``load_<table>`` on the latest load of ``raw.<table>``."""
    import duckdb

    from orchestration.defs.quality.gating import parse_day_range

    key = dg.AssetKey([RAW_SCHEMA, table.name])
    check_key = dg.AssetCheckKey(key, load_check_name(table.name))
    instance = context.instance
    latest = instance.get_latest_materialization_event(key)
    materialization = latest.asset_materialization if latest else None
    range_text = materialization.metadata.get("partition_range") if materialization else None
    load_range = parse_day_range(getattr(range_text, "value", range_text))
    if table.daily_partitioned and load_range is None:
        run_day = run_last_day(context.run.tags)
        if run_day:
            load_range = (run_day - dt.timedelta(days=table.restatement_days), run_day)
    try:
        with warehouse.connect(read_only=True) as conn:
            profile = load_profile(conn, table, load_range if table.daily_partitioned else None)
    except duckdb.Error as exc:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=check_key.name,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{RAW_SCHEMA}.{table.name} cannot be read from {warehouse.path}: {exc}. Load the table first.",
        )
    days_with_rows = profile["day"].dropna()
    first_day = days_with_rows.min().date() if len(days_with_rows) else None
    as_of = run_last_day(context.run.tags) or (load_range[1] if load_range else None)
    as_of = as_of or get_settings().sample.resolved_end_date()
    params, meta = load_parameters(
        table,
        load_range=load_range,
        first_day=first_day,
        as_of=as_of,
        baseline=_baseline(instance, check_key, context.run.run_id),
        band=get_settings().thresholds.row_count_band,
    )
    outcome = validate_frame(load_suite_name(table.name), profile, parameters=params)
    low_failed = any(
        f.expectation_type == "expect_column_sum_to_be_between" and "min_value" in f.kwargs for f in outcome.failures
    )
    meta.update(
        {
            "rows_in_load": int(profile["rows_in_load"].sum()),
            "rows_in_table": int(profile["rows"].sum()),
            "latest_partition": days_with_rows.max().date().isoformat() if len(days_with_rows) else "none",
            "band_low_ok": not low_failed,
        }
    )
    return outcome_to_check_result(outcome, asset_key=key, check_name=check_key.name, extra_metadata=meta)


def build_load_checks(tables: list[str] | None = None) -> dg.AssetChecksDefinition:
    """One step of blocking checks ``gx_load_<table>``, one per raw table (all of them by default)."""
    names = tables or list(RAW_TABLES)
    specs = [
        dg.AssetCheckSpec(
            name=load_check_name(name),
            asset=dg.AssetKey([RAW_SCHEMA, name]),
            blocking=True,
            description=(
                f"Great Expectations suite load_{name} on the load profile of raw.{name}: rows of the load within "
                "thresholds.row_count_band of the median of the previous loads (fewer blocks, more warns)"
                + (", freshness of the latest partition." if RAW_TABLES[name].partitioned else ".")
            ),
        )
        for name in names
    ]

    @dg.multi_asset_check(specs=specs, name=LOAD_CHECKS_NAME, can_subset=True, pool=WAREHOUSE_POOL)
    def _load_checks(context, warehouse: WarehouseResource):  # context: AssetCheckExecutionContext
        selected = sorted(context.selected_asset_check_keys, key=lambda k: k.name)
        for check_key in selected:
            yield run_load_check(context, warehouse, RAW_TABLES[check_key.asset_key.path[-1]])

    return _load_checks
