"""``tradewinds``: run the nightly job, generate sample data, prepare the dbt manifest, render the instance config.

``tradewinds nightly`` runs the nightly job in this process against a persistent Dagster
instance (``$DAGSTER_HOME``, default ``<data_dir>/dagster_home``), so its runs show in the UI
started with the same DAGSTER_HOME. On a warehouse without history the first run loads the
whole sample history in one run; later runs load one day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("tradewinds")

MART_TABLES = (
    "marts.selection_sku_market",
    "marts.demand_sku_market_daily",
    "marts.service_market_daily",
    "marts.risk_lane_weekly",
    "forecast.demand_forecast",
    "alerts.alert_events",
)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from exc


def _has_history(warehouse: Path) -> bool:
    if not warehouse.exists():
        return False
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'orders'"
        ).fetchone()[0]
        if not found:
            return False
        return bool(conn.execute("SELECT count(*) > 0 FROM raw.orders").fetchone()[0])


def default_range(settings, has_history: bool) -> tuple[dt.date, dt.date]:
    """A first run loads the platform history (series tables are not partitioned); later nights one day."""
    end = settings.sample.resolved_end_date()
    return (end if has_history else settings.sample.resolved_start_date()), end


def ensure_dagster_home(settings) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or (settings.data_dir / "dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch(exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_nightly(start: dt.date | None, end: dt.date | None) -> int:
    import dagster as dg
    import duckdb

    from orchestration.definitions import build_definitions
    from orchestration.defs.jobs import NIGHTLY_JOB
    from orchestration.lib.settings import get_settings
    from orchestration.lib.sqlite_instance import keep_history_open

    settings = get_settings()
    home = ensure_dagster_home(settings)
    keep_history_open(home)  # the local instance's SQLite files: no checkpoint per event
    default_start, default_end = default_range(settings, _has_history(settings.warehouse))
    start, end = start or default_start, end or default_end
    if start > end:
        raise SystemExit(f"--start {start} is after --end {end}")
    log.info("nightly run for partitions %s..%s (warehouse %s, DAGSTER_HOME %s)", start, end, settings.warehouse, home)
    t0 = time.monotonic()
    definitions = build_definitions()
    job = definitions.resolve_job_def(NIGHTLY_JOB)
    with dg.DagsterInstance.get() as instance:
        tags = {
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
            "tradewinds/trigger": "cli",
        }
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        if not result.success:
            from orchestration.defs.alerts import page_failed_run

            page_failed_run(instance, result.run_id, settings)
    elapsed = time.monotonic() - t0
    print(f"\nnightly run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'} in {elapsed:.0f}s")
    print(f"warehouse (marts in schemas marts, forecast, alerts): {settings.warehouse.resolve()}")
    print(f"alert outbox: {settings.outbox.resolve()}")
    if settings.warehouse.exists():
        with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
            for name in MART_TABLES:
                schema, table = name.split(".")
                exists = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                    [schema, table],
                ).fetchone()[0]
                rows = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] if exists else "missing"
                print(f"  {name:34s} {rows}")
    return 0 if result.success else 1


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.memory import relax_garbage_collection

    relax_garbage_collection()
    parser = argparse.ArgumentParser(prog="tradewinds", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    nightly = sub.add_parser("nightly", help="run the nightly job (first run: the whole sample history)")
    nightly.add_argument("--start", type=_date, help="first partition (default: history start on a new warehouse)")
    nightly.add_argument("--end", type=_date, help="last partition (default: sample end date, yesterday)")
    sub.add_parser(
        "prepare",
        help="parse the dbt project into its manifest (done automatically when missing or parsed from other files)",
    )
    instance = sub.add_parser(
        "instance-config",
        help="render deploy/dagster.yaml (PostgreSQL storage, retries, monitoring, pools) from the environment",
    )
    instance.add_argument("--output", type=Path, help="file to write (default: print to stdout)")
    sample = sub.add_parser("sample", help="generate sample data into the landing folder")
    sample.add_argument("args", nargs=argparse.REMAINDER, help="arguments of python -m orchestration.lib.sample")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Dagster's instance storage migrations log every statement at INFO: not progress a user needs.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "nightly":
        return run_nightly(args.start, args.end)
    if args.command == "prepare":
        from orchestration.defs.transform import new_dbt_project, prepare_manifest

        print(f"dbt manifest: {prepare_manifest(new_dbt_project())}")
        return 0
    if args.command == "instance-config":
        from orchestration.lib.instance import TEMPLATE, InstanceConfigError, render_instance_yaml, write_instance_yaml

        try:
            if args.output:
                print(f"Dagster instance config: {write_instance_yaml(args.output)}")
            else:
                sys.stdout.write(render_instance_yaml(TEMPLATE.read_text()))
        except InstanceConfigError as exc:
            print(f"tradewinds instance-config: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "sample":
        from orchestration.lib.sample.__main__ import main as sample_main

        return sample_main(args.args) or 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
