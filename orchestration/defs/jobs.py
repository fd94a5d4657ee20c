"""The nightly job and its schedule.

One job materializes the whole graph for a range of daily partitions. It runs in one
process: DuckDB allows a single writer, and every step writes the same warehouse file.
Since it runs everything in one run, Dagster's blocking checks stop what a gate failing
tonight guards; the ``upstream_gates`` checks on the marts (``orchestration/defs/quality``)
stop it while a gate of an earlier night is still failing.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.ingest.partitions import daily_partitions
from orchestration.lib.memory import release_unused_memory

NIGHTLY_JOB = "nightly"


@dg.success_hook(name="release_memory_after_step")
def release_memory_after_step(_context: dg.HookContext) -> None:
    """Every step runs in the run's process: free what the step left unused (``lib/memory.py``)."""
    release_unused_memory()


@dg.failure_hook(name="release_memory_after_failed_step")
def release_memory_after_failed_step(_context: dg.HookContext) -> None:
    release_unused_memory()


def build_jobs_and_schedules() -> tuple[list[dg.UnresolvedAssetJobDefinition], list[dg.ScheduleDefinition]]:
    nightly = dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=daily_partitions,
        executor_def=dg.in_process_executor,
        hooks={release_memory_after_step, release_memory_after_failed_step},
        description=(
            "Ingest every source for the day, build the marts, gate (GX suites, dbt tests, and gates still "
            "failing from earlier nights), forecast, alert and publish the marts for BI."
        ),
        tags={"team": "data-engineering"},
    )
    schedule = dg.build_schedule_from_partitioned_job(
        nightly,
        name="nightly_schedule",
        hour_of_day=2,
        minute_of_hour=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return [nightly], [schedule]
