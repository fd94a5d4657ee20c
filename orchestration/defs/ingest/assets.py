"""Ingest assets: one per raw table, grouped by source family.

Each asset fetches its days (or snapshot) into the landing folder through the configured
connector, loads the landing files into ``raw.<table>`` replacing exactly the partition
range of the run (plus the earlier days an incremental source changed, e.g. orders updated
or cancelled since the last run), with rows that do not parse set aside in ``raw._quarantine``
and the connector's cursors advanced in the same transaction (``loader.py``), then validates
the rows it loaded with the table's Great Expectations suite as an inline blocking check: a
failing gate stops everything downstream.
"""

import datetime as dt
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.ingest.connectors import FetchOutcome, days, fetch
from orchestration.defs.ingest.formats import FileFormatError, SchemaDriftError
from orchestration.defs.ingest.loader import (
    LoadRejectedError,
    LoadResult,
    file_digests,
    files_sha256,
    load,
    plan_series_load,
)
from orchestration.defs.ingest.partitions import daily_partitions
from orchestration.lib.catalog import OWNERS, WAREHOUSE_POOL, cadence_freshness, table_schema
from orchestration.lib.schemas import RAW_TABLES, RawTable
from orchestration.lib.settings import Settings, get_settings
from orchestration.lib.warehouse import (
    META_COLUMNS,
    RAW_SCHEMA,
    WarehouseResource,
    partition_filter,
    read_cursors,
    record_snapshot_validated,
    snapshot_validated_run,
)

PREVIEW_ROWS = 10
#: The loader's own columns on every raw table (``orchestration/lib/warehouse.py``).
META_COLUMN_DOCS = {
    "_partition_date": "Day the row belongs to (its partition column as a date); NULL on snapshot tables.",
    "_source_file": "Landing file the row was read from.",
    "_loaded_at": "When the row was loaded (UTC).",
}


class LandingFileError(RuntimeError):
    """A landing file could not be read; the message names the file and what to fix."""


def read_csv_sql(table: RawTable, files: list[Path]) -> str:
    """A SELECT over landing CSV files with the contract's column types, strict and explicit."""
    file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    columns = ", ".join(f"'{c}': '{t}'" for c, t in table.columns.items())
    return (
        f"SELECT * EXCLUDE (filename), filename AS _source_file FROM read_csv([{file_list}], "
        f"header = true, delim = ',', quote = '\"', columns = {{{columns}}}, auto_detect = false, "
        f"dateformat = '%Y-%m-%d', timestampformat = '%Y-%m-%d %H:%M:%S', filename = true, nullstr = '')"
    )


def load_range(table: RawTable, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The days a run of partitions ``first..last`` reloads: those plus the restated days before."""
    return first - dt.timedelta(days=table.restatement_days), last


def _range_of(context: dg.AssetExecutionContext, table: RawTable) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return load_range(table, window.start.date(), (window.end - dt.timedelta(days=1)).date())


def run_ingest(
    table: RawTable,
    start: dt.date | None,
    end: dt.date | None,
    settings: Settings,
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    run_id: str | None = None,
) -> tuple[FetchOutcome, LoadResult | None]:
    """Fetch a table's range into landing and load it (what the asset does, without Dagster).

    The cursors are read before the fetch (the fetch holds no warehouse connection) and written
    by the load, in the transaction that commits the rows. ``None`` as result: nothing to load.

    A whole-table load (snapshot or series) whose landing files are byte for byte those of the
    rows in the table, on which a run's suite passed, loads nothing: the result says since which
    run (``LoadResult.unchanged_since``), and the asset does not validate the rows again.
    """
    with connect() as conn:
        cursors = read_cursors(conn, table.name)
    fetched = fetch(table, start, end, settings, cursors)
    files = fetched.files
    if not files and not fetched.cursors:
        return fetched, None
    whole_table = bool(files) and not table.daily_partitioned
    digests = file_digests(files) if whole_table else {}
    digest = load_signature(table, files, digests) if whole_table else None
    with connect() as conn:
        validated_in = snapshot_validated_run(conn, table.name, digest) if digest else None
        to_load, series = ([] if validated_in else files), None
        if table.series and files and not validated_in:
            to_load, series = plan_series_load(conn, table, files, digests, load_signature(table, [], {}))
        try:
            # Unchanged: a load of no files, which still quarantines what tonight's fetch set aside
            # and moves the cursors, and leaves the rows (and their validation) as they are.
            result = load(
                conn,
                table,
                to_load,
                fetched.load_days if table.daily_partitioned else None,
                source=fetched.source.connector,
                landing=settings.landing,
                run_id=run_id,
                cursors=fetched.cursors,
                max_reject_ratio=fetched.source.options.max_reject_ratio,
                files_sha256=None if validated_in else digest,
                series=series,
            )
        except (SchemaDriftError, FileFormatError, LoadRejectedError):
            raise  # their messages name the file, the columns and the fix
        except Exception as exc:  # re-raised with the source, the files and the fix
            raise LandingFileError(
                f"loading {table.family}.{table.name} from {len(files)} landing file(s) "
                f"({files[0].parent if files else settings.landing}) failed: {exc}. Fix or remove the named "
                f"file and rerun the partition; the previous rows of raw.{table.name} were kept."
            ) from exc
    if validated_in:
        result.files_sha256, result.unchanged_since = digest, validated_in
    return fetched, result


def load_signature(table: RawTable, files: list[Path], digests: dict[str, str] | None = None) -> str:
    """What a whole-table load of ``files`` is recognised by: the files, the table's contract and
    its suite (``raw_<table>``; a suite not written yet counts as empty). ``digests``: the files'
    SHA-256 (``file_digests``) when already computed; no files: the contract and suite alone."""
    from orchestration.defs.quality.validation import suite_file

    contract = json.dumps(
        {"columns": table.columns, "primary_key": list(table.primary_key), "required": list(table.required)},
        sort_keys=True,
    ).encode("utf-8")
    suite = suite_file(f"raw_{table.name}")
    return files_sha256(files, contract, suite.read_bytes() if suite.is_file() else b"", digests=digests)


def raw_column_schema(table: RawTable, column_docs: dict[str, str] | None = None) -> dg.TableSchema:
    """The columns of ``raw.<table>``: the contract's, then the loader's, described by the dbt source docs."""
    return table_schema({**table.columns, **META_COLUMNS}, {**META_COLUMN_DOCS, **(column_docs or {})})


def build_ingest_asset(table: RawTable, column_docs: dict[str, str] | None = None) -> dg.AssetsDefinition:
    """The ingest asset of one raw table, with its GX gate as an inline blocking check.

    ``column_docs``: ``{column: description}`` from the dbt source of the table (the UI shows
    them in the asset's column schema).
    """
    from orchestration.defs.quality import raw_check_spec

    key = dg.AssetKey([RAW_SCHEMA, table.name])
    check_spec = raw_check_spec(table.name)

    @dg.asset(
        key=key,
        group_name=table.family,
        description=table.description,
        partitions_def=daily_partitions if table.daily_partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if table.daily_partitioned else None,
        check_specs=[check_spec],
        kinds={"python", "duckdb", "csv"},
        tags={"family": table.family, "cadence": table.cadence},
        owners=[OWNERS["ingest"]],
        freshness_policy=cadence_freshness(table.cadence),
        pool=WAREHOUSE_POOL,
        metadata={
            "dagster/column_schema": raw_column_schema(table, column_docs),
            "dagster/table_name": f"{RAW_SCHEMA}.{table.name}",
            "primary_key": ", ".join(table.primary_key),
        },
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        from orchestration.defs.quality import outcome_to_check_result, validate_query

        settings = get_settings()
        start, end = _range_of(context, table) if table.daily_partitioned else (None, None)
        t0 = time.monotonic()
        fetched, result = run_ingest(table, start, end, settings, warehouse.connect, run_id=context.run.run_id)
        files = fetched.files
        span = f"{start}..{end}" if table.daily_partitioned else ("whole series" if table.series else "snapshot")
        extra_days = sorted((fetched.load_days or set()) - set(days(start, end))) if start and end else []
        context.log.info(
            f"{table.family}.{table.name} ({fetched.source.connector}): {len(files)} landing file(s) for {span}"
            + (f" and {len(extra_days)} day(s) the source changed before it ({extra_days[0]}..)" if extra_days else "")
            + (f"; {result.series_plan}" if result is not None and result.series_plan else "")
        )
        where, params = partition_filter(fetched.load_days if table.daily_partitioned else None)
        rows = result.rows if result is not None else 0
        unchanged_since = result.unchanged_since if result is not None else None
        if result is None:
            context.log.warning(f"{table.family}.{table.name}: no landing files, previous rows kept")
        select = f'SELECT * EXCLUDE (_partition_date, _source_file, _loaded_at) FROM {RAW_SCHEMA}."{table.name}"'
        with warehouse.connect() as conn:
            if result is not None and (result.quarantined or result.parser_quarantined):
                context.log.warning(
                    f"{table.family}.{table.name}: {result.quarantined + result.parser_quarantined} row(s) quarantined "
                    f"in raw._quarantine (e.g. {'; '.join(result.reasons[:3]) or 'see the parser rejects'})"
                )
            if unchanged_since is not None:
                context.log.info(
                    f"{table.family}.{table.name}: the landing files are byte for byte those of the rows in the "
                    f"table, on which run {unchanged_since[:8]}'s suite passed: not loaded again, not validated again"
                )
                outcome, preview = None, conn.execute(f"{select} LIMIT {PREVIEW_ROWS}").df()
            else:
                # Validated in DuckDB-fetched chunks: a multi-year backfill never sits in memory whole.
                outcome, preview = validate_query(
                    f"raw_{table.name}",
                    conn,
                    f"{select} WHERE {where}",
                    params,
                    chunk_rows=settings.duckdb.validation_chunk_rows,
                    preview_rows=PREVIEW_ROWS,
                )
                if outcome.success and result is not None and result.files_sha256:
                    record_snapshot_validated(conn, table.name, result.files_sha256, context.run.run_id)
            total = conn.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{table.name}"').fetchone()[0]
        elapsed = time.monotonic() - t0
        context.log.info(f"{table.family}.{table.name}: {rows} rows in, {total} rows in table, {elapsed:.1f}s")
        extra_meta: dict[str, object] = {}
        if fetched.source.mode != "sample":
            extra_meta.update(fetched.metadata())
        if result is not None:
            extra_meta["rows_quarantined"] = result.quarantined + result.parser_quarantined
            if result.series_plan:
                extra_meta["landing_files_read"] = result.files_loaded
                extra_meta["landing_files_removed"] = result.files_removed
            if result.extra_columns or result.missing_optional:
                extra_meta["landing_schema_drift"] = dg.MetadataValue.json(
                    {"extra": result.extra_columns, "missing_optional": result.missing_optional}
                )
        if unchanged_since is not None:
            extra_meta["unchanged_since_run"] = unchanged_since
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(total),
                "rows_loaded": int(rows),
                "landing_files": len(files),
                "partition_range": span,
                "partitions_reloaded": len(fetched.load_days) if fetched.load_days is not None else "all",
                "preview": dg.MetadataValue.md(preview.to_markdown(index=False) or "(no rows)"),
                "elapsed_seconds": round(elapsed, 2),
                **extra_meta,
            }
        )
        if outcome is None:  # unchanged_since: the suite passed on these very rows in that run
            yield dg.AssetCheckResult(
                passed=True,
                asset_key=key,
                check_name=check_spec.name,
                metadata={
                    "suite": f"raw_{table.name}",
                    "rows_in_table": int(total),
                    "validated_in_run": unchanged_since,
                },
                description=(
                    f"Not validated again: raw.{table.name} holds the rows of the same landing files, on which "
                    f"suite raw_{table.name} passed in run {unchanged_since}."
                ),
            )
        else:
            yield outcome_to_check_result(outcome, asset_key=key, check_name=check_spec.name)

    return _ingest


def build_ingest_assets(column_docs: dict[str, dict[str, str]] | None = None) -> list[dg.AssetsDefinition]:
    """One asset per raw table; ``column_docs``: ``{table: {column: description}}``."""
    docs = column_docs or {}
    return [build_ingest_asset(t, docs.get(t.name)) for t in RAW_TABLES.values()]
