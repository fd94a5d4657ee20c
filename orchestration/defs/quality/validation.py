"""Running a GX 1.x suite on a pandas DataFrame, and what came out of it.

Great Expectations is imported lazily, inside the functions here: importing it costs
seconds, and Dagster loads the definitions far more often than it runs a check.

The file context lives in ``expectations/gx`` (committed suites and validation
definitions); every validation is stored as a GX validation result under
``<data_dir>/gx/validations`` so that :func:`build_data_docs` can render the latest results.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import math
import numbers
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.defs.quality.suites import (
    CONTEXT_DIRNAME,
    DATA_DOCS_DIR_VARIABLE,
    EXPECTATIONS_DIR,
    NOW_PARAMETER,
    VALIDATIONS_DIR_VARIABLE,
)
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import META_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: How many failing values / rows each failed expectation reports.
SAMPLE_SIZE = 5
#: GX result formats. Every validation runs with PASS_FORMAT (stored for Data Docs); one that
#: fails runs again with FAILURE_FORMAT, whose index labels of the sampled failing rows let
#: :func:`_failure` name their keys. GX's own unexpected_index_column_names would list the key of
#: *every* failing row (tens of seconds per expectation when a whole column is wrong), so keys are
#: looked up here. SUMMARY on every validation cost ~10 ms per expectation (0.38 s for a 30-rule
#: suite on 1,000 rows against 0.24 s in BASIC), on ~800 expectations a night.
PASS_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_SIZE}
FAILURE_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
CONTEXT_ROOT = EXPECTATIONS_DIR / CONTEXT_DIRNAME


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, with enough to find the bad rows."""

    expectation_type: str
    columns: tuple[str, ...]
    severity: str
    unexpected_count: int | None
    unexpected_percent: float | None
    # Up to SAMPLE_SIZE failing values (a dict per row for multi-column expectations).
    sample: list[Any] = field(default_factory=list)
    # Up to SAMPLE_SIZE failing rows identified by their key columns (plus the failing value).
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    # The expectation's arguments besides the column(s): bounds, value set size, condition.
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed_value: Any = None
    # GX's details, e.g. {"mismatched": {"missing": [...], "unexpected": [...]}} for the schema.
    details: Any = None
    # Set when GX could not evaluate the expectation (e.g. the column is missing).
    exception: str | None = None
    notes: str | None = None

    @property
    def label(self) -> str:
        cols = ", ".join(self.columns)
        return f"{self.expectation_type}({cols})" if cols else self.expectation_type

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SuiteOutcome:
    """What a suite said about a DataFrame."""

    suite_name: str
    success: bool
    evaluated: int
    successful: int
    rows: int
    failures: tuple[FailedExpectation, ...]
    duration_seconds: float
    validated_at: dt.datetime

    @property
    def critical_failures(self) -> tuple[FailedExpectation, ...]:
        return tuple(f for f in self.failures if f.severity == "critical")

    def summary(self) -> str:
        if self.success:
            return f"{self.suite_name}: all {self.evaluated} expectations passed on {self.rows} rows"
        parts = []
        for f in self.failures:
            what = f.exception or (
                f"{f.unexpected_count} rows ({_fmt_pct(f.unexpected_percent)})"
                if f.unexpected_count is not None
                else f"observed {_short(f.observed_value)}"
            )
            parts.append(f"{f.label}: {what}")
        return (
            f"{self.suite_name}: {len(self.failures)} of {self.evaluated} expectations failed on "
            f"{self.rows} rows: " + "; ".join(parts)
        )


class SuiteNotFoundError(LookupError):
    """No suite of that name in the file context."""


# ---------------------------------------------------------------- context


def gx_dirs() -> tuple[Path, Path]:
    """Folders for validation results and Data Docs under the configured data dir."""
    base = Path(get_settings().data_dir).resolve() / "gx"
    return base / "validations", base / "data_docs"


class _State:
    """A loaded file context and the validation definitions fetched from it so far."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.definitions: dict[str, Any] = {}
        self.lock = threading.Lock()

    def definition(self, suite_name: str) -> Any:
        vd = self.definitions.get(suite_name)
        if vd is None:
            from great_expectations.exceptions import DataContextError

            try:
                vd = self.context.validation_definitions.get(suite_name)
            except DataContextError as exc:
                known = sorted(p.stem for p in (CONTEXT_ROOT / "validation_definitions").glob("*.json"))
                raise SuiteNotFoundError(
                    f"no GX suite '{suite_name}' in {CONTEXT_ROOT}: known suites are {known}. "
                    "Declare it in orchestration/defs/quality/suites.py and run "
                    "`python -m orchestration.defs.quality`."
                ) from exc
            self.definitions[suite_name] = vd
        return vd


def load_context(validations_dir: Path, data_docs_dir: Path) -> Any:
    """The committed file context with results and Data Docs redirected to the given folders."""
    # Never send usage analytics (also off in great_expectations.yml); the env var covers
    # contexts created by GX itself before ours is loaded.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    defer_module(DEFERRED_GX_IMPORT)
    import great_expectations as gx

    skip_batch_fingerprints()

    return gx.get_context(
        mode="file",
        context_root_dir=str(CONTEXT_ROOT),
        runtime_environment={
            VALIDATIONS_DIR_VARIABLE: str(validations_dir) + os.sep,
            DATA_DOCS_DIR_VARIABLE: str(data_docs_dir) + os.sep,
        },
    )


#: What importing GX imports and no suite here uses: ``scipy.stats`` (~0.7 s of the ~2.5 s GX
#: context load, on the critical path of every night's first ingest step), imported at module level by the
#: KL-divergence expectation and the KS-test metrics, which call it only when they run.
DEFERRED_GX_IMPORT = "scipy.stats"


def defer_module(name: str) -> None:
    """Make ``import name`` cheap until an attribute of the module is used (the standard library's
    ``importlib.util.LazyLoader``): the module runs then, in full, as if imported at that point.
    Nothing when the module is already imported or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)  # imports the parent package (scipy: ~10 ms)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        # ``from parent import child`` takes the attribute when the package has it; else it imports
        # the module again, which reads its ``__spec__`` and so runs it at once.
        setattr(sys.modules[parent], child, module)


def skip_batch_fingerprints() -> None:
    """No ``pandas_data_fingerprint`` for the frames GX validates.

    GX 1.x's pandas engine hashes every frame under 1 GB it is handed (``hash_pandas_object``
    plus MD5, ~0.8 us a row) into the batch markers of the validation result: 0.65 s of the
    2.5 s validation of ``marts.shipment_transit`` (800k rows) each night, and once for every
    chunk of every raw table loaded. Nothing here reads that fingerprint (the results serve
    Data Docs; the run's outcome comes from :class:`SuiteOutcome`). GX skips it for frames at or
    above ``HASH_THRESHOLD`` bytes; a threshold of 0 skips it for every frame.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


@lru_cache(maxsize=4)
def _state(validations_dir: Path, data_docs_dir: Path) -> _State:
    return _State(load_context(validations_dir, data_docs_dir))


def clear_cache() -> None:
    """Forget loaded contexts (tests; after rewriting the suites in a running process)."""
    _state.cache_clear()


# ---------------------------------------------------------------- validating


def forget_batches(vd: Any) -> None:
    """Drop the frames GX keeps after validating them.

    GX 1.x's execution engine (one per datasource, cached) holds every batch it has loaded, by
    batch id (one per suite): each suite's last frame, a 1M-row chunk or a whole mart, stayed in
    the pipeline process for the rest of the night (1.9 GB at SF 10 while dbt built the marts
    beside it, 3.8 GB in publish). The engine's own ``reset_batch_cache`` clears the batches but
    not their data, hence the private ``_batch_data_cache`` (``tests/test_quality.py`` fails if
    GX renames it or frames outlive their validation again).
    """
    manager = vd.batch_definition.data_asset.datasource.get_execution_engine().batch_manager
    manager.reset_batch_cache()
    manager._batch_data_cache.clear()


def widen_for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with narrow numbers as int64/float64 and timestamps as datetime64[ns].

    GX 1.x compares a column with bounds (``expect_column_values_to_be_between``) vectorized
    only for int64, float64 and nanosecond timestamps; any other dtype goes value by value
    through Python. DuckDB hands pandas INTEGER as int32 and TIMESTAMP/DATE as microseconds,
    so an 800k-row mart took 7.2 s instead of 1.7 s. The widening keeps every value and its
    kind (the suites' type lists name kinds: any int width, any timestamp unit). A timestamp
    column outside the nanosecond range (before 1677 or after 2262) stays as it is.
    """
    import numpy as np
    import pandas as pd

    widened: dict[str, Any] = {}
    for column, dtype in frame.dtypes.items():
        if not isinstance(dtype, np.dtype):
            continue  # extension dtypes (strings, nullable ints) take GX's other paths
        try:
            if dtype.kind == "i" and dtype != np.int64:
                widened[column] = frame[column].astype(np.int64)
            elif dtype.kind == "f" and dtype != np.float64:
                widened[column] = frame[column].astype(np.float64)
            elif dtype.kind == "M" and dtype != np.dtype("datetime64[ns]"):
                widened[column] = frame[column].astype("datetime64[ns]")
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            continue
    return frame.assign(**widened) if widened else frame


def validate_frame(
    suite_name: str,
    df: pd.DataFrame,
    *,
    now: dt.datetime | None = None,
    store_result: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> SuiteOutcome:
    """Validate ``df`` with the suite ``suite_name`` and say what failed.

    Loader columns (``_partition_date``, ``_source_file``, ``_loaded_at``) are dropped first:
    they are not part of the contract. ``now`` (naive UTC, default: the current time) is the
    bound for "not in the future" expectations; ``parameters`` are further suite parameters
    (the load suites' row-count band and freshness bounds). The result is also stored for
    Data Docs unless ``store_result`` is False.
    """
    started = time.perf_counter()
    validations_dir, docs_dir = gx_dirs()
    state = _state(validations_dir, docs_dir)
    # A fresh 0..n-1 index: GX reports failing rows by index label, looked up below.
    frame = widen_for_gx(df.drop(columns=[c for c in META_COLUMNS if c in df.columns]).reset_index(drop=True))
    validated_at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    expectation_parameters = {NOW_PARAMETER: validated_at, **(parameters or {})}
    with state.lock:
        vd = state.definition(suite_name)
        key_columns = [c for c in (vd.suite.meta or {}).get("key_columns", []) if c in frame.columns]
        try:
            # Two passes, the second only when the first fails. BASIC (counts, observed values,
            # a sample of failing values: what Data Docs shows, so this is the stored result)
            # costs 40% less than SUMMARY, whose failing-row index labels only a failure needs.
            result = _run_suite(vd, frame, PASS_FORMAT, expectation_parameters, store=store_result)
            if not result.success:
                result = _run_suite(vd, frame, FAILURE_FORMAT, expectation_parameters, store=False)
        finally:
            forget_batches(vd)
    return outcome_from_result(
        suite_name,
        result,
        frame=frame,
        key_columns=key_columns,
        duration=time.perf_counter() - started,
        validated_at=validated_at,
        parameters=expectation_parameters,
    )


def _run_suite(
    vd: Any,
    frame: pd.DataFrame,
    result_format: Mapping[str, Any],
    expectation_parameters: dict[str, Any],
    *,
    store: bool,
) -> Any:
    """One GX validation of ``frame`` by the validation definition ``vd``; ``store``: keep its result for Data Docs."""
    batch_parameters = {"dataframe": frame}
    if store:
        return vd.run(
            batch_parameters=batch_parameters,
            result_format=dict(result_format),
            expectation_parameters=expectation_parameters,
        )
    batch = vd.batch_definition.get_batch(batch_parameters=batch_parameters)
    return batch.validate(vd.suite, result_format=dict(result_format), expectation_parameters=expectation_parameters)


def outcome_from_result(
    suite_name: str,
    result: Any,
    *,
    frame: pd.DataFrame,
    key_columns: list[str],
    duration: float,
    validated_at: dt.datetime,
    parameters: Mapping[str, Any] | None = None,
) -> SuiteOutcome:
    """Condense a GX ``ExpectationSuiteValidationResult`` on ``frame`` into a :class:`SuiteOutcome`.

    Suite parameters (``{"$PARAMETER": name}`` in an expectation's arguments) are shown with
    the value they had in this validation.
    """
    failures = tuple(_failure(r, frame, key_columns, parameters or {}) for r in result.results if not r.success)
    rows = len(frame)
    stats = result.statistics or {}
    return SuiteOutcome(
        suite_name=suite_name,
        success=bool(result.success),
        evaluated=int(stats.get("evaluated_expectations", len(result.results))),
        successful=int(stats.get("successful_expectations", len(result.results) - len(failures))),
        rows=rows,
        failures=failures,
        duration_seconds=round(duration, 3),
        validated_at=validated_at,
    )


_COLUMN_KWARGS = ("column", "column_A", "column_B")
_HIDDEN_KWARGS = {"column", "column_A", "column_B", "column_list", "batch_id", "condition_parser"}


def _failure(r: Any, frame: pd.DataFrame, key_columns: list[str], parameters: Mapping[str, Any]) -> FailedExpectation:
    config = r.expectation_config
    kwargs = dict(config.kwargs)
    columns = tuple(kwargs[k] for k in _COLUMN_KWARGS if k in kwargs) + tuple(kwargs.get("column_list") or ())
    res = r.result or {}
    exception = None
    for info in _exception_infos(r.exception_info):
        if info.get("raised_exception"):
            exception = str(info.get("exception_message") or "expectation raised an exception")
            break
    shown = {}
    for k, v in kwargs.items():
        if k in _HIDDEN_KWARGS or v is None:
            continue
        if isinstance(v, dict) and "$PARAMETER" in v:
            v = parameters.get(v["$PARAMETER"], v)
        if k == "value_set" and isinstance(v, list | tuple) and len(v) > 10:
            v = f"{len(v)} values"
        elif k == "row_condition":
            v = condition_text(v)
        shown[k] = jsonable(v)
    sample = [jsonable(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
    labels = (res.get("partial_unexpected_index_list") or [])[:SAMPLE_SIZE]
    rows = _rows_at(frame, labels, [*dict.fromkeys([*columns, *key_columns])])
    return FailedExpectation(
        expectation_type=config.type,
        columns=columns,
        severity=str(getattr(config, "severity", "critical") or "critical").lower().split(".")[-1],
        unexpected_count=_int_or_none(res.get("unexpected_count")),
        unexpected_percent=_float_or_none(res.get("unexpected_percent")),
        sample=sample,
        sample_rows=rows,
        kwargs=shown,
        observed_value=jsonable(res.get("observed_value")),
        details=jsonable(res.get("details")) if res.get("details") else None,
        exception=exception,
        notes=getattr(config, "notes", None),
    )


def _rows_at(frame: pd.DataFrame, labels: list[Any], columns: list[str]) -> list[dict[str, Any]]:
    """The failing rows GX pointed at (index labels), as their checked and key columns."""
    columns = [c for c in columns if c in frame.columns]
    if not labels or not columns or not all(isinstance(x, numbers.Integral) for x in labels):
        return []
    try:
        picked = frame.loc[[int(x) for x in labels], columns]
    except KeyError:
        return []
    return [jsonable(row) for row in picked.to_dict(orient="records")]


def condition_text(condition: Any) -> str:
    """``currency NOT_IN ['JPY', 'KRW']`` for a GX row condition (dict, model or string)."""
    if hasattr(condition, "model_dump"):
        condition = condition.model_dump(mode="json")
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        column = (condition.get("column") or {}).get("name")
        return f"{column} {condition.get('operator')} {condition.get('parameter')!r}"
    return condition if isinstance(condition, str) else json.dumps(jsonable(condition))


def _exception_infos(info: Any) -> list[dict[str, Any]]:
    """GX gives one info dict, or a dict of them keyed by metric id."""
    if not info:
        return []
    if "raised_exception" in info:
        return [info]
    return [v for v in info.values() if isinstance(v, dict)]


def jsonable(value: Any) -> Any:
    """Plain JSON types for values GX hands back (numpy scalars, Timestamps, NaN, NaT)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # includes numpy.float64
        return None if math.isnan(value) else float(value)
    if isinstance(value, dt.datetime | dt.date):  # includes pandas Timestamp and NaT
        text = value.isoformat()
        return None if text == "NaT" else text
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item) and type(value).__module__ == "numpy":
        return jsonable(item())
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp (NaT has none usable)
    if callable(isoformat):
        try:
            text = isoformat()
        except ValueError:
            return None
        return None if text == "NaT" else text
    if str(value) in ("NaT", "<NA>", "nan"):
        return None
    return str(value)


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _float_or_none(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _fmt_pct(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.3g}%"


def _short(v: Any, limit: int = 120) -> str:
    text = str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Rows validated at a time by :func:`validate_query` (settings ``duckdb.validation_chunk_rows``).
DEFAULT_CHUNK_ROWS = 1_000_000
_UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def validate_query(
    suite_name: str,
    conn: Any,
    sql: str,
    params: list[Any] | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    preview_rows: int = 0,
    now: dt.datetime | None = None,
    parameters: Mapping[str, Any] | None = None,
    row_filter: str | None = None,
    day_column: str | None = None,
) -> tuple[SuiteOutcome, pd.DataFrame | None]:
    """Validate the rows of a DuckDB query with a suite, ``chunk_rows`` rows in memory at a time.

    Up to ``chunk_rows`` rows this is :func:`validate_frame` on the whole result. Above it the
    rows are fetched and validated chunk by chunk and the outcomes merged (counts summed,
    samples kept from the first failing chunks); row-wise expectations mean the same either
    way, and key uniqueness, which spans chunks, is counted over the whole result in DuckDB, as
    are the aggregate expectations (row count, column maximum: the band and freshness rules).
    ``parameters``: suite parameters, as for :func:`validate_frame`. Returns the outcome and the first ``preview_rows`` rows (None when 0).

    ``row_filter``: a SQL predicate on the query's columns: the row-wise expectations look only at
    the rows it selects (the rows an incremental build rewrote), while key uniqueness (but see
    ``day_column``) and the aggregate expectations are still judged over the whole result. The
    outcome's ``rows`` is the whole result's count; the failures' percentages are of the
    filtered rows.

    ``day_column``: the day column ``row_filter`` selects on. A uniqueness key that holds it can
    repeat only within a day, so its duplicates are counted over the filtered rows alone (the
    other days were counted when they were written); any other key over the whole result.
    """
    import pandas as pd

    from orchestration.lib.frames import fetch_frame, iter_frames

    params = params or []
    validated_at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    total = conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    if total <= chunk_rows and row_filter is None:
        frame = fetch_frame(conn, sql, params)
        outcome = validate_frame(suite_name, frame, now=validated_at, parameters=parameters)
        return outcome, (frame.head(preview_rows) if preview_rows else None)
    started = time.perf_counter()
    duplicates = _duplicate_rows(suite_name, conn, sql, params, row_filter, day_column)
    aggregates, chunk_parameters = _aggregate_failures(suite_name, conn, sql, params, total, parameters or {})
    selected = f"SELECT * FROM ({sql}) WHERE {row_filter}" if row_filter else sql
    outcomes: list[SuiteOutcome] = []
    preview = None
    for chunk in iter_frames(conn, selected, params, max(1, chunk_rows)):
        if preview is None and preview_rows:
            preview = chunk.head(preview_rows).copy()
        outcomes.append(validate_frame(suite_name, chunk, now=validated_at, parameters=chunk_parameters))
    if not outcomes:  # nothing selected: the suite still runs (on no rows) so its expectations are counted
        empty = fetch_frame(conn, f"SELECT * FROM ({sql}) LIMIT 0", params)
        outcomes.append(validate_frame(suite_name, empty, now=validated_at, parameters=chunk_parameters))
    if preview is None and preview_rows:
        preview = pd.DataFrame()
    merged = merge_outcomes(suite_name, outcomes, duplicates, time.perf_counter() - started, validated_at)
    if row_filter is not None:
        merged = replace(merged, rows=total)
    if aggregates:
        merged = replace(
            merged,
            success=False,
            successful=merged.successful - len(aggregates),
            failures=(*merged.failures, *aggregates),
        )
    return merged, preview


_AGGREGATE_TYPES = ("expect_table_row_count_to_be_between", "expect_column_max_to_be_between")
#: Bounds that make an aggregate expectation hold on any chunk (it is judged on the whole result instead).
_OPEN_BOUNDS = {
    ("expect_table_row_count_to_be_between", "min_value"): 0,
    ("expect_table_row_count_to_be_between", "max_value"): 10**15,
    ("expect_column_max_to_be_between", "min_value"): dt.datetime(1900, 1, 1),
    ("expect_column_max_to_be_between", "max_value"): dt.datetime(9999, 1, 1),
}


def _aggregate_failures(
    suite_name: str, conn: Any, sql: str, params: list[Any], total: int, parameters: Mapping[str, Any]
) -> tuple[list[FailedExpectation], dict[str, Any]]:
    """Row-count and column-maximum expectations judged over the whole result in DuckDB.

    Returns their failures and the suite parameters for the chunks, with those expectations'
    parameters opened so that no chunk fails them (a chunk holds only part of the rows).
    """
    import pandas as pd

    validations_dir, docs_dir = gx_dirs()
    state = _state(validations_dir, docs_dir)
    with state.lock:
        expectations = list(state.definition(suite_name).suite.expectations)
    chunk_parameters = dict(parameters)
    failures: list[FailedExpectation] = []
    for expectation in expectations:
        config = expectation.configuration
        if config.type not in _AGGREGATE_TYPES:
            continue
        kwargs = dict(config.kwargs)
        bounds: dict[str, Any] = {}
        for bound in ("min_value", "max_value"):
            value = kwargs.get(bound)
            if isinstance(value, dict) and "$PARAMETER" in value:
                name = value["$PARAMETER"]
                chunk_parameters[name] = _OPEN_BOUNDS[(config.type, bound)]
                value = parameters.get(name)
            bounds[bound] = value
        column = kwargs.get("column")
        if config.type == "expect_table_row_count_to_be_between":
            observed: Any = total
        else:
            observed = conn.execute(f'SELECT max("{column}") FROM ({sql})', params).fetchone()[0]
        low, high = bounds["min_value"], bounds["max_value"]
        comparable = pd.Timestamp if column else (lambda v: v)
        held = observed is not None and (low is None or comparable(observed) >= comparable(low))
        held = held and (high is None or comparable(observed) <= comparable(high))
        if held:
            continue
        failures.append(
            FailedExpectation(
                expectation_type=config.type,
                columns=(column,) if column else (),
                severity=str(getattr(config, "severity", "critical") or "critical").lower().split(".")[-1],
                unexpected_count=None,
                unexpected_percent=None,
                kwargs={k: jsonable(v) for k, v in bounds.items() if v is not None},
                observed_value=jsonable(observed),
                notes=getattr(config, "notes", None),
            )
        )
    return failures, chunk_parameters


def _duplicate_rows(
    suite_name: str,
    conn: Any,
    sql: str,
    params: list[Any],
    row_filter: str | None = None,
    day_column: str | None = None,
) -> dict[tuple[str, ...], tuple[int, str]]:
    """Rows in duplicate-key groups, per unique expectation of the suite: over the whole query,
    or over the rows of ``row_filter`` for a key that holds ``day_column``."""
    validations_dir, docs_dir = gx_dirs()
    state = _state(validations_dir, docs_dir)
    with state.lock:
        expectations = list(state.definition(suite_name).suite.expectations)
    found: dict[tuple[str, ...], tuple[int, str]] = {}
    for expectation in expectations:
        config = expectation.configuration
        if config.type not in _UNIQUE_TYPES:
            continue
        columns = tuple(config.kwargs.get("column_list") or [config.kwargs["column"]])
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in columns)
        if row_filter and day_column in columns:
            not_null = f"({row_filter}) AND {not_null}"
        count = conn.execute(
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM ({sql}) WHERE {not_null} "
            f"GROUP BY {quoted} HAVING count(*) > 1)",
            params,
        ).fetchone()[0]
        severity = str(getattr(config, "severity", "critical") or "critical").lower().split(".")[-1]
        found[columns] = (int(count), severity)
    return found


def merge_outcomes(
    suite_name: str,
    outcomes: list[SuiteOutcome],
    duplicates: Mapping[tuple[str, ...], tuple[int, str]],
    duration: float,
    validated_at: dt.datetime,
) -> SuiteOutcome:
    """One outcome for the chunks of one result; ``duplicates``: whole-result counts of unique expectations."""
    rows = sum(o.rows for o in outcomes)
    merged: dict[tuple[str, tuple[str, ...], str], FailedExpectation] = {}
    for outcome in outcomes:
        for f in outcome.failures:
            key = (f.expectation_type, f.columns, json.dumps(f.kwargs, sort_keys=True, default=str))
            seen = merged.get(key)
            if seen is None:
                merged[key] = f
                continue
            count = (
                None
                if seen.unexpected_count is None or f.unexpected_count is None
                else seen.unexpected_count + f.unexpected_count
            )
            merged[key] = FailedExpectation(
                **{
                    **seen.to_dict(),
                    "unexpected_count": count,
                    "sample": (seen.sample + f.sample)[:SAMPLE_SIZE],
                    "sample_rows": (seen.sample_rows + f.sample_rows)[:SAMPLE_SIZE],
                    "exception": seen.exception or f.exception,
                }
            )
    failures: list[FailedExpectation] = []
    for f in merged.values():
        if f.expectation_type in _UNIQUE_TYPES and f.columns in duplicates:
            f = FailedExpectation(**{**f.to_dict(), "unexpected_count": duplicates[f.columns][0]})
        if f.unexpected_count is not None and rows:
            f = FailedExpectation(**{**f.to_dict(), "unexpected_percent": 100.0 * f.unexpected_count / rows})
        failures.append(f)
    failing_unique = {f.columns for f in failures if f.expectation_type in _UNIQUE_TYPES}
    for columns, (count, severity) in duplicates.items():
        if count and columns not in failing_unique:  # duplicates only across chunks
            failures.append(
                FailedExpectation(
                    expectation_type=_UNIQUE_TYPES[0] if len(columns) == 1 else _UNIQUE_TYPES[1],
                    columns=columns,
                    severity=severity,
                    unexpected_count=count,
                    unexpected_percent=100.0 * count / rows if rows else None,
                    notes="duplicates found across validation chunks (counted in DuckDB over all rows)",
                )
            )
    evaluated = max((o.evaluated for o in outcomes), default=0)
    return SuiteOutcome(
        suite_name=suite_name,
        success=not failures,
        evaluated=evaluated,
        successful=evaluated - len({(f.expectation_type, f.columns) for f in failures}),
        rows=rows,
        failures=tuple(failures),
        duration_seconds=round(duration, 3),
        validated_at=validated_at,
    )


# ---------------------------------------------------------------- Data Docs


#: Validation results older than this are deleted before Data Docs are built: the site
#: renders every stored result, and a year of nightly results would take minutes to render.
KEEP_RESULTS_DAYS = 30


def prune_validation_results(validations_dir: Path, keep_days: int = KEEP_RESULTS_DAYS) -> int:
    """Delete stored validation results older than ``keep_days``; return how many were deleted."""
    root = Path(validations_dir)
    if not root.is_dir():
        return 0
    cutoff = time.time() - keep_days * 86_400
    removed = 0
    for path in root.rglob("*.json"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    remove_empty_folders(root)
    return removed


def suite_file(suite_name: str) -> Path:
    """The committed JSON file of the suite ``suite_name`` (it may not exist)."""
    return CONTEXT_ROOT / "expectations" / f"{suite_name}.json"


def _suite_page_stale(key: Any, site_dir: Path) -> bool:
    """Whether the Data Docs page of the suite ``key`` is missing or older than the suite's file."""
    name = "/".join(key.to_tuple())
    page = site_dir / "expectations" / f"{name}.html"
    suite = suite_file(name)
    if not page.is_file() or not suite.is_file():
        return True
    return page.stat().st_mtime < suite.stat().st_mtime


def remove_empty_folders(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only empty ones


def build_data_docs(site_dir: Path, validations_dir: Path | None = None, keep_days: int = KEEP_RESULTS_DAYS) -> Path:
    """Render GX Data Docs (every suite and every stored validation result) into ``site_dir``.

    Results are those :func:`validate_frame` stored under ``<data_dir>/gx/validations``
    (or ``validations_dir``); results older than ``keep_days`` are deleted first, with their
    pages. Incremental: a result's page never changes once rendered, so only the results
    without a page yet are rendered (GX renders every stored result otherwise: a night's
    ~70 more each night, up to ``keep_days`` nights of them), and a suite's page only when
    its suite file is newer (50 pages, 0.65 s a night); the index always. Delete the site
    folder to render everything again (e.g. after a GX upgrade). The file context is the one
    this process's validations loaded, when they wrote to the same folders (loading one: ~0.9 s).
    Returns the path of the site's ``index.html``.
    """
    site_dir = Path(site_dir).resolve()
    site_dir.mkdir(parents=True, exist_ok=True)
    if validations_dir is None:
        validations_dir, _ = gx_dirs()
    validations_dir = Path(validations_dir).resolve()
    prune_validation_results(validations_dir, keep_days)
    state = _state(validations_dir, site_dir)
    with state.lock:
        context = state.context
        results = {"/".join(key.to_tuple()): key for key in context.validation_results_store.list_keys()}
        pages_dir = site_dir / "validations"
        pages = {str(p.relative_to(pages_dir))[: -len(".html")]: p for p in pages_dir.rglob("*.html")}
        for name, page in pages.items():
            if name not in results:  # its result was pruned
                page.unlink()
        if pages_dir.is_dir():
            remove_empty_folders(pages_dir)
        new = [key for name, key in results.items() if name not in pages]
        suites = [key for key in context.expectations_store.list_keys() if _suite_page_stale(key, site_dir)]
        context.build_data_docs(site_names=["local_site"], resource_identifiers=[*suites, *new])
    index = site_dir / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GX did not write Data Docs to {site_dir} (no index.html)")
    return index
