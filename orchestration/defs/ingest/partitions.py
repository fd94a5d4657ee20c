"""Daily partitions shared by every time-based source.

The first day covers the freight history (the 2021 peak and the 2024 Red Sea spike); days
before a source's own history simply have no landing file and load nothing.
"""

import datetime as dt
from collections.abc import Mapping

import dagster as dg

PARTITIONS_START = "2019-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


def run_window(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The day range of a run, from its partition tags (a range, or one partition); None otherwise.

    What an incremental build recomputes: dbt's window (``orchestration/defs/transform``) and the
    rows the mart gates check row by row (``orchestration/defs/quality/checks.py``).
    """
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        return start, end
    day = tags.get("dagster/partition")
    return (day, day) if day else None


def run_last_day(tags: Mapping[str, str]) -> dt.date | None:
    """The last partition day of a run (end of its range, or its one partition); None without
    one or when the tag is not a date."""
    value = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
