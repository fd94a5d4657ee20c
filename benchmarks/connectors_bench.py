"""Throughput of the REST orders connector against a local server: fetch, parse, land, load.

    .venv/bin/python benchmarks/connectors_bench.py [--orders 100000] [--page-size 250]

A local HTTP server (127.0.0.1, threads) serves ``--orders`` Shopify-style orders (1 or 2 line
items each, spread over 30 days) as ``orders.json`` pages with Link-header cursors. The
connector runs exactly as in a nightly first load (``run_ingest``: every page saved raw with
its manifest, parsed into canonical day files, loaded into ``raw.orders`` in one transaction)
into a temporary data dir. Writes ``benchmarks/results/connectors.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PATH = "/admin/api/2024-07/orders.json"
FIRST = dt.date(2025, 6, 1)


def make_pages(n: int, page_size: int) -> list[bytes]:
    pages, orders, lines = [], [], 0
    for i in range(n):
        day = FIRST + dt.timedelta(days=i % 30)
        items = [{"id": 10_000_000 + 2 * i + k, "sku": f"SKU-{(i + k) % 997:04d}", "quantity": 1 + (i % 3),
                  "price": f"{9.99 + (i % 50):.2f}", "title": "Item", "variant_id": 42, "taxable": True}
                 for k in range(1 + i % 2)]  # fmt: skip
        lines += len(items)
        orders.append(
            {"id": 1_000_000 + i, "name": f"#{1000 + i}", "created_at": f"{day}T{i % 24:02d}:15:00+02:00",
             "updated_at": f"{day}T23:00:00+02:00", "cancelled_at": None, "currency": "EUR",
             "financial_status": "paid", "shipping_address": {"country_code": "DE", "city": "Berlin"},
             "line_items": items}
        )  # fmt: skip
        if len(orders) == page_size:
            pages.append(json.dumps({"orders": orders}).encode())
            orders = []
    if orders or not pages:
        pages.append(json.dumps({"orders": orders}).encode())
    make_pages.lines = lines  # type: ignore[attr-defined]
    return pages


def serve(pages: list[bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            i = int(q.get("page_info", "0"))
            body = pages[i]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if i + 1 < len(pages):
                host = self.headers["Host"]
                self.send_header("Link", f'<http://{host}{PATH}?limit={q.get("limit")}&page_info={i + 1}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "connectors.json")
    args = parser.parse_args()

    t0 = time.perf_counter()
    pages = make_pages(args.orders, args.page_size)
    lines = make_pages.lines  # type: ignore[attr-defined]
    gen_s = time.perf_counter() - t0
    server, url = serve(pages)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            {
                "TRADEWINDS_DATA_DIR": str(Path(tmp) / "data"),
                "TRADEWINDS_SOURCES__PLATFORM__TABLES__ORDERS__MODE": "http",
                "TRADEWINDS_SOURCES__PLATFORM__TABLES__ORDERS__URL": url + PATH,
                "TRADEWINDS_SOURCES__PLATFORM__TABLES__ORDERS__OPTIONS__PAGE_SIZE": str(args.page_size),
            }
        )
        from orchestration.defs.ingest.assets import run_ingest
        from orchestration.lib.landing import RawStore
        from orchestration.lib.schemas import RAW_TABLES
        from orchestration.lib.settings import get_settings
        from orchestration.lib.warehouse import connect

        get_settings.cache_clear()
        settings = get_settings()
        table = RAW_TABLES["orders"]
        wh = settings.warehouse
        t1 = time.perf_counter()
        fetched, result = run_ingest(
            table, FIRST, FIRST + dt.timedelta(days=29), settings, lambda: connect(wh), "bench"
        )
        total_s = time.perf_counter() - t1
        raw = RawStore(settings.landing).fetches(table)[0].manifest
        started = dt.datetime.fromisoformat(raw["started_at"].replace("Z", "+00:00"))
        finished = dt.datetime.fromisoformat(raw["finished_at"].replace("Z", "+00:00"))
        http_s = (finished - started).total_seconds()
        with connect(wh) as conn:
            loaded = conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    server.shutdown()
    assert loaded == lines == result.rows, (loaded, lines, result.rows)
    out = {
        "benchmark": "REST orders connector (Shopify-style orders.json, Link-header pagination) against a local server",
        "command": f".venv/bin/python benchmarks/connectors_bench.py --orders {args.orders} --page-size {args.page_size}",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            # other work on the machine during the run (2 cores shared with other developers' jobs)
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "orders": args.orders,
        "order_lines": lines,
        "pages": len(pages),
        "http_requests": fetched.requests,
        "raw_bytes": raw["bytes"],
        "seconds": {
            "total_fetch_parse_land_load": round(total_s, 2),
            "http_fetch_and_raw_store": round(http_s, 2),
            "parse_land_and_load": round(total_s - http_s, 2),
            "generate_test_pages": round(gen_s, 2),
        },
        "rows_per_second": round(lines / total_s),
        "orders_per_second": round(args.orders / total_s),
        "http_fetch_rows_per_second": round(lines / http_s) if http_s else None,
        "days_landed": len(fetched.touched),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
