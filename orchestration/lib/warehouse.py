"""Warehouse access: one DuckDB file, one writer.

The pipeline is the only read-write user of the working warehouse. Every asset that
touches it goes through :class:`WarehouseResource` so that threads and memory limits come
from the settings and connections are always closed. A run holds the database open between
its steps (:func:`hold`): another process can open the file only during a step that
:func:`suspend`-s it (the dbt build) or once the run is over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from orchestration.lib.schemas import RawTable

if TYPE_CHECKING:
    from orchestration.lib.settings import Settings

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
META_COLUMNS: dict[str, str] = {
    "_partition_date": "DATE",
    "_source_file": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}


class _Held:
    """A warehouse held open for a run: the connection that keeps its database instance alive."""

    def __init__(self) -> None:
        self.holders = 0
        self.anchor: duckdb.DuckDBPyConnection | None = None
        self.memory_limit: str | None = None  # the anchor's, to restore after trim_held


#: Warehouses held open for the runs in this process, by resolved path (:func:`hold`).
_HELD: dict[str, _Held] = {}


def _key(path: str | Path) -> str:
    """A warehouse's key in :data:`_HELD`: one file, however its path is spelled."""
    return str(Path(path).resolve())


def _open(path: Path, read_only: bool, threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | int] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    return duckdb.connect(str(path), read_only=read_only, config=config)


def connect(
    path: str | Path,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating its folder when writing) with the configured limits.

    On a warehouse held for a run (:func:`hold`) this is a new connection to the run's open
    database (its limits are those it was opened with, and ``read_only`` is not enforced: the
    run is the warehouse's one writer); closing it leaves the database open for the next step.
    """
    path = Path(path)
    held = _HELD.get(_key(path))
    if held is None:
        return _open(path, read_only, threads, memory_limit)
    if held.anchor is None:
        held.anchor = _open(path, False, threads, memory_limit)
        held.memory_limit = memory_limit
    return held.anchor.cursor()


def hold(path: str | Path) -> None:
    """Keep the warehouse open between the connections of this process's run, until :func:`release`.

    Opening the 2 GB warehouse at SF 10 and checkpointing it when its last connection closed
    cost each step 20-60 ms, several times per step: ~5 s of a one-day night. Held, the
    database opens at the run's first :func:`connect`, checkpoints as its WAL grows (DuckDB's
    ``checkpoint_threshold``) and at :func:`suspend` or :func:`release`, and its buffer pool stays
    warm from one step to the next. Another process (dbt) needs :func:`suspend` first.
    Holds count: a path held twice is released by the second :func:`release`.
    """
    _HELD.setdefault(_key(path), _Held()).holders += 1


def suspend(path: str | Path) -> None:
    """Close a held warehouse's database (a checkpoint) so that another process can open it; the next
    :func:`connect` opens it again."""
    held = _HELD.get(_key(path))
    if held is not None and held.anchor is not None:
        anchor, held.anchor = held.anchor, None
        anchor.close()


def release(path: str | Path) -> None:
    """End one :func:`hold`; the last closes the database."""
    key = _key(path)
    held = _HELD.get(key)
    if held is None:
        return
    held.holders -= 1
    if held.holders <= 0:
        suspend(path)
        del _HELD[key]


#: Above this resident size of the process, :func:`trim_held` empties the held databases' caches.
TRIM_ABOVE_RSS_BYTES = 1536 * 2**20
#: The memory limit a held database is lowered to for a moment to give its cached blocks back.
_TRIM_TO = "64MB"


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def trim_held(above_rss_bytes: int = TRIM_ABOVE_RSS_BYTES) -> bool:
    """Between steps: when the process holds more than ``above_rss_bytes``, have every held
    database give back its cached blocks and its allocator's free memory (what closing it did
    before :func:`hold`), so that a step does not start beside the last one's cache. Lowering
    DuckDB's memory limit for a moment evicts them (~50 ms for 600 MB). True when it trimmed."""
    anchors = [(held.anchor, held.memory_limit) for held in _HELD.values() if held.anchor is not None]
    resident = _resident_bytes() if anchors else None
    if resident is None or resident <= above_rss_bytes:
        return False
    for anchor, memory_limit in anchors:
        try:
            anchor.execute(f"SET memory_limit = '{_TRIM_TO}'")
        except duckdb.Error as exc:  # blocks still pinned: the limit is restored, the cache stays
            log.info("warehouse cache not trimmed after the step: %s", exc)
        finally:
            anchor.execute(f"SET memory_limit = '{memory_limit}'" if memory_limit else "RESET memory_limit")
    return True


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Resource key: ``warehouse``.

    For the length of a run (or of a step, under a multi-process executor) the warehouse is
    held open (:func:`hold`); a step that hands it to another process calls :meth:`suspend`.
    """

    path: str
    threads: int | None = None
    memory_limit: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        """The deployment's warehouse: its path and the DuckDB limits of ``settings.duckdb``."""
        return cls(
            path=str(settings.warehouse), threads=settings.duckdb.threads, memory_limit=settings.duckdb.memory_limit
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """When a run starts (the in-process executor builds the resources once per run): hold the
        warehouse open, and take what is loaded by then out of the garbage collector's walks
        (``lib/memory.py``)."""
        from orchestration.lib.memory import freeze_loaded_objects

        hold(self.path)
        freeze_loaded_objects()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """When the run ends: stop what its steps left running (``lib/run_scope.py``), let the warehouse go."""
        from orchestration.lib import run_scope

        run_scope.end()
        release(self.path)

    def suspend(self) -> None:
        """Close the held database so that another process (dbt) can open the file."""
        suspend(self.path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = connect(self.path, read_only=read_only, threads=self.threads, memory_limit=self.memory_limit)
        try:
            yield conn
        finally:
            conn.close()


def raw_table_ddl(table: RawTable) -> str:
    """CREATE TABLE statement for ``raw.<table>`` from the contract plus loader columns."""
    cols = {**table.columns, **META_COLUMNS}
    body = ",\n  ".join(f'"{c}" {t}' for c, t in cols.items())
    return f'CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}."{table.name}" (\n  {body}\n)'


def ensure_raw_table(conn: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    conn.execute(raw_table_ddl(table))


# ------------------------------------------------------------------------ ingest bookkeeping
#
# Small tables beside the raw tables, written by the ingest assets in the same transaction as
# the rows they describe, so that a failed load leaves them as they were:
#
# - raw._quarantine: rows that could not be parsed or typed (source, table, file or URL, line,
#   reason, the raw record), one batch per landing file or per parsed fetch, replaced when the
#   batch is loaded again (a rerun never duplicates them);
# - raw._cursors: incremental state (high-water marks such as Shopify's updated_at, files already
#   ingested), advanced only when the rows fetched with it are committed;
# - raw._snapshot_loads: the landing files (one SHA-256) a whole-table load holds, and the run
#   whose suite passed on them;
# - raw._landing_files: per landing file of a series table, its SHA-256 and rows.

QUARANTINE_TABLE = f"{RAW_SCHEMA}._quarantine"
CURSORS_TABLE = f"{RAW_SCHEMA}._cursors"
#: The landing files each snapshot table was last loaded from (their SHA-256), and whether the
#: table's suite passed on those rows: an identical snapshot the next night is not loaded again.
SNAPSHOT_LOADS_TABLE = f"{RAW_SCHEMA}._snapshot_loads"
#: Series tables (rows = the union of their day files): each landing file the rows came from, its
#: SHA-256 and the signature of the table's contract and suite then. A night loads only the files
#: that are new or changed since, and drops the rows of files gone from landing.
LANDING_FILES_TABLE = f"{RAW_SCHEMA}._landing_files"

QUARANTINE_COLUMNS: dict[str, str] = {
    "source": "VARCHAR",  # family and connector, e.g. 'platform/amazon_all_orders'
    "table_name": "VARCHAR",
    "batch": "VARCHAR",  # the landing file or the parsed fetch the rows came from
    "batch_sha256": "VARCHAR",
    "origin": "VARCHAR",  # file path or URL of the record
    "line": "BIGINT",  # line in the file (header = 1) or record number on the page
    "column_name": "VARCHAR",
    "reason": "VARCHAR",
    "raw_record": "VARCHAR",
    "partition_date": "DATE",
    "run_id": "VARCHAR",
    "loaded_at": "TIMESTAMP",
}


def ensure_meta_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    body = ", ".join(f'"{c}" {t}' for c, t in QUARANTINE_COLUMNS.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} ({body})")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {CURSORS_TABLE} (table_name VARCHAR, cursor_key VARCHAR, value VARCHAR, "
        f"updated_at TIMESTAMP, run_id VARCHAR, PRIMARY KEY (table_name, cursor_key))"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_LOADS_TABLE} (table_name VARCHAR PRIMARY KEY, files_sha256 VARCHAR, "
        f"loaded_at TIMESTAMP, loaded_run_id VARCHAR, validated_run_id VARCHAR)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {LANDING_FILES_TABLE} (table_name VARCHAR, source_file VARCHAR, "
        f"sha256 VARCHAR, signature VARCHAR, rows BIGINT, loaded_at TIMESTAMP, run_id VARCHAR, "
        f"PRIMARY KEY (table_name, source_file))"
    )


def _meta_table_exists(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def snapshot_validated_run(conn: duckdb.DuckDBPyConnection, table_name: str, files_sha256: str) -> str | None:
    """The run whose suite passed on the rows of these very landing files, still in the table (or None)."""
    if not _meta_table_exists(conn, SNAPSHOT_LOADS_TABLE):
        return None
    row = conn.execute(
        f"SELECT validated_run_id FROM {SNAPSHOT_LOADS_TABLE} WHERE table_name = ? AND files_sha256 = ?",
        [table_name, files_sha256],
    ).fetchone()
    return row[0] if row else None


def record_snapshot_load(
    conn: duckdb.DuckDBPyConnection, table_name: str, files_sha256: str, run_id: str | None
) -> None:
    """Which files the snapshot table now holds, not yet validated. Call inside the load's transaction."""
    conn.execute(f"DELETE FROM {SNAPSHOT_LOADS_TABLE} WHERE table_name = ?", [table_name])
    conn.execute(
        f"INSERT INTO {SNAPSHOT_LOADS_TABLE} VALUES (?, ?, now()::TIMESTAMP, ?, NULL)",
        [table_name, files_sha256, run_id],
    )


def record_snapshot_validated(
    conn: duckdb.DuckDBPyConnection, table_name: str, files_sha256: str, run_id: str | None
) -> None:
    """The table's suite passed on the rows of these files (a no-op if the table holds others since).
    After :func:`record_snapshot_load`, which the load ran once the meta tables existed."""
    conn.execute(
        f"UPDATE {SNAPSHOT_LOADS_TABLE} SET validated_run_id = ? WHERE table_name = ? AND files_sha256 = ?",
        [run_id or "unknown", table_name, files_sha256],
    )


def landing_files_loaded(conn: duckdb.DuckDBPyConnection, table_name: str) -> dict[str, tuple[str, str, int]]:
    """``{source file: (SHA-256, signature, rows)}`` of the files a series table's rows came from
    (empty before its first load with this record, e.g. a warehouse of an earlier version)."""
    if not _meta_table_exists(conn, LANDING_FILES_TABLE):
        return {}
    rows = conn.execute(
        f"SELECT source_file, sha256, signature, rows FROM {LANDING_FILES_TABLE} WHERE table_name = ?", [table_name]
    ).fetchall()
    return {source: (sha, signature, n) for source, sha, signature, n in rows}


def rows_per_source_file(
    conn: duckdb.DuckDBPyConnection, table: RawTable, sources: list[str] | None = None
) -> dict[str, int]:
    """``{source file: rows}`` of a raw table as it is, of the files ``sources`` only when given
    (empty when the table does not exist yet)."""
    if not _meta_table_exists(conn, f"{RAW_SCHEMA}.{table.name}"):
        return {}
    where, params = (
        ("_source_file IN (SELECT unnest(?::VARCHAR[]))", [sources]) if sources is not None else ("TRUE", [])
    )
    sql = f'SELECT _source_file, count(*) FROM {RAW_SCHEMA}."{table.name}" WHERE {where} GROUP BY 1'
    return dict(conn.execute(sql, params).fetchall())


def record_landing_files(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    digests: dict[str, str],
    signature: str,
    replaced: list[str] | None,
    run_id: str | None,
) -> None:
    """The files a series table now holds the rows of, with their rows in the table. ``replaced``:
    the source files a partial load replaced or removed (only their records are rewritten); None:
    a whole load (all records rewritten). Call inside the load's transaction, after the rows."""
    if replaced is None:
        conn.execute(f"DELETE FROM {LANDING_FILES_TABLE} WHERE table_name = ?", [table.name])
        written = digests
    else:
        conn.execute(
            f"DELETE FROM {LANDING_FILES_TABLE} WHERE table_name = ? AND source_file IN (SELECT unnest(?::VARCHAR[]))",
            [table.name, replaced],
        )
        written = {source: digests[source] for source in replaced if source in digests}
    if not written:
        return
    sources = sorted(written)
    counts = rows_per_source_file(conn, table, sources)
    conn.execute(
        f"INSERT INTO {LANDING_FILES_TABLE} SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?, "
        "unnest(?::BIGINT[]), now()::TIMESTAMP, ?",
        [table.name, sources, [written[s] for s in sources], signature, [counts.get(s, 0) for s in sources], run_id],
    )


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK and re-raise: all of it or nothing."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def day_ranges(days: list[dt.date] | set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of days: [d1, d2, d3, d7] -> [(d1, d3), (d7, d7)]."""
    out: list[tuple[dt.date, dt.date]] = []
    for d in sorted(set(days)):
        if out and d - out[-1][1] == dt.timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def partition_filter(days: list[dt.date] | set[dt.date] | None) -> tuple[str, list[object]]:
    """A WHERE clause (and its parameters) selecting the partitions ``days`` (None = the whole table)."""
    if days is None:
        return "TRUE", []
    ranges = day_ranges(days)
    if not ranges:
        return "FALSE", []
    params: list[object] = [x for r in ranges for x in r]
    return "(" + " OR ".join("_partition_date BETWEEN ? AND ?" for _ in ranges) + ")", params


def _replace_where_in_transaction(
    conn: duckdb.DuckDBPyConnection, table: RawTable, relation_sql: str | None, where: str, params: list[object]
) -> int:
    """The rows of ``raw.<table>`` matching ``where`` replaced by those of ``relation_sql`` matching it
    (None: only deleted), inside the caller's transaction; returns the rows it now holds there."""
    ensure_raw_table(conn, table)
    qualified = f'{RAW_SCHEMA}."{table.name}"'
    conn.execute(f"DELETE FROM {qualified} WHERE {where}", params)
    if relation_sql is None:
        return 0
    col_list = ", ".join(f'"{c}"' for c in table.columns)
    part_expr = f'CAST("{table.partition_column}" AS DATE)' if table.partition_column else "CAST(NULL AS DATE)"
    conn.execute(
        f"INSERT INTO {qualified} ({col_list}, _partition_date, _source_file, _loaded_at) "
        f"SELECT * FROM (SELECT {col_list}, {part_expr} AS _partition_date, _source_file, now()::TIMESTAMP "
        f"FROM ({relation_sql})) WHERE {where}",
        params,
    )
    return int(conn.execute(f"SELECT count(*) FROM {qualified} WHERE {where}", params).fetchone()[0])


def replace_partitions_in_transaction(
    conn: duckdb.DuckDBPyConnection,
    table: RawTable,
    relation_sql: str,
    days: list[dt.date] | set[dt.date] | None,
) -> int:
    """The partitions ``days`` of ``raw.<table>`` (None, or a table without daily partitions: the
    whole table) replaced by the rows of ``relation_sql`` (a SELECT of the contract columns plus
    ``_source_file``), inside the caller's transaction (:func:`transaction`): a failure leaves the
    previous rows, and loading a day again replaces it instead of duplicating it.

    Only rows whose partition is one of ``days`` are inserted; returns their count.
    """
    where, params = partition_filter(days if table.daily_partitioned else None)
    return _replace_where_in_transaction(conn, table, relation_sql, where, params)


def replace_source_files_in_transaction(
    conn: duckdb.DuckDBPyConnection, table: RawTable, relation_sql: str | None, sources: list[str]
) -> int:
    """A series table's rows of the landing files ``sources`` (new, changed or gone) replaced by
    ``relation_sql`` (the rows of those still in landing; None: none), inside the caller's
    transaction. The rows of every other file stay as they are. Returns the rows inserted."""
    where = "_source_file IN (SELECT unnest(?::VARCHAR[]))"
    return _replace_where_in_transaction(conn, table, relation_sql, where, [sources])


def read_cursors(conn: duckdb.DuckDBPyConnection, table_name: str) -> dict[str, str]:
    """The incremental state of a raw table (empty before its first load)."""
    if not _meta_table_exists(conn, CURSORS_TABLE):
        return {}
    rows = conn.execute(f"SELECT cursor_key, value FROM {CURSORS_TABLE} WHERE table_name = ?", [table_name]).fetchall()
    return dict(rows)


def write_cursors(
    conn: duckdb.DuckDBPyConnection, table_name: str, values: dict[str, str | None], run_id: str | None
) -> None:
    """Upsert cursor values (None deletes the key). Call inside the load's transaction."""
    ensure_meta_tables(conn)
    for key, value in values.items():
        conn.execute(f"DELETE FROM {CURSORS_TABLE} WHERE table_name = ? AND cursor_key = ?", [table_name, key])
        if value is not None:
            conn.execute(
                f"INSERT INTO {CURSORS_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP, ?)", [table_name, key, value, run_id]
            )


def replace_quarantine_batch(
    conn: duckdb.DuckDBPyConnection, table_name: str, batch: str, rows: list[dict[str, object]]
) -> int:
    """Replace the quarantined rows of one batch (a landing file or a parsed fetch) with ``rows``."""
    ensure_meta_tables(conn)
    conn.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE table_name = ? AND batch = ?", [table_name, batch])
    if rows:
        cols = list(QUARANTINE_COLUMNS)
        values = [[r.get(c) for c in cols if c != "loaded_at"] for r in rows]
        placeholders = ", ".join("?" for c in cols if c != "loaded_at")
        conn.executemany(
            f"INSERT INTO {QUARANTINE_TABLE} ({', '.join(c for c in cols if c != 'loaded_at')}, loaded_at) "
            f"VALUES ({placeholders}, now()::TIMESTAMP)",
            values,
        )
    return len(rows)


def quarantine_batches(conn: duckdb.DuckDBPyConnection, table_name: str) -> dict[str, str]:
    """Batch -> sha256 of the quarantine batches already loaded for a table."""
    ensure_meta_tables(conn)
    rows = conn.execute(
        f"SELECT batch, any_value(batch_sha256) FROM {QUARANTINE_TABLE} WHERE table_name = ? GROUP BY batch",
        [table_name],
    ).fetchall()
    return dict(rows)
