"""The nightly's steps share one process: memory a step freed goes back to the OS after it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from orchestration.lib.memory import GC_THRESHOLDS
from orchestration.lib.warehouse import WarehouseResource

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    import pandas as pd, psutil
    from orchestration.lib.memory import release_unused_memory

    def rss():
        return psutil.Process().memory_info().rss / 2**20

    # ~400 MB of Arrow-backed strings (pandas 3's default string dtype), then dropped.
    frame = pd.DataFrame({"s": pd.array([f"sku-{i:09d}-market" for i in range(6_000_000)], dtype="string")})
    frame["t"] = frame["s"].str.upper()
    peak = rss()
    del frame
    gc.collect()
    freed = rss()
    release_unused_memory()
    released = rss()
    print(json.dumps({"peak": peak, "freed": freed, "released": released}))
    """
)


def test_memory_a_step_dropped_is_returned(tmp_path: Path) -> None:
    script = tmp_path / "release.py"  # a file, not python -c (see tests/test_quality.py)
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    mib = json.loads(done.stdout.strip().splitlines()[-1])
    # Dropping the frame alone leaves most of it with the allocator; releasing returns it.
    assert mib["released"] < mib["freed"] - 150, mib  # fails without release_unused_memory
    assert mib["released"] < mib["peak"] / 2, mib


def test_the_nightly_job_releases_memory_after_every_step() -> None:
    from orchestration.definitions import build_definitions
    from orchestration.defs.jobs import NIGHTLY_JOB

    job = build_definitions().resolve_job_def(NIGHTLY_JOB)
    assert {h.name for h in job.hook_defs} == {"after_step"}


def test_a_run_freezes_what_is_loaded_and_relaxes_the_collector(tmp_path) -> None:
    """The warehouse resource, built once at the start of a run, freezes the loaded objects out of
    the collector's walks and sets its thresholds (GC_THRESHOLDS); steps see both."""
    import gc

    @dg.asset
    def probe(warehouse: WarehouseResource) -> tuple[int, tuple[int, int, int]]:
        return gc.get_freeze_count(), gc.get_threshold()

    before = gc.get_threshold()
    gc.unfreeze()
    try:
        result = dg.materialize([probe], resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))})
        frozen, thresholds = result.output_for_node("probe")
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert thresholds == GC_THRESHOLDS != (700, 10, 10)
    assert frozen > 10_000  # Dagster and the libraries loaded by then: fails without freeze_loaded_objects
