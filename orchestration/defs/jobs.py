"""The nightly job and its schedule.

One job materializes the whole graph for a range of daily partitions. It runs in one
process: DuckDB allows a single writer, and every step writes the same warehouse file.
Since it runs everything in one run, Dagster's blocking checks stop what a gate failing
tonight guards; the ``upstream_gates`` checks on the marts (``orchestration/defs/quality``)
stop it while a gate of an earlier night is still failing.
"""

from __future__ import annotations

import time

import dagster as dg

from orchestration.lib.memory import release_unused_memory
from orchestration.lib.warehouse import trim_held

NIGHTLY_JOB = "nightly"


#: The op (the dbt build step) after which the forecasts' head start begins (``after_step``).
HEAD_START_AFTER_STEP = "dbt_models"


@dg.success_hook(name="after_step", required_resource_keys={"warehouse"})
def after_step(context: dg.HookContext) -> None:
    """After every step that succeeded (one hook: each hook is an event per step in the run's log,
    ~2.5 ms apiece on the local instance, and three hooks were 171 of a one-day night's events):

    - free what the step left unused (``lib/memory.py``; the held warehouse's cache when the
      process is large, ``lib/warehouse.trim_held``): every step runs in the run's process. A
      failed step's leftovers go with the next step that succeeds;
    - when the dbt build is done, begin the forecasts' head start (``forecast.engine.HeadStart``):
      one worker process forecasts tonight's series from the built marts while this process runs
      the gates, and the forecast steps (last among the steps ready to run: their priority) take
      the results of the tasks that are still the same. Its worker forks from the forkserver the
      build booted as it started (``transform.boot_forecast_workers``: Prophet already imported).
    """
    trim_held()
    release_unused_memory()
    if context.op.name == HEAD_START_AFTER_STEP:
        start_forecast_head_start(context)


def start_forecast_head_start(context: dg.HookContext) -> None:
    from orchestration.defs.forecast.assets import start_head_start
    from orchestration.lib.settings import get_settings

    started = time.perf_counter()
    with context.resources.warehouse.connect() as conn:
        begun = start_head_start(conn, get_settings().forecast)
    if begun:
        context.log.info(
            "forecasts' head start: "
            + ", ".join(f"{n} {group} series" for group, n in begun.items())
            + f" being forecast in the background while the gates run (inputs read in {time.perf_counter() - started:.1f}s)"
        )


def build_jobs_and_schedules() -> tuple[list[dg.UnresolvedAssetJobDefinition], list[dg.ScheduleDefinition]]:
    nightly = dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        hooks={after_step},
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
