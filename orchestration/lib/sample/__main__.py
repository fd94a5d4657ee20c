"""``python -m orchestration.lib.sample``: write sample landing files and print the row counts.

Defaults come from the settings (``SampleSettings``): end = yesterday (UTC) or
``sample.end_date``, start = end - history_days + 1, landing = the settings' landing folder.
Freight, FX and carbon-price tables go back to ``sample.freight_start`` unless
``--no-long-history``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from orchestration.lib.schemas import RAW_TABLES


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {s!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m orchestration.lib.sample", description=__doc__.splitlines()[0])
    p.add_argument("--landing", type=Path, help="landing folder (default: settings landing path)")
    p.add_argument("--scale", type=float, help="scale factor (1 = ~2,000 SKUs, ~1M order lines in two years)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--start", type=_date, help="first day (default: end - history_days + 1)")
    p.add_argument("--end", type=_date, help="last day (default: yesterday UTC or sample.end_date)")
    p.add_argument("--tables", help="comma-separated tables (default: all)")
    p.add_argument("--overwrite", action="store_true", help="rewrite files that already exist")
    p.add_argument("--freight-start", type=_date, help="history start of freight, FX and carbon prices")
    p.add_argument("--no-long-history", action="store_true", help="freight, FX and carbon prices from --start only")
    return p


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.sample import write_landing
    from orchestration.lib.settings import get_settings

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    sample = settings.sample
    end = args.end or sample.resolved_end_date()
    start = args.start or (end - dt.timedelta(days=sample.history_days - 1))
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    unknown = [t for t in tables or [] if t not in RAW_TABLES]
    if unknown:
        print(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(RAW_TABLES)}", file=sys.stderr)
        return 2
    if end < start:
        print(f"--end {end} is before --start {start}", file=sys.stderr)
        return 2
    history = None if args.no_long_history else (args.freight_start or sample.freight_start)
    landing = args.landing or settings.landing
    t0 = time.perf_counter()
    counts = write_landing(
        landing,
        start,
        end,
        seed=sample.seed if args.seed is None else args.seed,
        scale=sample.scale if args.scale is None else args.scale,
        tables=tables,
        overwrite=args.overwrite,
        history_start=history,
    )
    width = max(map(len, counts), default=5)
    for name, n in counts.items():
        print(f"{name:<{width}}  {n:>10,}")
    print(
        f"{'total':<{width}}  {sum(counts.values()):>10,}  rows written to {landing} in {time.perf_counter() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
