"""Daily partitions shared by every time-based source.

The first day covers the freight history (the 2021 peak and the 2024 Red Sea spike); days
before a source's own history simply have no landing file and load nothing.
"""

import dagster as dg

PARTITIONS_START = "2019-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
