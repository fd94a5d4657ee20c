"""Entry points of the sample connector: one table as a DataFrame, or the landing files.

``generate_table`` and ``write_landing`` produce every table of
:data:`orchestration.lib.schemas.RAW_TABLES` with exactly the contract columns, in contract
order and types. Partitioned tables are generated day by day: a day is a pure function of
(seed, scale, day), whatever range is asked. Snapshot tables are as of the range end.

Observation day: a shipment still in transit, or a ticket not yet answered or resolved, has
NULL timestamps, as a real export would. "Not yet" is relative to ``observed_on``, by default
the later of the range end and yesterday (UTC): historical ranges are then fully settled and
byte-identical whenever they are generated, and the recent days of a nightly landing show what
is still open. Pass ``observed_on`` to pin it (tests, reproducible benchmarks).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.lib import reference
from orchestration.lib.sample import arrow, policy
from orchestration.lib.sample.cache import OrdersStore, write_atomic
from orchestration.lib.sample.platform import MAX_LAG, MAX_TICKET_LAG, World, world
from orchestration.lib.schemas import RAW_TABLES, RawTable

log = logging.getLogger(__name__)

DayFn = Callable[[World, int, int], pa.Table]

_DAILY: dict[str, DayFn] = {
    "orders": lambda w, d, a: w.orders(d),
    "inventory": lambda w, d, a: w.inventory(d),
    "shipments": lambda w, d, a: w.shipments(d, a),
    "traffic": lambda w, d, a: w.traffic(d),
    "competitors": lambda w, d, a: w.competitors(d),
    "reviews": lambda w, d, a: w.reviews(d),
    "returns": lambda w, d, a: w.returns(d),
    "tickets": lambda w, d, a: w.tickets(d, a),
    "freight_rates": lambda w, d, a: policy.freight_rates(w.seed, d),
    "fx_rates": lambda w, d, a: policy.fx_rates(w.seed, d),
    "carbon_prices": lambda w, d, a: policy.carbon_prices(w.seed, d),
}
_SNAPSHOT: dict[str, Callable[[World, int], pa.Table]] = {
    "catalog": lambda w, a: w.catalog(a),
    "regulatory_events": lambda w, a: policy.regulatory_events(w.seed, a),
    **{
        name: (lambda w, a, _n=name: _from_pandas(_n, reference.reference_table(_n)))
        for name in (
            "vat_rates",
            "duty_rates",
            "de_minimis",
            "digital_services_taxes",
            "emission_factors",
            "cbam_scope",
        )
    },
}
#: Tables whose recent partitions change as the as-of moves (NULL until arrival / answer), with
#: how many days back write_landing refreshes them.
AS_OF_COLUMNS: dict[str, tuple[tuple[str, ...], int]] = {
    "shipments": (("arrived_at",), RAW_TABLES["shipments"].restatement_days),
    "tickets": (
        ("first_response_at", "resolved_at", "response_language", "csat"),
        RAW_TABLES["tickets"].restatement_days,
    ),
}
WEEKLY = {name for name, t in RAW_TABLES.items() if t.cadence == "weekly"}
#: Partitions of these tables keep changing for this many days after their date (arrivals, answers).
OPEN_PARTITION_DAYS: dict[str, int] = {name: days for name, (_, days) in AS_OF_COLUMNS.items()}
#: Days of orders kept on disk for the next night (``cache.py``): its new day's returns, reviews and
#: tickets follow orders of up to MAX_LAG days before, and the tickets it writes again
#: (``restatement_days``) orders of up to MAX_TICKET_LAG days before theirs; one more day of margin.
ORDERS_KEPT_DAYS = max(MAX_LAG, OPEN_PARTITION_DAYS["tickets"] + MAX_TICKET_LAG) + 1


def _from_pandas(name: str, df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df[list(RAW_TABLES[name].columns)], schema=arrow.schema(name), preserve_index=False)


def _days(start: dt.date, end: dt.date) -> list[int]:
    return list(range(start.toordinal(), end.toordinal() + 1))


def _check(name: str, start: dt.date, end: dt.date, scale: float) -> RawTable:
    if name not in RAW_TABLES:
        raise KeyError(f"unknown raw table {name!r}; tables are {', '.join(RAW_TABLES)}")
    if end < start:
        raise ValueError(f"sample range for {name}: end {end} is before start {start}")
    if scale <= 0:
        raise ValueError(f"sample scale must be > 0, got {scale}")
    return RAW_TABLES[name]


def observation_day(end: dt.date, observed_on: dt.date | None = None) -> dt.date:
    """The day at whose end open shipments and tickets are observed (see the module docstring)."""
    if observed_on is not None:
        return observed_on
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return max(end, yesterday)


def generate_arrow(
    name: str,
    start: dt.date,
    end: dt.date,
    seed: int = 42,
    scale: float = 1.0,
    *,
    observed_on: dt.date | None = None,
) -> pa.Table:
    """Like :func:`generate_table`, as an arrow table with the contract schema."""
    table = _check(name, start, end, scale)
    w = world(seed, scale)
    if not table.partitioned:
        return _SNAPSHOT[name](w, end.toordinal())
    seen = observation_day(end, observed_on).toordinal()
    parts = [_DAILY[name](w, d, seen) for d in _days(start, end)]
    return pa.concat_tables(parts) if parts else arrow.empty(name)


def generate_table(
    name: str,
    start: dt.date,
    end: dt.date,
    seed: int = 42,
    scale: float = 1.0,
    *,
    observed_on: dt.date | None = None,
) -> pd.DataFrame:
    """Rows of raw table ``name`` for the days ``start..end`` (snapshot tables: as of ``end``).

    Columns are exactly the contract's, in order; DATE columns hold ``datetime.date``,
    TIMESTAMP columns ``datetime64[s]`` (UTC, naive), NULL is None/NaN/NaT.
    """
    return generate_arrow(name, start, end, seed, scale, observed_on=observed_on).to_pandas()


# ---------------------------------------------------------------------------- landing


def csv_bytes(table: pa.Table) -> bytes:
    """The landing CSV of a table: header, ISO dates, ``YYYY-MM-DD HH:MM:SS`` timestamps, empty NULLs."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=True))
    return buf.getvalue()


def _null_count(table: pa.Table, columns: tuple[str, ...]) -> int:
    return sum(table.column(c).null_count for c in columns)


def _read_landed(path: Path, name: str) -> pa.Table:
    sch = arrow.schema(name)
    opts = pacsv.ConvertOptions(column_types=sch, strings_can_be_null=True, null_values=[""])
    return pacsv.read_csv(path, convert_options=opts)


def landing_path(landing: Path, table: RawTable, day: dt.date | None) -> Path:
    folder = Path(landing) / table.family / table.name
    return folder / ("snapshot.csv" if day is None else f"{day.isoformat()}.csv")


def _should_replace(path: Path, name: str, new: pa.Table, data: bytes, partitioned: bool) -> bool:
    """Refresh rule for files that exist when ``overwrite`` is off (see :func:`write_landing`)."""
    old = path.read_bytes()
    if old == data:
        return False
    try:
        previous = _read_landed(path, name)
    except (pa.ArrowInvalid, OSError):
        return True  # unreadable: replace it
    if not partitioned:
        return new.num_rows >= previous.num_rows
    cols = AS_OF_COLUMNS[name][0]
    return _null_count(new, cols) < _null_count(previous, cols)


def write_landing(
    landing: Path,
    start: dt.date,
    end: dt.date,
    seed: int = 42,
    scale: float = 1.0,
    tables: Iterable[str] | None = None,
    overwrite: bool = False,
    *,
    history_start: dt.date | None = None,
    observed_on: dt.date | None = None,
) -> dict[str, int]:
    """Write sample landing files for ``start..end``; return the rows written per table.

    Layout (from :mod:`orchestration.lib.schemas`): ``<landing>/<family>/<table>/<YYYY-MM-DD>.csv``
    for every day of daily tables (a header-only file on a day without rows, so the day counts as
    landed), Mondays only for weekly tables, ``snapshot.csv`` as of ``end`` for snapshot tables.
    Files are written atomically (temporary file + rename).

    Existing files are kept unless ``overwrite``, with two refreshes that keep a nightly landing
    correct without ever regressing it:

    - a snapshot is replaced when its content changed and it did not shrink (the catalog gains
      SKUs as they launch, the event feed gains announcements);
    - a shipments file of the last 120 days, or a tickets file of the last 45 days (counted back
      from the observation day, see :func:`observation_day`, and including days before
      ``start`` that were landed earlier), is replaced when the later observation fills
      timestamps that were NULL (arrivals, answers, resolutions). A loader that wants those
      updates reloads these partitions (:data:`OPEN_PARTITION_DAYS`).

    ``history_start`` extends freight, FX and carbon-price tables back to that date (the CLI
    passes ``SampleSettings.freight_start``); other tables keep ``start``.
    """
    landing = Path(landing)
    names = list(RAW_TABLES) if tables is None else list(tables)
    for name in names:
        _check(name, start, end, scale)
    w = world(seed, scale, landing)
    as_of = end.toordinal()
    seen = observation_day(end, observed_on).toordinal()
    # The days of orders the next night reads again (its reopened tickets' days and their lag).
    store = OrdersStore(landing, seed, scale, keep_from=as_of - ORDERS_KEPT_DAYS)
    w.orders_store = store
    try:
        written = _write_tables(w, landing, names, start, end, as_of, seen, overwrite, history_start)
    finally:
        w.orders_store = None
    pruned = store.prune()
    if store.loaded or store.saved or pruned:
        log.info(
            "sample cache: %d day(s) of orders read, %d saved, %d removed (%s)",
            store.loaded,
            store.saved,
            pruned,
            store.folder,
        )
    return written


def _write_tables(
    w: World,
    landing: Path,
    names: list[str],
    start: dt.date,
    end: dt.date,
    as_of: int,
    seen: int,
    overwrite: bool,
    history_start: dt.date | None,
) -> dict[str, int]:
    written: dict[str, int] = {name: 0 for name in names}

    for name in [n for n in names if not RAW_TABLES[n].partitioned]:
        t0 = time.perf_counter()
        table = RAW_TABLES[name]
        path = landing_path(landing, table, None)
        data_table = _SNAPSHOT[name](w, as_of)
        data = csv_bytes(data_table)
        if overwrite or not path.exists() or _should_replace(path, name, data_table, data, partitioned=False):
            write_atomic(path, data)
            written[name] += data_table.num_rows
        log.info("sample %s: %d rows (snapshot as of %s) in %.1fs", name, written[name], end, time.perf_counter() - t0)

    daily = [n for n in names if RAW_TABLES[n].partitioned]
    long_history = {"freight_rates", "fx_rates", "carbon_prices"}
    first = {
        n: min(start, history_start) if (history_start is not None and n in long_history) else start for n in daily
    }
    # Open partitions landed earlier (before ``start``) are refreshed too, never created.
    reopen = {n: seen - AS_OF_COLUMNS[n][1] + 1 for n in daily if n in AS_OF_COLUMNS}
    elapsed = {n: 0.0 for n in daily}
    lo = min([*(f.toordinal() for f in first.values()), *reopen.values()], default=start.toordinal())
    for d in range(lo, as_of + 1):
        day = dt.date.fromordinal(d)
        for name in daily:
            before_range = d < first[name].toordinal()
            if (before_range and d < reopen.get(name, d + 1)) or (name in WEEKLY and (d - 1) % 7 != 0):
                continue
            t0 = time.perf_counter()
            table = RAW_TABLES[name]
            path = landing_path(landing, table, day)
            exists = path.exists()
            if before_range and not exists:
                continue
            refresh = name in reopen and d >= reopen[name]
            if exists and not overwrite and not refresh:
                continue
            part = _DAILY[name](w, d, seen)
            data = csv_bytes(part)
            if not exists or (overwrite and not before_range) or _should_replace(path, name, part, data, True):
                write_atomic(path, data)
                written[name] += part.num_rows
            elapsed[name] += time.perf_counter() - t0
        if (d - lo) % 90 == 89:
            log.info("sample landing: through %s", day)
    for name in daily:
        log.info("sample %s: %d rows for %s..%s in %.1fs", name, written[name], first[name], end, elapsed[name])
    return written
