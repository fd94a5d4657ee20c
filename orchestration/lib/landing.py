"""The landing folder of real connectors: raw fetches (immutable, with a manifest) and canonical files.

Layout under ``<landing>`` (beside the canonical ``<family>/<table>/<day>.csv`` files)::

    _raw/<family>/<table>/<partition>/<fetch_id>/manifest.json   one complete fetch
    _raw/<family>/<table>/<partition>/<fetch_id>/0001.json ...   its pages or files, byte for byte
    _raw/<family>/<table>/<partition>/.failed-<fetch_id>/        a fetch that failed (kept to look at)
    <family>/<table>/_rejects/<fetch_id>.jsonl                  rows the parser rejected (-> raw._quarantine)

A fetch is written into a temporary folder page by page and renamed into place, with its manifest,
only when it is complete (before anything parses it), so a fetch folder never holds half a fetch. The
canonical landing files are derived from the raw fetches by the parsers; replaying the raw fetches
with a fixed parser rebuilds them without fetching again. ``partition`` says what was asked for
(``created_2025-06-01_2025-06-30``, ``updated_since_2025-06-29T01-00-00Z``, ``file``, ``snapshot``,
``since_2025-05-05``); ``fetch_id`` is the UTC start time plus a random suffix, so fetches sort in the
order they were made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.lib.schemas import RawTable

RAW_DIR = "_raw"
REJECTS_DIR = "_rejects"
MANIFEST = "manifest.json"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class RawFetch:
    """One complete fetch in the raw store: its folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def fetch_id(self) -> str:
        return self.manifest["fetch_id"]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.manifest["items"]

    def read(self, item: dict[str, Any], verify: bool = True) -> bytes:
        data = (self.path / item["name"]).read_bytes()
        if verify and sha256(data) != item["sha256"]:
            raise RuntimeError(
                f"raw file {self.path / item['name']} changed since it was fetched (sha256 differs from the "
                f"manifest): raw fetches are immutable; restore it or delete the whole fetch folder {self.path}"
            )
        return data


@dataclass
class FetchWriter:
    """A fetch being written: add pages or files, then commit (or fail)."""

    final: Path
    manifest: dict[str, Any]
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tmp = self.final.parent / f".tmp-{self.final.name}"
        self.tmp.mkdir(parents=True, exist_ok=False)
        self._write_manifest()

    def add(
        self,
        data: bytes,
        *,
        origin: str,
        rows: int | None,
        suffix: str,
        content_type: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Save one page or file byte for byte and record it in the manifest (before anything parses it)."""
        name = f"{len(self.manifest['items']) + 1:04d}{suffix}"
        (self.tmp / name).write_bytes(data)
        item = {
            "name": name,
            "origin": origin,
            "fetched_at": iso(utc_now()),
            "sha256": sha256(data),
            "bytes": len(data),
            "rows": rows,
            "content_type": content_type,
            **(extra or {}),
        }
        self.manifest["items"].append(item)
        return item

    def commit(self, **extra: Any) -> RawFetch:
        self.manifest.update(extra, complete=True, finished_at=iso(utc_now()))
        self.manifest["rows"] = sum(i["rows"] or 0 for i in self.manifest["items"])
        self.manifest["bytes"] = sum(i["bytes"] for i in self.manifest["items"])
        self._write_manifest()
        os.replace(self.tmp, self.final)
        return RawFetch(self.final, self.manifest)

    def fail(self, error: BaseException) -> Path:
        """Keep what was fetched under ``.failed-<fetch_id>`` for diagnosis; replay never reads it."""
        self.manifest.update(complete=False, finished_at=iso(utc_now()), error=f"{type(error).__name__}: {error}")
        self._write_manifest()
        failed = self.final.parent / f".failed-{self.final.name}"
        os.replace(self.tmp, failed)
        return failed

    def _write_manifest(self) -> None:
        write_atomic(self.tmp / MANIFEST, json.dumps(self.manifest, indent=1, default=str).encode())


class RawStore:
    """The raw fetches of every real connector under ``<landing>/_raw``."""

    def __init__(self, landing: Path):
        self.root = Path(landing) / RAW_DIR

    def folder(self, table: RawTable) -> Path:
        return self.root / table.family / table.name

    def begin(self, table: RawTable, partition: str, **meta: Any) -> FetchWriter:
        started = utc_now()
        fetch_id = started.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(2)
        manifest = {
            "fetch_id": fetch_id,
            "source": table.family,
            "table": table.name,
            "partition": partition,
            "started_at": iso(started),
            "complete": False,
            "items": [],
            **meta,
        }
        return FetchWriter(self.folder(table) / _safe(partition) / fetch_id, manifest)

    def fetches(self, table: RawTable, partition: str | None = None) -> list[RawFetch]:
        """Complete fetches of a table (optionally of one partition), oldest first."""
        base = self.folder(table)
        if not base.is_dir():
            return []
        parts = [base / _safe(partition)] if partition is not None else [p for p in base.iterdir() if p.is_dir()]
        out = []
        for part in parts:
            if not part.is_dir():
                continue
            for f in part.iterdir():
                m = f / MANIFEST
                if f.is_dir() and not f.name.startswith(".") and m.is_file():
                    manifest = json.loads(m.read_text())
                    if manifest.get("complete"):
                        out.append(RawFetch(f, manifest))
        return sorted(out, key=lambda r: r.fetch_id)

    def latest(self, table: RawTable, partition: str) -> RawFetch | None:
        found = self.fetches(table, partition)
        return found[-1] if found else None

    def known_hashes(self, table: RawTable) -> set[str]:
        return {i["sha256"] for f in self.fetches(table) for i in f.items}


def _safe(partition: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "-" for c in partition)


# ------------------------------------------------------------------------------ canonical files


def table_dir(landing: Path, table: RawTable) -> Path:
    return Path(landing) / table.family / table.name


# Same types and writer options as the sample connector (orchestration.lib.sample.arrow and
# generate.csv_bytes), kept here so that a real connector does not import the sample generator.
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("s"),
}


def arrow_schema(table: RawTable) -> pa.Schema:
    return pa.schema([(c, ARROW_TYPES[t]) for c, t in table.columns.items()])


def csv_bytes(frame: pd.DataFrame, table: RawTable) -> bytes:
    """The canonical landing CSV: header, ISO dates, ``YYYY-MM-DD HH:MM:SS`` timestamps, empty NULLs."""
    buf = io.BytesIO()
    pacsv.write_csv(to_arrow(frame, table), buf, pacsv.WriteOptions(include_header=True))
    return buf.getvalue()


def to_arrow(frame: pd.DataFrame, table: RawTable) -> pa.Table:
    sch = arrow_schema(table)
    frame = frame.reindex(columns=list(table.columns))
    arrays = []
    for f in sch:
        col = frame[f.name]
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(pd.to_datetime(col).astype("datetime64[s]"), type=f.type, from_pandas=True))
        elif pa.types.is_date(f.type):
            arrays.append(pa.array([None if _isnull(v) else v for v in col], type=f.type))
        elif pa.types.is_integer(f.type):
            arrays.append(pa.array(pd.array(col, dtype="Int64"), type=f.type, from_pandas=True))
        else:
            arrays.append(pa.array(col.astype(object).where(col.notna(), None), type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=sch)


def _isnull(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NaT


def read_canonical(path: Path, table: RawTable) -> pd.DataFrame:
    """A canonical landing file as contract-typed pandas columns."""
    sch = arrow_schema(table)
    opts = pacsv.ConvertOptions(column_types=sch, strings_can_be_null=True, null_values=[""])
    return pacsv.read_csv(path, convert_options=opts).to_pandas()


def partition_day(frame: pd.DataFrame, table: RawTable) -> pd.Series:
    col = frame[table.partition_column]
    return pd.to_datetime(col).dt.date


def merge_days(
    landing: Path,
    table: RawTable,
    rows: pd.DataFrame,
    tombstones: Iterable[tuple[dt.date, tuple]] = (),
) -> set[dt.date]:
    """Upsert rows into their canonical day files by primary key; tombstones delete keys. Returns the days written.

    Rows are sorted by primary key in every file, so the result does not depend on the order in
    which fetches were merged (a replay of all raw fetches writes the same bytes).
    """
    key = list(table.primary_key)
    by_day: dict[dt.date, pd.DataFrame] = {}
    if len(rows):
        days = partition_day(rows, table)
        for day, part in rows.groupby(days, sort=True):
            by_day[day] = part
    dead: dict[dt.date, set[tuple]] = {}
    for day, k in tombstones:
        dead.setdefault(day, set()).add(tuple(k))
    written: set[dt.date] = set()
    for day in sorted(set(by_day) | set(dead)):
        path = table_dir(landing, table) / f"{day.isoformat()}.csv"
        parts = []
        if path.is_file():
            parts.append(read_canonical(path, table))
        if day in by_day:
            parts.append(by_day[day][list(table.columns)])
        merged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(table.columns))
        merged = merged.drop_duplicates(subset=key, keep="last")
        if day in dead and len(merged):
            keys = list(merged[key].itertuples(index=False, name=None))
            merged = merged[[k not in dead[day] for k in keys]]
        merged = merged.sort_values(key, kind="stable").reset_index(drop=True)
        data = csv_bytes(merged, table)
        if not path.is_file() or path.read_bytes() != data:
            write_atomic(path, data)
        written.add(day)
    return written


def write_snapshot(landing: Path, table: RawTable, rows: pd.DataFrame) -> Path:
    path = table_dir(landing, table) / "snapshot.csv"
    data = csv_bytes(rows.sort_values(list(table.primary_key), kind="stable").reset_index(drop=True), table)
    if not path.is_file() or path.read_bytes() != data:
        write_atomic(path, data)
    return path


def clear_days(landing: Path, table: RawTable) -> int:
    """Remove a table's canonical day files (before a replay rebuilds them from the raw fetches)."""
    n = 0
    for p in table_dir(landing, table).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].csv"):
        p.unlink()
        n += 1
    return n


def rejects_path(landing: Path, table: RawTable, batch: str) -> Path:
    return table_dir(landing, table) / REJECTS_DIR / f"{batch}.jsonl"


def write_rejects(landing: Path, table: RawTable, batch: str, rejects: list[dict[str, Any]]) -> Path | None:
    """The parser's rejected rows of one fetch, for the loader to put in raw._quarantine.

    Written when there are rejects, or (empty) when an earlier parse of the same fetch had some, so
    a replay that fixed them clears them from the quarantine too.
    """
    path = rejects_path(landing, table, batch)
    if not rejects and not path.exists():
        return None
    buf = io.StringIO()
    for r in rejects:
        buf.write(json.dumps(r, default=str) + "\n")
    write_atomic(path, buf.getvalue().encode())
    return path


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
