"""Give memory the pipeline no longer uses back to the operating system between steps.

The nightly runs every step in one process (``orchestration/defs/jobs.py``). pandas 3 keeps
string columns in Arrow arrays, and Arrow's default allocator (mimalloc) keeps freed memory for
reuse instead of returning it: after the ingest steps the process held about 850 MB it no longer
used at SF 1 (2 GB at SF 10), beside the dbt process and its DuckDB building the marts. Releasing
it after each step keeps the whole night's peak to what the steps need at the same time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere, e.g. on macOS or musl)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_unused_memory() -> None:
    """Return the free memory of Arrow's pool and of the C heap to the OS (about a millisecond).

    No ``gc.collect()``: a frame is freed when its last reference goes, and a full collection
    of the run's process (Dagster, dbt manifest, GX) took 0.2-0.4 s, 25 s over a night's steps.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
