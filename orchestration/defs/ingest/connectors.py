"""Connectors put source data into the landing folder; the loader reads only landing files.

Every source family is fetched by the connector its settings name:

- ``sample`` (default): the embedded deterministic generator writes the landing files for
  the requested days (no network, no credentials);
- ``file``: a folder in the landing layout (``<path>/<table>/<YYYY-MM-DD>.csv`` or
  ``snapshot.csv``), e.g. a seller's export drop, copied into landing unchanged;
- ``http``: real APIs (not available yet: configuring it is refused with a clear error).

Landing files are immutable: a day that is already landed is not fetched again.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from orchestration.lib.schemas import RawTable
from orchestration.lib.settings import Settings

log = logging.getLogger(__name__)


class SourceConfigError(ValueError):
    """A source is configured in a way that cannot work; the message says what to fix."""


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


def fetch_to_landing(table: RawTable, start: dt.date | None, end: dt.date | None, settings: Settings) -> list[Path]:
    """Make sure the landing folder holds the table's files for the range; return them."""
    source = settings.source(table.family)
    landing = settings.landing
    if source.mode == "sample":
        from orchestration.lib.sample import write_landing

        if table.partitioned:
            lo, hi = sample_window(table, settings)
            s, e = max(start or lo, lo), min(end or hi, hi)
            if s <= e:
                counts = write_landing(
                    landing, s, e, seed=settings.sample.seed, scale=settings.sample.scale, tables=[table.name]
                )
                log.info(
                    "sample connector landed %s rows of %s for %s..%s", counts.get(table.name, 0), table.name, s, e
                )
        else:
            as_of = settings.sample.resolved_end_date()
            write_landing(
                landing, as_of, as_of, seed=settings.sample.seed, scale=settings.sample.scale, tables=[table.name]
            )
    elif source.mode == "file":
        if source.path is None:
            raise SourceConfigError(
                f"source '{table.family}' is in file mode but has no path: set sources.{table.family}.path "
                f"(or TRADEWINDS_SOURCES__{table.family.upper()}__PATH) to the export folder"
            )
        _copy_from_folder(Path(source.path), table, start, end, landing)
    else:
        raise SourceConfigError(
            f"source '{table.family}' is configured with mode '{source.mode}', which this version cannot fetch yet; "
            f"use 'sample' or 'file' (sources.{table.family}.mode)"
        )
    return landed_files(landing, table, start, end)


def _copy_from_folder(
    src_root: Path, table: RawTable, start: dt.date | None, end: dt.date | None, landing: Path
) -> None:
    src_dir = src_root / table.name
    if not src_dir.is_dir():
        raise SourceConfigError(
            f"file source for {table.family}.{table.name}: folder {src_dir} does not exist; "
            f"export the table as {src_dir}/<YYYY-MM-DD>.csv (or snapshot.csv) or fix sources.{table.family}.path"
        )
    if table.partitioned and (start is None or end is None):
        pairs = [(p, landing_dir(landing, table) / p.name) for p in sorted(src_dir.glob("*.csv"))]
    elif table.partitioned:
        pairs = [(src_dir / f"{d.isoformat()}.csv", day_file(landing, table, d)) for d in days(start, end)]
    else:
        pairs = [(src_dir / "snapshot.csv", snapshot_file(landing, table))]
    copied = 0
    for src, dst in pairs:
        if src.is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".csv.tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
            copied += 1
    log.info("file connector landed %s new file(s) of %s from %s", copied, table.name, src_dir)
