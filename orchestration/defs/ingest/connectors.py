"""Connectors put source data into the landing folder; the loader reads only landing files.

Every raw table is fetched by the connector its settings name (``config.resolve``):

- ``sample`` (default): the embedded deterministic generator writes the landing files for
  the requested days (no network, no credentials);
- ``file`` + ``canonical``: a folder in the landing layout (``<path>/<table>/<YYYY-MM-DD>.csv`` or
  ``snapshot.csv``) copied into landing unchanged (a manifest line records each copy);
- ``file`` + an export format (Amazon All Orders, Shopify orders CSV, a mapped CSV/Parquet) or a
  published document (ibericode VAT JSON, UK tariff CSV, Climatiq CSV, events JSON, rate index,
  price series), and ``http`` (Shopify Admin REST orders, the same documents and series over HTTP).

Real connectors work in two steps. **Fetch**: every page or file is saved byte for byte in the raw
store with a manifest (``orchestration.lib.landing``) before anything parses it; a fetch that fails
half-way is set aside and commits nothing. **Parse**: the parser turns a complete raw fetch into
canonical rows, upserted by primary key into the landing day files (or the snapshot), with its
rejected rows written beside them for the quarantine. :func:`replay` runs the parse step again
over the stored raw fetches, for a parser fix, without fetching.

Incremental state (Shopify ``updated_at``, files already ingested, the last week of a series) lives
in ``raw._cursors`` and is advanced by the loader in the same transaction as the rows, so a failed
load fetches the same data again next time: nothing lost, nothing doubled (loads upsert).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.defs.ingest import formats as fmt
from orchestration.defs.ingest.config import DROP_FORMATS, SourceConfigError, TableSource, resolve
from orchestration.lib import landing as lnd
from orchestration.lib.http import (
    HttpClient,
    decode_json,
    paginate_link,
    paginate_next_token,
    paginate_page_number,
)
from orchestration.lib.schemas import RawTable
from orchestration.lib.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "FetchOutcome",
    "SourceConfigError",
    "day_file",
    "fetch",
    "fetch_to_landing",
    "landed_files",
    "replay",
    "snapshot_file",
]


def landing_dir(landing: Path, table: RawTable) -> Path:
    return landing / table.family / table.name


def day_file(landing: Path, table: RawTable, day: dt.date) -> Path:
    return landing_dir(landing, table) / f"{day.isoformat()}.csv"


def snapshot_file(landing: Path, table: RawTable) -> Path:
    return landing_dir(landing, table) / "snapshot.csv"


def days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    for i in range((end - start).days + 1):
        yield start + dt.timedelta(days=i)


def landed_files(landing: Path, table: RawTable, start: dt.date | None, end: dt.date | None) -> list[Path]:
    """The landing files of a table for a day range (a series: all its days; or its snapshot), in date order."""
    if not table.partitioned:
        path = snapshot_file(landing, table)
        return [path] if path.is_file() else []
    if start is None or end is None:
        return sorted(landing_dir(landing, table).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].csv"))
    return [p for d in days(start, end) if (p := day_file(landing, table, d)).is_file()]


def files_of_days(landing: Path, table: RawTable, wanted: Iterable[dt.date]) -> list[Path]:
    return [p for d in sorted(set(wanted)) if (p := day_file(landing, table, d)).is_file()]


def sample_window(table: RawTable, settings: Settings) -> tuple[dt.date, dt.date]:
    """Days for which the embedded sample has data for this table.

    Platform data covers ``history_days`` up to the end date; freight, FX and carbon-price
    history go back to ``freight_start`` so that the 2021 peak and 2024 spike are present.
    """
    sample = settings.sample
    end = sample.resolved_end_date()
    if table.family == "platform":
        return sample.resolved_start_date(), end
    return min(sample.freight_start, sample.resolved_start_date()), end


@dataclass
class FetchOutcome:
    """What a fetch put in landing and what the load must commit with the rows."""

    source: TableSource
    files: list[Path]
    # Daily tables: the partitions the load replaces (the run's range plus the days the fetch changed).
    # None: the whole table (series and snapshots).
    load_days: set[dt.date] | None
    touched: set[dt.date] = field(default_factory=set)
    cursors: dict[str, str | None] = field(default_factory=dict)
    fetch_ids: list[str] = field(default_factory=list)
    records_in: int = 0
    rows: int = 0
    rejected: int = 0
    skipped: int = 0
    drift: dict[str, list[str]] = field(default_factory=dict)
    requests: int = 0
    landing: Path = Path("data/landing")

    def metadata(self) -> dict[str, Any]:
        return {
            "connector": self.source.connector,
            "raw_fetches": len(self.fetch_ids),
            "records_fetched": self.records_in,
            "rows_parsed": self.rows,
            "rows_rejected_by_parser": self.rejected,
            "records_skipped": self.skipped,
            "days_touched": len(self.touched),
            "http_requests": self.requests,
            **({"schema_drift": json.dumps(self.drift)} if self.drift else {}),
        }


def fetch(
    table: RawTable,
    start: dt.date | None,
    end: dt.date | None,
    settings: Settings,
    cursors: dict[str, str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> FetchOutcome:
    """Bring the table's data for ``start..end`` into landing with its configured connector."""
    src = resolve(settings, table)
    cursors = dict(cursors or {})
    landing = settings.landing
    range_days = set(days(start, end)) if table.daily_partitioned and start and end else None
    if src.mode == "sample":
        _fetch_sample(table, start, end, settings)
        return FetchOutcome(src, landed_files(landing, table, start, end), range_days)
    if src.format == "canonical":
        _copy_from_folder(src, table, start, end, landing)
        return FetchOutcome(src, landed_files(landing, table, start, end), range_days)
    out = FetchOutcome(src, [], range_days, landing=landing)
    now = now or lnd.utc_now()
    if src.format == "shopify_orders":
        fetches = _fetch_shopify_orders(src, start, end, cursors, out, now)
    elif src.format in DROP_FORMATS and table.partitioned:
        fetches = _fetch_drops(src, cursors, out)
    elif src.format in ("rate_index", "price_series") and src.mode == "http":
        fetches = _fetch_series(src, cursors, out)
    else:
        fetches = _fetch_document(src, out)
    for raw in fetches:
        parsed = parse_fetch(src, raw)
        _apply(src, landing, raw, parsed, out)
        out.cursors[f"fetch:{raw.fetch_id}"] = raw.manifest["partition"]
    if table.partitioned and src.format in ("rate_index", "price_series") and src.mode == "http":
        last = max((d for d in out.touched), default=None)
        if last is not None:
            old = cursors.get("last_day")
            out.cursors["last_day"] = max(last.isoformat(), old) if old else last.isoformat()
    if table.daily_partitioned:
        out.load_days = (range_days or set()) | out.touched
        out.files = files_of_days(landing, table, out.load_days)
    else:
        out.files = landed_files(landing, table, None, None)
    return out


def fetch_to_landing(table: RawTable, start: dt.date | None, end: dt.date | None, settings: Settings) -> list[Path]:
    """Make sure the landing folder holds the table's files for the range; return them."""
    return fetch(table, start, end, settings).files


# ------------------------------------------------------------------------------ sample and copies


def _fetch_sample(table: RawTable, start: dt.date | None, end: dt.date | None, settings: Settings) -> None:
    from orchestration.lib.sample import write_landing

    landing = settings.landing
    if table.partitioned:
        lo, hi = sample_window(table, settings)
        s, e = max(start or lo, lo), min(end or hi, hi)
        if s <= e:
            counts = write_landing(
                landing, s, e, seed=settings.sample.seed, scale=settings.sample.scale, tables=[table.name]
            )
            log.info("sample connector landed %s rows of %s for %s..%s", counts.get(table.name, 0), table.name, s, e)
    else:
        as_of = settings.sample.resolved_end_date()
        write_landing(
            landing, as_of, as_of, seed=settings.sample.seed, scale=settings.sample.scale, tables=[table.name]
        )


def _copy_from_folder(
    src: TableSource, table: RawTable, start: dt.date | None, end: dt.date | None, landing: Path
) -> None:
    assert src.path is not None
    src_dir = src.path / table.name
    if not src_dir.is_dir():
        raise SourceConfigError(
            f"file source for {table.family}.{table.name}: folder {src_dir} does not exist; "
            f"export the table as {src_dir}/<YYYY-MM-DD>.csv (or snapshot.csv) or fix {src.settings_key}.path"
        )
    if table.partitioned and (start is None or end is None):
        pairs = [(p, landing_dir(landing, table) / p.name) for p in sorted(src_dir.glob("*.csv"))]
    elif table.partitioned:
        pairs = [(src_dir / f"{d.isoformat()}.csv", day_file(landing, table, d)) for d in days(start, end)]
    else:
        pairs = [(src_dir / "snapshot.csv", snapshot_file(landing, table))]
    copied = []
    for s, dst in pairs:
        # A day's export lands once; a snapshot again whenever the export differs from its landing copy.
        if s.is_file() and (not dst.exists() or (not table.partitioned and s.read_bytes() != dst.read_bytes())):
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".csv.tmp")
            shutil.copyfile(s, tmp)
            tmp.replace(dst)
            data = dst.read_bytes()
            copied.append(
                {"file": str(s), "landed": dst.name, "sha256": lnd.sha256(data), "bytes": len(data),
                 "rows": max(data.count(b"\n") - 1, 0), "fetched_at": lnd.iso(lnd.utc_now())}
            )  # fmt: skip
    if copied:
        # The landing copy is the raw copy here; the manifest records where each file came from.
        manifest = lnd.RawStore(landing).folder(table) / "copies.jsonl"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with manifest.open("a") as f:
            for c in copied:
                f.write(json.dumps(c) + "\n")
    log.info("file connector landed %s new file(s) of %s from %s", len(copied), table.name, src_dir)


# ------------------------------------------------------------------------------------ fetching


def _client(src: TableSource) -> HttpClient:
    return HttpClient(src.label, src.http_options(), src.auth())


def plan_order_fetches(start: dt.date, end: dt.date, cursors: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Which Shopify requests a run of ``start..end`` makes, given the stored cursors (pure, tested).

    - no cursor yet: the orders *created* in the range (the first load, or a backfill);
    - a range that ends before the cursor's day (minus one): a backfill, re-fetched by created date;
    - otherwise the orders *updated* since the cursor (minus an overlap), plus the created-date
      fetch of the part of the range before the first day ever fetched (``covered_from``).
    """
    upd = cursors.get("updated_at_min")
    plans: list[tuple[str, dict[str, Any]]] = []
    if upd is None:
        return [("created", {"start": start, "end": end})]
    cursor_day = dt.datetime.fromisoformat(upd).date()
    if end < cursor_day - dt.timedelta(days=1):
        return [("created", {"start": start, "end": end})]
    covered = dt.date.fromisoformat(cursors["covered_from"]) if cursors.get("covered_from") else start
    if start < covered:
        plans.append(("created", {"start": start, "end": min(end, covered - dt.timedelta(days=1))}))
    plans.append(("updated", {"since": upd}))
    return plans


def _fetch_shopify_orders(
    src: TableSource, start: dt.date | None, end: dt.date | None, cursors: dict[str, str], out: FetchOutcome,
    now: dt.datetime,
) -> list[lnd.RawFetch]:  # fmt: skip
    if start is None or end is None:
        raise SourceConfigError(f"{src.label}: the REST orders connector needs a partition range")
    store = lnd.RawStore(out.landing)
    base = {"status": "any", "limit": src.options.page_size, **src.options.params}
    fetched: list[lnd.RawFetch] = []
    max_updated: str | None = None
    ran_updated = False
    with _client(src) as client:
        for kind, p in plan_order_fetches(start, end, cursors):
            if kind == "created":
                params = {
                    **base,
                    "created_at_min": f"{p['start']}T00:00:00Z",
                    "created_at_max": f"{p['end']}T23:59:59Z",
                }
                partition = f"created_{p['start']}_{p['end']}"
            else:
                since = dt.datetime.fromisoformat(p["since"]) - dt.timedelta(seconds=src.options.cursor_overlap_seconds)
                params = {**base, "updated_at_min": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
                partition = f"updated_since_{since:%Y-%m-%dT%H-%M-%SZ}"
                ran_updated = True
            raw = _paged_fetch(src, store, client, partition, params, style="link")
            fetched.append(raw)
            if kind == "updated":
                max_updated = raw.manifest.get("max_updated") or max_updated
        out.requests += client.requests_made
    old = cursors.get("updated_at_min")
    if ran_updated and max_updated:
        out.cursors["updated_at_min"] = max(old, max_updated) if old else max_updated
    elif old is None:
        out.cursors["updated_at_min"] = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    created_starts = [dt.date.fromisoformat(r.manifest["partition"].split("_")[1]) for r in fetched if r.manifest["partition"].startswith("created_")]  # fmt: skip
    if created_starts:
        cov = cursors.get("covered_from")
        first = min(created_starts)
        out.cursors["covered_from"] = min(first, dt.date.fromisoformat(cov)).isoformat() if cov else first.isoformat()
    return fetched


def _paged_fetch(
    src: TableSource, store: lnd.RawStore, client: HttpClient, partition: str, params: dict[str, Any], *, style: str
) -> lnd.RawFetch:
    """Fetch every page into one raw fetch; any error sets the pages aside and commits nothing."""
    writer = store.begin(src.table, partition, connector=src.connector, url=src.url, params=params, format=src.format)
    hashes: dict[str, int] = {}
    state: dict[str, Any] = {"first_keys": None, "max_updated": None}

    def handle(page) -> Any:
        body = page.response.content
        item = writer.add(
            body, origin=page.url, rows=None, suffix=".json", content_type=page.response.headers.get("Content-Type")
        )
        doc = decode_json(src.label, page.response)
        if src.format == "shopify_orders":
            state["first_keys"] = fmt.check_shopify_page(doc, src.label, page.url, state["first_keys"])
            records = doc["orders"]
            for o in records:
                u = o.get("updated_at") if isinstance(o, dict) else None
                if u:
                    ts = fmt.timestamp(u).isoformat()
                    state["max_updated"] = max(state["max_updated"] or ts, ts)
        else:
            keys = ("data", "rates", "items") if src.format == "rate_index" else ("prices", "data", "items")
            try:
                records = fmt.records_of(doc, keys)
            except fmt.SchemaDriftError as exc:
                raise fmt.SchemaDriftError(f"{src.label}: {page.url}: {exc}") from None
        item["rows"] = len(records)
        digest = item["sha256"]
        if digest in hashes and records:
            item["duplicate_of"] = hashes[digest]
            log.warning(
                "%s: page %s repeats page %s (same bytes); its rows are not counted twice",
                src.label,
                page.url,
                hashes[digest],
            )
        hashes.setdefault(digest, item["name"])
        return doc

    try:
        if style == "link":
            pages = paginate_link(client, src.url, params, handle)
        elif style == "page":
            pages = paginate_page_number(
                client, src.url, params, handle,
                items=lambda d: fmt.records_of(d, ("data", "rates", "items")),
                page_param=src.options.params.get("page_param", "page"),
            )  # fmt: skip
        else:
            pages = paginate_next_token(client, src.url, params, handle)
        n = sum(1 for _ in pages)
    except BaseException as exc:
        failed = writer.fail(exc)
        log.error("%s: fetch failed, nothing committed; what was fetched is in %s", src.label, failed)
        raise
    raw = writer.commit(pages=n, max_updated=state["max_updated"])
    log.info("%s: fetched %s page(s), %s records into %s", src.label, n, raw.manifest["rows"], raw.path)
    return raw


def _fetch_series(src: TableSource, cursors: dict[str, str], out: FetchOutcome) -> list[lnd.RawFetch]:
    store = lnd.RawStore(out.landing)
    params = {k: v for k, v in src.options.params.items() if k != "page_param"}
    last = cursors.get("last_day")
    partition = "all"
    if last:
        since = dt.date.fromisoformat(last) - dt.timedelta(days=src.options.restate_days)
        params["since"] = since.isoformat()
        partition = f"since_{since}"
    with _client(src) as client:
        if _looks_csv(src.url):
            raw = _document_fetch(src, store, client, partition, params)
        else:
            style = "page" if src.format == "rate_index" else "token"
            if style == "page":
                params.setdefault("per_page", src.options.page_size)
            raw = _paged_fetch(src, store, client, partition, params, style=style)
        out.requests += client.requests_made
    return [raw]


def _looks_csv(url: str | None) -> bool:
    return bool(url) and url.split("?")[0].lower().endswith(".csv")


def _document_fetch(
    src: TableSource, store: lnd.RawStore, client: HttpClient, partition: str, params: dict[str, Any] | None = None
) -> lnd.RawFetch:
    writer = store.begin(src.table, partition, connector=src.connector, url=src.url, format=src.format)
    try:
        resp = client.get(src.url, params)
        body = resp.content
        writer.add(body, origin=resp.url, rows=_count_rows(body), suffix=_suffix(src, resp.headers.get("Content-Type")),
                   content_type=resp.headers.get("Content-Type"))  # fmt: skip
    except BaseException as exc:
        writer.fail(exc)
        raise
    return writer.commit()


def _suffix(src: TableSource, content_type: str | None) -> str:
    if src.format in ("ibericode", "events_json"):
        return ".json"
    if src.format in ("uk_tariff", "climatiq") or (content_type and "csv" in content_type) or _looks_csv(src.url):
        return ".csv"
    return ".json"


def _count_rows(body: bytes) -> int | None:
    """Records in a raw body before parsing: JSON list length, else text lines minus the header."""
    s = body.lstrip()[:1]
    if s in (b"[", b"{"):
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if isinstance(doc, list):
            return len(doc)
        if isinstance(doc, dict):
            lists = [v for v in doc.values() if isinstance(v, list | dict)]
            return len(lists[0]) if lists else None
        return None
    return max(body.count(b"\n") - (0 if body.endswith(b"\n") else -1) - 1, 0)


def _fetch_document(src: TableSource, out: FetchOutcome) -> list[lnd.RawFetch]:
    """A published document (or a snapshot export) over HTTP or from a file; unchanged bytes are not stored again."""
    store = lnd.RawStore(out.landing)
    latest = store.latest(src.table, "snapshot")
    if src.mode == "http":
        with _client(src) as client:
            writer_fetch = _document_fetch(src, store, client, "snapshot-new")
            out.requests += client.requests_made
        return [_dedup(store, src, writer_fetch, latest)]
    path = _one_file(src)
    data = path.read_bytes()
    if latest is not None and latest.items and latest.items[0]["sha256"] == lnd.sha256(data):
        return [latest]
    writer = store.begin(src.table, "snapshot", connector=src.connector, file=str(path), format=src.format)
    writer.add(data, origin=str(path), rows=_count_rows(data), suffix=path.suffix or ".dat")
    return [writer.commit()]


def _dedup(store: lnd.RawStore, src: TableSource, new: lnd.RawFetch, latest: lnd.RawFetch | None) -> lnd.RawFetch:
    """Keep a fetched document only when it differs from the last one (an unchanged document is not stored twice)."""
    if latest is not None and latest.items and new.items and latest.items[0]["sha256"] == new.items[0]["sha256"]:
        lnd.remove_tree(new.path)
        _cleanup(new.path.parent)
        return latest
    target = store.folder(src.table) / "snapshot" / new.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    new.path.rename(target)
    new.manifest["partition"] = "snapshot"
    (target / lnd.MANIFEST).write_text(json.dumps(new.manifest, indent=1, default=str))
    _cleanup(new.path.parent)
    return lnd.RawFetch(target, new.manifest)


def _cleanup(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _one_file(src: TableSource) -> Path:
    assert src.path is not None
    p = src.path
    if p.is_file():
        return p
    if p.is_dir():
        pattern = src.options.pattern or "*"
        found = sorted(
            (f for f in p.iterdir() if f.is_file() and fnmatch.fnmatch(f.name, pattern)),
            key=lambda f: (f.stat().st_mtime, f.name),
        )
        if found:
            return found[-1]
    raise SourceConfigError(
        f"{src.label}: no export file at {p} (pattern {src.options.pattern or '*'}); fix {src.settings_key}.path"
    )


_DEFAULT_PATTERNS = {"amazon_all_orders": "*.t[xs][tv]", "shopify_orders_csv": "*.csv", "mapping": "*.csv"}


def _fetch_drops(src: TableSource, cursors: dict[str, str], out: FetchOutcome) -> list[lnd.RawFetch]:
    """Export files dropped in a folder: each file (by content) is ingested once."""
    assert src.path is not None
    store = lnd.RawStore(out.landing)
    if src.path.is_file():
        files = [src.path]
    elif src.path.is_dir():
        default = (
            "*.parquet"
            if src.format == "mapping" and src.options.mapping.file_format == "parquet"
            else _DEFAULT_PATTERNS[src.format]
        )
        pattern = src.options.pattern or default
        files = sorted(f for f in src.path.iterdir() if f.is_file() and fnmatch.fnmatch(f.name, pattern))
    else:
        raise SourceConfigError(
            f"{src.label}: the export folder {src.path} does not exist; fix {src.settings_key}.path"
        )
    stored = {i["sha256"]: f for f in store.fetches(src.table, "file") for i in f.items}
    fetched = []
    for path in files:
        data = path.read_bytes()
        digest = lnd.sha256(data)
        if f"file:{digest}" in cursors:
            continue
        raw = stored.get(digest)
        if raw is None:  # saved raw (with its manifest) before anything parses it
            writer = store.begin(src.table, "file", connector=src.connector, file=str(path), format=src.format)
            writer.add(data, origin=str(path), rows=_count_rows(data), suffix=path.suffix or ".dat")
            raw = writer.commit()
            stored[digest] = raw
        out.cursors[f"file:{digest}"] = raw.fetch_id
        fetched.append(raw)
    log.info("%s: %s new export file(s) of %s in %s", src.label, len(fetched), len(files), src.path)
    return fetched


# ------------------------------------------------------------------------------------- parsing


def parse_fetch(src: TableSource, raw: lnd.RawFetch) -> fmt.Parsed:
    """Parse one complete raw fetch (read back from the raw store, hashes verified)."""
    table = src.table
    parsed = fmt.Parsed(table)
    enc = src.options.encoding
    for item in raw.items:
        if item.get("duplicate_of"):
            continue
        data = raw.read(item)
        origin = item["origin"]
        f = src.format
        if f == "amazon_all_orders":
            part = fmt.parse_amazon_all_orders(data, origin, source=src.label, encoding=enc)
        elif f == "shopify_orders_csv":
            part = fmt.parse_shopify_orders_csv(data, origin, source=src.label, encoding=enc)
        elif f == "mapping":
            part = fmt.parse_mapping_file(table, data, origin, src.options.mapping, source=src.label, encoding=enc)
        elif f == "shopify_orders":
            part = fmt.Parsed(table)
            fmt.parse_shopify_orders_page(json.loads(data), origin, part)
        elif f == "ibericode":
            part = fmt.parse_ibericode(data, origin, source=src.label)
        elif f == "uk_tariff":
            part = fmt.parse_uk_tariff(
                data, origin, source=src.label, generated_markets=src.options.generated_duty_markets
            )
        elif f == "climatiq":
            part = fmt.parse_climatiq(data, origin, source=src.label)
        elif f == "events_json":
            part = fmt.Parsed(table)
            fmt.parse_events(_json(data, origin, src), origin, part)
        elif f in ("rate_index", "price_series"):
            part = fmt.Parsed(table)
            if item["name"].endswith(".csv"):
                required = (
                    ("week", "lane", "mode", "rate", "currency", "transit_days")
                    if f == "rate_index"
                    else ("date", "scheme", "price", "currency")
                )
                optional = (
                    tuple(n for names in fmt.RATE_INDEX_FIELDS.values() for n in names)
                    if f == "rate_index"
                    else ("price_date",)
                )
                part.extra_columns, records = fmt.csv_records(data, origin, src.label, required, optional, enc)
            else:
                keys = ("data", "rates", "items") if f == "rate_index" else ("prices", "data", "items")
                records = fmt.json_records(_json(data, origin, src), keys)
            if f == "rate_index":
                fmt.parse_rate_index_records(records, origin, src.options.lane_distances_km, part)
            else:
                fmt.parse_price_records(records, origin, part)
        else:  # pragma: no cover - config.resolve admits only the formats above
            raise SourceConfigError(f"{src.label}: no parser for format {f!r}")
        parsed.merge(part)
    return parsed


def _json(data: bytes, origin: str, src: TableSource) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise fmt.FileFormatError(f"{src.label}: {origin} is not valid JSON ({exc}): truncated or not JSON") from exc


class TooManyRejectsError(ValueError):
    """More rows of a file were bad than options.max_reject_ratio allows: the file is not loaded at all."""


def check_rejects(src: TableSource, origin: str, rejected: int, total: int) -> None:
    if total and rejected / total > src.options.max_reject_ratio:
        raise TooManyRejectsError(
            f"{src.label}: {rejected} of {total} rows of {origin} could not be parsed (more than "
            f"{src.options.max_reject_ratio:.0%}): nothing of it was loaded; a wrong format, date format or decimal "
            f"separator in the settings is likely"
        )


def _apply(src: TableSource, landing: Path, raw: lnd.RawFetch, parsed: fmt.Parsed, out: FetchOutcome) -> set[dt.date]:
    table = src.table
    if parsed.rejects:
        first = "; ".join(f"line {r['line']}: {r['reason']}" for r in parsed.rejects[:3])
        log.warning(
            "%s: %s row(s) of fetch %s rejected (quarantined): %s", src.label, len(parsed.rejects), raw.fetch_id, first
        )
        try:
            check_rejects(
                src,
                raw.manifest.get("file") or raw.manifest.get("url") or raw.fetch_id,
                len(parsed.rejects),
                parsed.records_in - parsed.skipped,
            )
        except TooManyRejectsError as exc:
            raise TooManyRejectsError(f"{exc} (first: {first})") from None
    touched: set[dt.date] = set()
    frame = parsed.frame()
    if table.partitioned:
        touched = lnd.merge_days(landing, table, frame, parsed.tombstones)
    else:
        lnd.write_snapshot(landing, table, frame)
    rejects = [{**r, "source": src.connector, "fetch_id": raw.fetch_id} for r in parsed.rejects]
    lnd.write_rejects(landing, table, raw.fetch_id, rejects)
    out.touched |= touched
    out.fetch_ids.append(raw.fetch_id)
    out.records_in += parsed.records_in
    out.rows += len(parsed.rows)
    out.rejected += len(parsed.rejects)
    out.skipped += parsed.skipped
    for k, v in parsed.drift.items():
        out.drift[k] = sorted(set(out.drift.get(k, [])) | set(v))
    if parsed.drift:
        log.warning("%s: schema drift in fetch %s: %s", src.label, raw.fetch_id, parsed.drift)
    return touched


# -------------------------------------------------------------------------------------- replay


def replay(
    table: RawTable, settings: Settings, committed: dict[str, str] | None = None, *, all_fetches: bool = False
) -> FetchOutcome:
    """Rebuild a table's canonical landing files from its stored raw fetches, without fetching.

    ``committed`` are the table's cursors (``raw._cursors``): only fetches whose rows were committed
    are replayed, oldest first, unless ``all_fetches``. Day files are rebuilt from scratch; the
    outcome's ``load_days`` are the days to reload (``python -m orchestration.defs.ingest replay --load``
    does that, or rerun the partitions).
    """
    src = resolve(settings, table)
    if src.mode == "sample" or src.format == "canonical":
        raise SourceConfigError(f"{src.label} is in {src.mode}/{src.format} mode: there are no raw fetches to replay")
    landing = settings.landing
    store = lnd.RawStore(landing)
    fetches = store.fetches(table)
    if not all_fetches:
        wanted = {k.split(":", 1)[1] for k in (committed or {}) if k.startswith("fetch:")}
        fetches = [f for f in fetches if f.fetch_id in wanted]
    if not table.partitioned:
        fetches = fetches[-1:]
    out = FetchOutcome(src, [], set() if table.daily_partitioned else None, landing=landing)
    before = set(_day_of(p) for p in landed_files(landing, table, None, None)) if table.partitioned else set()
    if table.partitioned:
        lnd.clear_days(landing, table)
    for raw in fetches:
        _apply(src, landing, raw, parse_fetch(src, raw), out)
    if table.daily_partitioned:
        out.load_days = out.touched | before
        out.files = files_of_days(landing, table, out.load_days)
    else:
        out.files = landed_files(landing, table, None, None)
    return out


def _day_of(path: Path) -> dt.date:
    return dt.date.fromisoformat(path.stem)
