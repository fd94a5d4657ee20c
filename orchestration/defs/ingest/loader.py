"""Load canonical landing files into ``raw.<table>``: drift check, quarantine, one transaction.

1. Every file's header is compared with the contract before anything is read: a missing key or
   required column fails the load with the file, the columns (and likely renames) and the fix; a
   missing optional column loads as NULL; extra columns are ignored. Both are reported.
2. The files are read with DuckDB's ``read_csv(..., store_rejects = true)``: rows that do not fit
   the contract's types (or have the wrong number of fields, or bad UTF-8) are set aside with their
   line number while the good rows load.
3. In one transaction: the partitions are replaced, the rejected rows (and the rows the connector's
   parser rejected, from ``_rejects/*.jsonl``) replace their batches in ``raw._quarantine``, and the
   connector's cursors are advanced. If more than ``max_reject_ratio`` of a file's rows were
   rejected, nothing is committed: a file that is mostly bad is a format problem, not bad rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.defs.ingest.formats import FileFormatError, SchemaDriftError, check_header
from orchestration.lib import landing as lnd
from orchestration.lib.schemas import RawTable
from orchestration.lib.warehouse import (
    ensure_meta_tables,
    landing_files_loaded,
    quarantine_batches,
    record_landing_files,
    record_snapshot_load,
    replace_partitions_in_transaction,
    replace_quarantine_batch,
    replace_source_files_in_transaction,
    rows_per_source_file,
    transaction,
    write_cursors,
)

log = logging.getLogger(__name__)


class LoadRejectedError(ValueError):
    """Too many rows of a landing file were rejected; nothing was committed."""


@dataclass
class LoadResult:
    rows: int = 0
    quarantined: int = 0  # rows set aside by the load (type errors) in this load
    parser_quarantined: int = 0  # rows the connector's parser set aside, newly put in the quarantine
    extra_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns
    missing_optional: dict[str, list[str]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # a few rejected rows, for the log
    # Whole-table loads (snapshots, series): the SHA-256 of the landing files loaded (files_sha256).
    files_sha256: str | None = None
    # Set instead of loading when the landing files are those of the rows already in the table and
    # a run's suite passed on them: that run's id (nothing was loaded).
    unchanged_since: str | None = None
    # Series loads: the landing files read, and the files gone from landing whose rows were dropped.
    files_loaded: int = 0
    files_removed: int = 0
    series_plan: str = ""  # SeriesFiles.reason: why the series load was whole or partial


@dataclass
class SeriesFiles:
    """What a series load (rows = the union of its day files) knows of its landing files.

    ``digests``: ``{source file: SHA-256}`` of every file in landing; ``signature``: of the table's
    contract and suite; ``replaced``: the source files a partial load replaces (new or changed) or
    drops (gone), None for a whole load; ``reason``: why the load is whole or partial (logged)."""

    digests: dict[str, str]
    signature: str
    replaced: list[str] | None = None
    reason: str = ""


def file_digests(files: list[Path]) -> dict[str, str]:
    """``{str(path): SHA-256 of its bytes}``: the keys are the loaded rows' ``_source_file``."""
    return {str(path): lnd.sha256(path.read_bytes()) for path in files}


def files_sha256(files: list[Path], *context: bytes, digests: dict[str, str] | None = None) -> str:
    """One SHA-256 of a set of landing files (their names and contents, in name order) and of
    ``context``: what else the rows loaded and their validation depend on (the table's contract,
    its suite), so that a change to either loads and validates the same files again.
    ``digests`` (``file_digests``): the files' SHA-256 already computed."""
    digest = hashlib.sha256()
    for part in context:
        digest.update(lnd.sha256(part).encode("ascii") + b"\n")
    for path in sorted(files, key=lambda p: p.name):
        sha = digests[str(path)] if digests is not None else lnd.sha256(path.read_bytes())
        digest.update(path.name.encode("utf-8") + b"\0" + sha.encode("ascii") + b"\n")
    return digest.hexdigest()


def plan_series_load(
    conn: duckdb.DuckDBPyConnection, table: RawTable, files: list[Path], digests: dict[str, str], signature: str
) -> tuple[list[Path], SeriesFiles]:
    """The files a series load reads, and what it replaces.

    Partial when the table's rows are those of the files recorded in ``raw._landing_files`` (rows
    per file as recorded) under the same contract and suite: only the new and changed files are
    read, the rows of changed and removed files are replaced. Whole otherwise (first load, a
    warehouse of an earlier version, another contract or suite, or a table that no longer holds
    what was recorded): a whole load gives the same table, only slower.
    """
    before = landing_files_loaded(conn, table.name)
    whole = SeriesFiles(digests, signature, None)
    if not before:
        whole.reason = "no record of the files loaded before: whole load"
        return files, whole
    if any(sig != signature for _sha, sig, _rows in before.values()):
        whole.reason = "the table's contract or suite changed since the files were loaded: whole load"
        return files, whole
    recorded = {source: rows for source, (_sha, _sig, rows) in before.items() if rows}
    if rows_per_source_file(conn, table) != recorded:
        whole.reason = f"raw.{table.name} does not hold the rows recorded for its files: whole load"
        return files, whole
    changed = [f for f in files if before.get(str(f), ("",))[0] != digests[str(f)]]
    removed = sorted(set(before) - set(digests))
    partial = SeriesFiles(digests, signature, [str(f) for f in changed] + removed)
    partial.reason = (
        f"{len(changed)} new or changed and {len(removed)} removed of {len(files)} landing file(s) "
        f"(the other files' rows kept)"
    )
    return changed, partial


def read_header(path: Path, source: str) -> list[str]:
    with path.open("rb") as f:
        first = f.readline()
    if not first.strip():
        raise FileFormatError(
            f"{source}: landing file {path} is empty (no header row); delete it and rerun the partition, "
            f"or export the table again"
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{source}: the header of landing file {path} is not UTF-8 (byte {first[exc.start : exc.start + 1]!r}); "
            f"landing files are UTF-8 CSV: re-export the file as UTF-8"
        ) from None
    return [h.strip() for h in next(csv.reader(io.StringIO(text)))]


def check_files(table: RawTable, files: list[Path], source: str) -> dict[tuple[str, ...], list[Path]]:
    """Files grouped by header, after the drift check (raises on missing key/required columns)."""
    needed = list(dict.fromkeys((*table.primary_key, *table.required)))
    optional = [c for c in table.columns if c not in needed]
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path in files:
        header = read_header(path, source)
        check_header(
            header, needed, optional, source=source, origin=str(path), delimiter=",",
            fix=f"Landing files carry the contract columns of {table.name} (orchestration/lib/schemas.py): "
            f"fix the export or its mapping, or delete the file and rerun the partition.",
        )  # fmt: skip
        groups.setdefault(tuple(header), []).append(path)
    return groups


def select_sql(table: RawTable, header: tuple[str, ...], files: list[Path], rejects: str | None) -> str:
    """A SELECT of the contract columns from same-header landing files; bad rows go to ``rejects`` tables."""
    file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    types = {c: table.columns.get(c, "VARCHAR") for c in header}
    columns = ", ".join("'" + c.replace("'", "''") + f"': '{t}'" for c, t in types.items())
    proj = ", ".join(f'"{c}"' if c in header else f'CAST(NULL AS {t}) AS "{c}"' for c, t in table.columns.items())
    opts = f", store_rejects = true, rejects_table = '{rejects}_e', rejects_scan = '{rejects}_s'" if rejects else ""
    return (
        f"SELECT {proj}, filename AS _source_file FROM read_csv([{file_list}], "
        f"header = true, delim = ',', quote = '\"', columns = {{{columns}}}, auto_detect = false, "
        f"dateformat = '%Y-%m-%d', timestampformat = '%Y-%m-%d %H:%M:%S', filename = true, nullstr = ''{opts})"
    )


def load(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[Path],
    days: set[dt.date] | None,
    *,
    source: str,
    landing: Path,
    run_id: str | None = None,
    cursors: dict[str, str | None] | None = None,
    max_reject_ratio: float = 0.5,
    files_sha256: str | None = None,
    series: SeriesFiles | None = None,
) -> LoadResult:
    """Replace the partitions ``days`` (None: the whole table) with the files' rows, atomically.

    ``files_sha256`` (whole-table loads): recorded with the rows (``raw._snapshot_loads``), not
    yet validated, so that the same files the next night are recognised once a suite passed.
    ``series`` (``plan_series_load``): a series table's files, recorded in ``raw._landing_files``;
    a partial plan replaces only the rows of its ``replaced`` files with those of ``files``.
    """
    result = LoadResult(files_sha256=files_sha256, files_loaded=len(files), series_plan=series.reason if series else "")
    partial = series is not None and series.replaced is not None
    label = f"{table.family}.{table.name}"
    groups = check_files(table, files, label) if files else {}
    needed = set(table.columns)
    for header, paths in groups.items():
        extra = sorted(set(header) - needed)
        missing = sorted(needed - set(header))
        for p in paths:
            if extra:
                result.extra_columns[p.name] = extra
            if missing:
                result.missing_optional[p.name] = missing
    if result.extra_columns or result.missing_optional:
        log.warning(
            "%s: landing files differ from the contract: extra columns %s, missing optional columns (NULL) %s",
            label, result.extra_columns, result.missing_optional,
        )  # fmt: skip
    tag = "tw_rej_" + secrets.token_hex(4)
    names = [f"{tag}_{i}" for i in range(len(groups))]
    ensure_meta_tables(conn)
    with transaction(conn):
        if groups:
            relation = " UNION ALL ".join(
                select_sql(table, h, ps, n) for (h, ps), n in zip(groups.items(), names, strict=True)
            )
            if partial:
                result.rows = replace_source_files_in_transaction(conn, table, relation, series.replaced)
            else:
                result.rows = replace_partitions_in_transaction(conn, table, relation, days)
            rejected = _rejected_rows(conn, names)
            _check_ratio(conn, table, days, rejected, max_reject_ratio, label)
            result.quarantined = _quarantine_landing(conn, table, files, rejected, source, landing, run_id)
            result.reasons = [f"{r['origin']}:{r['line']}: {r['reason']}" for r in rejected[:5]]
        elif partial and series.replaced:  # only files gone from landing: their rows go
            replace_source_files_in_transaction(conn, table, None, series.replaced)
        if partial:
            result.files_removed = len(set(series.replaced) - {str(f) for f in files})
        result.parser_quarantined = _quarantine_parser_rejects(conn, table, landing, run_id)
        if cursors:
            write_cursors(conn, table.name, cursors, run_id)
        if files_sha256 is not None:
            record_snapshot_load(conn, table.name, files_sha256, run_id)
        if series is not None:
            record_landing_files(conn, table, series.digests, series.signature, series.replaced, run_id)
    for n in names:
        for suffix in ("_e", "_s"):
            conn.execute(f"DROP TABLE IF EXISTS temp.{n}{suffix}")
    if result.quarantined:
        log.warning("%s: %s row(s) quarantined by the load: %s", label, result.quarantined, "; ".join(result.reasons))
    return result


def _rejected_rows(conn: duckdb.DuckDBPyConnection, names: list[str]) -> list[dict]:
    """One row per rejected line (DuckDB may report several errors for one line), file and line order."""
    rows: dict[tuple[str, int], dict] = {}
    for n in names:
        exists = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [f"{n}_e"]
        ).fetchone()[0]
        if not exists:
            continue
        for path, line, col, etype, msg, raw in conn.execute(
            f"SELECT s.file_path, e.line, e.column_name, e.error_type, e.error_message, e.csv_line "
            f"FROM temp.{n}_e e JOIN temp.{n}_s s USING (scan_id, file_id) ORDER BY s.file_path, e.line, e.column_idx"
        ).fetchall():
            reason = f"{etype}: {msg}"
            if (path, line) in rows:
                if reason not in rows[(path, line)]["reason"]:
                    rows[(path, line)]["reason"] += f"; {reason}"
                continue
            rows[(path, line)] = {"origin": path, "line": line, "column_name": col, "reason": reason, "raw_record": raw}
    return list(rows.values())


def _check_ratio(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    days: set[dt.date] | None,
    rejected: list[dict],
    max_ratio: float,
    label: str,
) -> None:
    if not rejected:
        return
    bad: dict[str, int] = {}
    for r in rejected:
        bad[r["origin"]] = bad.get(r["origin"], 0) + 1
    good = dict(
        conn.execute(
            f'SELECT _source_file, count(*) FROM raw."{table.name}" WHERE _source_file IN '
            f"(SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [list(bad)],
        ).fetchall()
    )
    for origin, n in bad.items():
        total = n + good.get(origin, 0)
        if n / total > max_ratio:
            first = next(r for r in rejected if r["origin"] == origin)
            raise LoadRejectedError(
                f"{label}: {n} of {total} rows of {origin} were rejected (more than {max_ratio:.0%}), so nothing "
                f"was loaded and raw.{table.name} keeps its previous rows. First: line {first['line']}: "
                f"{first['reason']}. Is the file in the landing format (comma-separated, ISO dates, '.' decimals)?"
            )


def _batch(landing: Path, path: str | Path) -> str:
    """``landing:<path under landing>``; a path not under ``landing`` as written is resolved first
    (symbolic links), which costs a system call per path component for each of a series' files."""
    try:
        return "landing:" + str(Path(path).relative_to(landing))
    except ValueError:
        pass
    try:
        return "landing:" + str(Path(path).resolve().relative_to(Path(landing).resolve()))
    except ValueError:
        return "landing:" + str(path)


def _quarantine_landing(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    files: list[Path],
    rejected: list[dict],
    source: str,
    landing: Path,
    run_id: str | None,
) -> int:
    """Each loaded file is one batch: its quarantined rows are replaced (a fixed file clears them)."""
    by_file: dict[str, list[dict]] = {str(f): [] for f in files}
    for r in rejected:
        by_file.setdefault(r["origin"], []).append(r)
    known = quarantine_batches(conn, table.name)
    n = 0
    for path, rows in by_file.items():
        batch = _batch(landing, path)
        if not rows and batch not in known:
            continue
        recs = [
            {**r, "source": source, "table_name": table.name, "batch": batch, "run_id": run_id,
             "partition_date": _day(path)}
            for r in rows
        ]  # fmt: skip
        n += replace_quarantine_batch(conn, table.name, batch, recs)
    return n


def _day(path: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(Path(path).stem)
    except ValueError:
        return None


def _quarantine_parser_rejects(
    conn: duckdb.DuckDBPyConnection, table: RawTable, landing: Path, run_id: str | None
) -> int:
    """Sidecar files of the connector's parser: each new or changed one replaces its fetch's batch."""
    folder = lnd.table_dir(landing, table) / lnd.REJECTS_DIR
    if not folder.is_dir():
        return 0
    known = quarantine_batches(conn, table.name)
    n = 0
    for path in sorted(folder.glob("*.jsonl")):
        data = path.read_bytes()
        digest = lnd.sha256(data)
        batch = f"fetch:{path.stem}"
        if known.get(batch) == digest:
            continue
        recs = [
            {**r, "table_name": table.name, "batch": batch, "batch_sha256": digest, "run_id": run_id}
            for r in lnd.read_rejects(path)
        ]
        n += replace_quarantine_batch(conn, table.name, batch, recs)
    return n


__all__ = [
    "LoadRejectedError",
    "LoadResult",
    "SeriesFiles",
    "SchemaDriftError",
    "check_files",
    "file_digests",
    "files_sha256",
    "load",
    "plan_series_load",
    "select_sql",
]
