"""Write-audit-publish of the marts for BI readers: releases on disk and the atomic switch.

Layout under the publication root (``settings.published``, default ``<data_dir>/published``)::

    current -> releases/<release>        symlink, replaced atomically (rename over it)
    current.json                         the current release's manifest (also replaced atomically)
    releases/<YYYYmmddTHHMMSSZ>_<run_id>/
        marts.duckdb                     read-only DuckDB file: one view per table over the Parquet
                                         (schema main: ``SELECT * FROM selection_sku_market``), and
                                         tradewinds.publication / tradewinds.published_tables
        manifest.json                    run id, as-of date, published_at, rows per table
        marts/<mart>.parquet             one Parquet file per mart ...
        forecast/<table>.parquet         ... and per forecast table

Write: every table is exported to Parquet in a hidden ``releases/.building-<release>``
folder, then the folder is renamed to its final name (a release folder is complete or
absent). Audit: the views file is opened read-only and every view must return the rows the
warehouse had; every Parquet file carries the run id in its key-value metadata. Publish:
``current`` is switched with one ``rename`` and the oldest releases beyond ``keep`` are
removed (never the current one nor the one before it: a reader may still hold it open).

The views name the Parquet files by their absolute path inside their own release folder, so
a reader that opened ``current/marts.duckdb`` keeps reading that night even if ``current``
moves on while it reads: a reader never mixes two nights.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

RELEASES = "releases"
CURRENT = "current"
CURRENT_MANIFEST = "current.json"
VIEWS_FILE = "marts.duckdb"
MANIFEST = "manifest.json"
#: Schema of the views file holding the publication's own metadata.
META_SCHEMA = "tradewinds"
#: Parquet key-value metadata keys.
KV_RUN_ID = "tradewinds_run_id"
KV_AS_OF = "tradewinds_as_of"
KV_TABLE = "tradewinds_table"
#: DuckDB storage format of the views file: readable by DuckDB 1.0 and later (BI drivers lag).
VIEWS_STORAGE_VERSION = "v1.0.0"
#: A hidden build folder older than this is debris of a crashed publication.
STALE_BUILD = dt.timedelta(hours=6)
_NAME = re.compile(r"^\d{8}T\d{6}Z_[\w-]+$")


class PublishError(RuntimeError):
    """The release could not be written or failed its audit; the current publication is unchanged."""


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int
    columns: int
    file: str  # relative to the release folder

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Release:
    name: str
    path: Path
    run_id: str
    as_of: str | None
    published_at: str
    tables: tuple[PublishedTable, ...]
    pruned: tuple[str, ...] = field(default_factory=tuple)

    def manifest(self) -> dict[str, Any]:
        return {
            "release": self.name,
            "path": str(self.path),
            "run_id": self.run_id,
            "as_of": self.as_of,
            "published_at": self.published_at,
            "views_file": VIEWS_FILE,
            "tables": {t.qualified: {"rows": t.rows, "columns": t.columns, "file": t.file} for t in self.tables},
        }


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def release_name(run_id: str, now: dt.datetime) -> str:
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}_{re.sub(r'[^A-Za-z0-9-]', '-', run_id)}"


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` next to ``path`` and rename it over ``path`` (readers see old or new, never half)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def export_tables(
    warehouse: Path | str,
    folder: Path,
    tables: Sequence[tuple[str, str]],
    *,
    run_id: str,
    as_of: str | None,
) -> list[PublishedTable]:
    """Export ``schema.table`` of the warehouse to ``folder/<schema>/<table>.parquet`` (read-only connection)."""
    out = []
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for schema, name in tables:
            target = folder / schema / f"{name}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            kv = {KV_RUN_ID: run_id, KV_AS_OF: as_of or "", KV_TABLE: f"{schema}.{name}"}
            kv_sql = ", ".join(f"{k}: {_sql_str(v)}" for k, v in kv.items())
            try:
                rows = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
                columns = len(conn.execute(f'SELECT * FROM "{schema}"."{name}" LIMIT 0').description)
                conn.execute(
                    f'COPY (SELECT * FROM "{schema}"."{name}") TO {_sql_str(str(target))} '
                    f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv_sql}}})"
                )
            except duckdb.Error as exc:
                raise PublishError(f"exporting {schema}.{name} from {warehouse} failed: {exc}") from exc
            out.append(PublishedTable(schema, name, int(rows), int(columns), f"{schema}/{name}.parquet"))
    return out


def write_views(release_dir: Path, tables: Sequence[PublishedTable], meta: dict[str, Any]) -> Path:
    """The read-only DuckDB file of views over the release's Parquet files (absolute paths).

    The views live in the default schema ``main`` under the table's own name: the file opens
    as catalog ``marts`` (its file name), which would make ``marts.<table>`` ambiguous with a
    schema of the same name.
    """
    path = release_dir / VIEWS_FILE
    names = [t.name for t in tables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PublishError(f"two published tables share the name(s) {duplicates}; rename one of them")
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH {_sql_str(str(path))} AS pub (STORAGE_VERSION '{VIEWS_STORAGE_VERSION}')")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS pub.{META_SCHEMA}")
        for t in tables:
            file = _sql_str(str((release_dir / t.file).resolve()))
            conn.execute(f'CREATE VIEW pub.main."{t.name}" AS SELECT * FROM read_parquet({file})')
        conn.execute(
            f"CREATE TABLE pub.{META_SCHEMA}.publication AS SELECT ?::VARCHAR AS run_id, ?::DATE AS as_of_date, "
            "?::TIMESTAMP AS published_at, ?::VARCHAR AS release",
            [meta["run_id"], meta["as_of"], meta["published_at"].replace("Z", ""), meta["release"]],
        )
        conn.execute(
            f"CREATE TABLE pub.{META_SCHEMA}.published_tables (table_name VARCHAR, rows BIGINT, columns INTEGER, "
            "file VARCHAR)"
        )
        conn.executemany(
            f"INSERT INTO pub.{META_SCHEMA}.published_tables VALUES (?, ?, ?, ?)",
            [[t.qualified, t.rows, t.columns, str((release_dir / t.file).resolve())] for t in tables],
        )
        conn.execute("DETACH pub")
    return path


def audit_release(release_dir: Path, tables: Sequence[PublishedTable], run_id: str) -> None:
    """Open the views file read-only as a reader would and check every view and file; raise PublishError."""
    problems = []
    with duckdb.connect(str(release_dir / VIEWS_FILE), read_only=True) as conn:
        published_run = conn.execute(f"SELECT run_id FROM {META_SCHEMA}.publication").fetchone()[0]
        if published_run != run_id:
            problems.append(f"publication table names run {published_run}, expected {run_id}")
        for t in tables:
            try:
                rows = conn.execute(f'SELECT count(*) FROM main."{t.name}"').fetchone()[0]
                kv = dict(
                    conn.execute(
                        "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)",
                        [str(release_dir / t.file)],
                    ).fetchall()
                )
            except duckdb.Error as exc:
                problems.append(f"{t.qualified}: {exc}")
                continue
            if rows != t.rows:
                problems.append(f"{t.qualified}: the view returns {rows} rows, the warehouse had {t.rows}")
            if kv.get(KV_RUN_ID) != run_id:
                problems.append(f"{t.qualified}: the Parquet file names run {kv.get(KV_RUN_ID)}, expected {run_id}")
    if problems:
        raise PublishError("release audit failed: " + "; ".join(problems))


def _make_read_only(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o444)


def current_release(root: Path) -> Path | None:
    """The release folder ``current`` points at, or None."""
    link = root / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    return link.resolve()


def read_current_manifest(root: Path) -> dict[str, Any] | None:
    path = root / CURRENT_MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def switch_current(root: Path, release_dir: Path) -> None:
    """Point ``current`` at ``release_dir`` with one rename (atomic for readers)."""
    link = root / CURRENT
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} exists and is not a symlink: move it away; publications manage it")
    tmp = root / f".{CURRENT}-{uuid.uuid4().hex}"
    os.symlink(os.path.relpath(release_dir, root), tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def prune_releases(root: Path, keep: int, now: dt.datetime | None = None) -> list[str]:
    """Remove releases beyond the newest ``keep`` (at least 2), never the current one; remove stale build debris."""
    keep = max(2, keep)
    releases = root / RELEASES
    if not releases.is_dir():
        return []
    current = current_release(root)
    names = sorted((p.name for p in releases.iterdir() if p.is_dir() and _NAME.match(p.name)), reverse=True)
    removed = []
    for name in names[keep:]:
        path = releases / name
        if current is not None and path.resolve() == current:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    now = now or dt.datetime.now(dt.UTC)
    for debris in releases.glob(".building-*"):
        age = now - dt.datetime.fromtimestamp(debris.stat().st_mtime, dt.UTC)
        if age > STALE_BUILD:
            shutil.rmtree(debris, ignore_errors=True)
    return removed


def publish_release(
    warehouse: Path | str,
    root: Path,
    tables: Sequence[tuple[str, str]],
    *,
    run_id: str,
    as_of: str | None,
    keep: int = 3,
    now: dt.datetime | None = None,
) -> Release:
    """Write, audit and publish one release of ``tables`` from the warehouse; return it.

    Any failure before the switch removes the new release and raises ``PublishError``: the
    current publication is left as it was.
    """
    now = now or dt.datetime.now(dt.UTC)
    root = Path(root).resolve()
    releases = root / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    name = release_name(run_id, now)
    building = releases / f".building-{name}"
    final = releases / name
    if final.exists():
        raise PublishError(f"release {final} already exists")
    published_at = now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        building.mkdir()
        exported = export_tables(warehouse, building, tables, run_id=run_id, as_of=as_of)
        os.rename(building, final)  # the views below name files under the final folder
        meta = {"run_id": run_id, "as_of": as_of, "published_at": published_at, "release": name}
        write_views(final, exported, meta)
        audit_release(final, exported, run_id)
        release = Release(name, final, run_id, as_of, published_at, tuple(exported))
        _write_json(final / MANIFEST, release.manifest())
        _make_read_only(final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    switch_current(root, final)
    _write_json(root / CURRENT_MANIFEST, release.manifest())
    pruned = prune_releases(root, keep, now)
    return Release(name, final, run_id, as_of, published_at, tuple(exported), tuple(pruned))
