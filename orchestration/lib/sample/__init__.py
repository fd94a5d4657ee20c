"""The embedded "sample" connector: deterministic sample data for every raw table.

Public API (others depend on these names):

- :func:`generate_table` - one table for a date range as a pandas DataFrame;
- :func:`write_landing` - the landing files (``<landing>/<family>/<table>/<YYYY-MM-DD>.csv``
  and ``snapshot.csv``) for a date range;
- ``python -m orchestration.lib.sample`` - the same from the command line.

Data depend on (seed, scale) and, for each day, on that day only. Scale 1 is about 2,000
SKUs in 20 markets and 1M order lines over two years; scale multiplies SKUs and volumes.
"""

from orchestration.lib.sample.generate import (
    OPEN_PARTITION_DAYS,
    generate_arrow,
    generate_table,
    observation_day,
    write_landing,
)

__all__ = ["OPEN_PARTITION_DAYS", "generate_arrow", "generate_table", "observation_day", "write_landing"]
