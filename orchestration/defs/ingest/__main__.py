"""``python -m orchestration.defs.ingest``: look at and repair the ingest state of a raw table.

    replay TABLE [--all] [--load]   rebuild the landing files from the stored raw fetches (after a
                                    parser fix), without fetching; --load reloads the days it rebuilt
    fetches TABLE                   the raw fetches with their manifests (partition, items, rows, bytes)
    quarantine TABLE [--limit N]    the quarantined rows (file or URL, line, reason)
    cursors TABLE [--reset]         the incremental state; --reset forgets it, so the next run
                                    fetches the run's range again (a full re-fetch of a backfill)

Settings come from the usual place (``TRADEWINDS_*``, ``tradewinds.toml``). The warehouse must not
be open by a running job (DuckDB has one writer).
"""

from __future__ import annotations

import argparse
import json
import sys

from orchestration.lib.schemas import RAW_TABLES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.defs.ingest", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="rebuild landing from the raw fetches without fetching")
    rp.add_argument("table", choices=sorted(RAW_TABLES))
    rp.add_argument("--all", action="store_true", help="also fetches whose load never committed")
    rp.add_argument("--load", action="store_true", help="reload the rebuilt days into raw.<table> now")
    fp = sub.add_parser("fetches", help="list the raw fetches of a table")
    fp.add_argument("table", choices=sorted(RAW_TABLES))
    qp = sub.add_parser("quarantine", help="show quarantined rows")
    qp.add_argument("table", choices=sorted(RAW_TABLES))
    qp.add_argument("--limit", type=int, default=50)
    cp = sub.add_parser("cursors", help="show (or reset) the incremental state")
    cp.add_argument("table", choices=sorted(RAW_TABLES))
    cp.add_argument("--reset", action="store_true")
    args = parser.parse_args(argv)

    from orchestration.defs.ingest.connectors import replay
    from orchestration.defs.ingest.loader import load
    from orchestration.lib.landing import RawStore
    from orchestration.lib.settings import get_settings
    from orchestration.lib.warehouse import connect, read_cursors, write_cursors

    settings = get_settings()
    table = RAW_TABLES[args.table]
    if args.command == "fetches":
        for f in RawStore(settings.landing).fetches(table):
            m = f.manifest
            print(
                f"{m['fetch_id']}  {m['partition']:40s} items={len(m['items'])} rows={m.get('rows')} bytes={m.get('bytes')}"
            )
        return 0
    with connect(settings.warehouse) as conn:
        if args.command == "cursors":
            cursors = read_cursors(conn, table.name)
            if args.reset:
                write_cursors(conn, table.name, {k: None for k in cursors}, "cli-reset")
                print(f"forgot {len(cursors)} cursor value(s) of {table.name}")
            else:
                print(json.dumps(cursors, indent=1, sort_keys=True))
            return 0
        if args.command == "quarantine":
            found = conn.execute(
                "SELECT loaded_at, origin, line, column_name, reason, raw_record FROM raw._quarantine "
                "WHERE table_name = ? ORDER BY loaded_at DESC, origin, line LIMIT ?",
                [table.name, args.limit],
            ).fetchall()
            for row in found:
                print(" | ".join("" if v is None else str(v) for v in row))
            return 0
        cursors = read_cursors(conn, table.name)
    out = replay(table, settings, cursors, all_fetches=args.all)
    days = sorted(out.load_days) if out.load_days is not None else None
    print(
        f"replayed {len(out.fetch_ids)} raw fetch(es) of {table.name}: {out.rows} rows, {out.rejected} rejected; "
        + (f"{len(days)} day file(s) rebuilt ({days[0]}..{days[-1]})" if days else "snapshot/series rebuilt")
    )
    if args.load:
        with connect(settings.warehouse) as conn:
            result = load(
                conn, table, out.files, out.load_days if table.daily_partitioned else None,
                source=out.source.connector, landing=settings.landing, run_id="cli-replay",
                max_reject_ratio=out.source.options.max_reject_ratio,
            )  # fmt: skip
        print(
            f"loaded {result.rows} rows into raw.{table.name}; quarantined {result.quarantined + result.parser_quarantined}"
        )
    elif days:
        print(f"reload them with: tradewinds nightly --start {days[0]} --end {days[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
