"""HTTP connectors against real local servers that misbehave on purpose.

The Shopify Admin REST orders endpoint is emulated (``ShopifyFake``: Link-header cursor
pagination, created/updated filters, no filters allowed beside page_info). Every fault test checks
the outcome (retried and loaded, or a clear error naming the source and the URL, or quarantined
rows) and that nothing partial was committed: warehouse rows, landing files and cursors as before.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.ingest.assets import build_ingest_asset, run_ingest
from orchestration.defs.ingest.connectors import plan_order_fetches, replay
from orchestration.defs.ingest.formats import SchemaDriftError
from orchestration.lib import reference
from orchestration.lib.http import HttpSourceError
from orchestration.lib.reference import REFERENCE_DIR
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource, read_cursors
from orchestration.lib.warehouse import connect as warehouse_connect
from tests.test_http import FakeAPI, Reply, Request

ORDERS = RAW_TABLES["orders"]
API_PATH = "/admin/api/2024-07/orders.json"
FAST_HTTP = {"connect_timeout": "1", "read_timeout": "0.5", "retries": "3", "backoff_factor": "0.01", "backoff_jitter": "0.01"}  # fmt: skip


def ts(day: dt.date, hour: int = 10, offset: str = "-04:00") -> str:
    return f"{day}T{hour:02d}:00:00{offset}"


def make_orders(n: int, first: dt.date = dt.date(2025, 6, 1), days: int = 30) -> list[dict]:
    orders = []
    for i in range(n):
        day = first + dt.timedelta(days=i % days)
        orders.append(
            {
                "id": 100000 + i,
                "name": f"#{1000 + i}",
                "created_at": ts(day),
                "updated_at": ts(day, 12),
                "cancelled_at": None,
                "currency": "EUR",
                "shipping_address": {"country_code": "de"},
                "line_items": [
                    {"id": 5000000 + 2 * i, "sku": f"SKU-{i % 7}", "quantity": 1 + i % 3, "price": "19.99"},
                    {"id": 5000001 + 2 * i, "sku": "SKU-X", "quantity": 1, "price": "5.00"},
                ],
            }
        )
    return orders


def _utc(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.UTC)


class ShopifyFake:
    """orders.json with Shopify's filters and Link pagination; ``faults[n]`` replaces (or transforms) reply n."""

    def __init__(self, orders: list[dict]):
        self.orders = orders
        self.queries: dict[str, list[dict]] = {}
        self.faults: dict[int, Reply | Callable[[Reply], Reply]] = {}

    def __call__(self, req: Request, n: int) -> Reply:
        reply = self.answer(req)
        fault = self.faults.get(n)
        if fault is None:
            return reply
        return fault(reply) if callable(fault) else fault

    def answer(self, req: Request) -> Reply:
        q = req.query
        limit = int(q.get("limit", 50))
        if "page_info" in q:
            if set(q) - {"page_info", "limit"}:
                return Reply(400, {"errors": {"page_info": "cannot be passed with other filters"}})
            qid, offset = q["page_info"].rsplit("-", 1)
            found, offset = self.queries[qid], int(offset)
        else:
            found = [o for o in self.orders if self._match(o, q)]
            qid = f"q{len(self.queries)}"
            self.queries[qid] = found
            offset = 0
        page = found[offset : offset + limit]
        headers = {}
        if offset + limit < len(found):
            headers["Link"] = f'<{req.url.split("?")[0]}?limit={limit}&page_info={qid}-{offset + limit}>; rel="next"'
        return Reply(body={"orders": page}, headers=headers)

    @staticmethod
    def _match(o: dict, q: dict) -> bool:
        try:
            created, updated = _utc(o["created_at"]), _utc(o["updated_at"])
        except ValueError:
            return True  # a broken record is served as it is
        if "created_at_min" in q and created < _utc(q["created_at_min"]):
            return False
        if "created_at_max" in q and created > _utc(q["created_at_max"]):
            return False
        return not ("updated_at_min" in q and updated < _utc(q["updated_at_min"]))


@pytest.fixture
def tw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPIFY_TOKEN", "shpat_secret_123")

    def configure(table: str, family: str, **fields: str) -> Path:
        for k, v in fields.items():
            monkeypatch.setenv(f"TRADEWINDS_SOURCES__{family.upper()}__TABLES__{table.upper()}__{k.upper()}", str(v))
        for k, v in FAST_HTTP.items():
            monkeypatch.setenv(f"TRADEWINDS_SOURCES__{family.upper()}__OPTIONS__HTTP__{k.upper()}", v)
        get_settings.cache_clear()
        return tmp_path

    get_settings.cache_clear()
    return configure


def shopify(tw, api: FakeAPI, page_size: int = 100) -> Path:
    return tw(
        "orders", "platform", mode="http", url=api.url + API_PATH, token_env="SHOPIFY_TOKEN",
        auth_header="X-Shopify-Access-Token", options__page_size=page_size,
    )  # fmt: skip


def ingest(tmp: Path, start=None, end=None, table=ORDERS):
    return run_ingest(
        table, start, end, get_settings(), lambda: warehouse_connect(tmp / "data" / "warehouse.duckdb"), "t"
    )


def state(tmp: Path, table: str = "orders") -> dict:
    """Everything a failed run must leave as it was: rows, cursors, quarantine, landing files."""
    folder = tmp / "data" / "landing" / RAW_TABLES[table].family / table
    out: dict = {"landing": sorted((p.name, p.read_bytes()) for p in folder.glob("*.csv"))}
    with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
        out["cursors"] = read_cursors(conn, table)
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()
        }
        out["rows"] = conn.execute(f"SELECT * FROM raw.{table} ORDER BY 1").fetchall() if table in tables else []
        out["quarantine"] = (
            conn.execute("SELECT count(*) FROM raw._quarantine").fetchone()[0] if "_quarantine" in tables else 0
        )
    return out


def rows(tmp: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


JUNE = (dt.date(2025, 6, 1), dt.date(2025, 6, 30))


def test_first_run_backfills_then_nightly_fetches_only_updates(tw):
    # Dates relative to today: the nightly run after the first load is for yesterday.
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=40)
    orders = make_orders(300, first)
    fake = ShopifyFake(orders)
    with FakeAPI(fake) as api:
        tmp = shopify(tw, api)
        fetched, result = ingest(tmp, first, first + dt.timedelta(days=29))
        assert result.rows == 600 and rows(tmp, "SELECT count(*) FROM raw.orders")[0][0] == 600
        req = api.requests[0]
        assert req.query["created_at_min"] == f"{first}T00:00:00Z" and req.query["status"] == "any"
        assert req.headers["X-Shopify-Access-Token"] == "shpat_secret_123"
        assert len(api.requests) == 3  # 300 orders, 100 per page, Link-header cursor
        with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
            cursors = read_cursors(conn, "orders")
        assert cursors["covered_from"] == str(first) and "updated_at_min" in cursors
        # rows are in UTC: 10:00 at -04:00 is 14:00 UTC
        assert rows(tmp, "SELECT ordered_at FROM raw.orders WHERE order_line_id = '5000000'")[0][
            0
        ] == dt.datetime.combine(first, dt.time(14))

        # the next night: one order repriced, one cancelled (both from weeks ago), one new order yesterday
        now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        orders[4]["line_items"][0]["price"] = "17.50"
        orders[4]["updated_at"] = stamp
        orders[9]["cancelled_at"] = orders[9]["updated_at"] = stamp
        yesterday = today - dt.timedelta(days=1)
        orders.append({**make_orders(1)[0], "id": 999, "created_at": ts(yesterday, 1, "+00:00"), "updated_at": stamp,
                       "line_items": [{"id": 999001, "sku": "SKU-N", "quantity": 2, "price": "9.00"}]})  # fmt: skip
        api.requests.clear()
        fetched, _ = ingest(tmp, yesterday, yesterday)
        assert len(api.requests) == 1 and "updated_at_min" in api.requests[0].query
        assert "created_at_min" not in api.requests[0].query
        assert fetched.records_in == 3
        assert fetched.load_days == {first + dt.timedelta(days=4), first + dt.timedelta(days=9), yesterday}
        got = dict(rows(tmp, "SELECT order_line_id, unit_price FROM raw.orders"))
        assert got["5000008"] == 17.5 and "5000018" not in got and got["999001"] == 9.0
        assert len(got) == 600 - 2 + 1
        with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
            assert read_cursors(conn, "orders")["updated_at_min"] == now.replace(tzinfo=None).isoformat(
                timespec="seconds"
            )

        # a backfill of days before the first load is fetched by created date, the cursor stays
        api.requests.clear()
        ingest(tmp, first - dt.timedelta(days=3), first - dt.timedelta(days=1))
        assert "created_at_min" in api.requests[0].query
        with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
            after = read_cursors(conn, "orders")
        assert after["updated_at_min"] == now.replace(tzinfo=None).isoformat(timespec="seconds")
        assert after["covered_from"] == str(first - dt.timedelta(days=3))


def test_backfill_plan():
    june = dt.date(2025, 6, 1), dt.date(2025, 6, 30)
    assert plan_order_fetches(*june, {}) == [("created", {"start": june[0], "end": june[1]})]
    c = {"updated_at_min": "2025-07-02T01:00:00", "covered_from": "2025-06-15"}
    assert plan_order_fetches(dt.date(2025, 7, 1), dt.date(2025, 7, 1), c) == [
        ("updated", {"since": c["updated_at_min"]})
    ]
    # a backfill of past days is fetched by created date; the cursor is left alone
    assert plan_order_fetches(*june, c) == [("created", {"start": june[0], "end": june[1]})]
    # a range that reaches the cursor and starts before the first fetched day: both
    assert plan_order_fetches(dt.date(2025, 6, 10), dt.date(2025, 7, 1), c) == [
        ("created", {"start": dt.date(2025, 6, 10), "end": dt.date(2025, 6, 14)}),
        ("updated", {"since": c["updated_at_min"]}),
    ]


TRANSIENT = {
    "429_retry_after": lambda r: Reply(429, "Exceeded 2 calls per second", {"Retry-After": "1"}),
    "500": lambda r: Reply(500, "oops"),
    "502": lambda r: Reply(502, "bad gateway"),
    "503": lambda r: Reply(503, "unavailable"),
    "slow": lambda r: Reply(r.status, r.body, r.headers, sleep=1.0),
    "dropped": lambda r: Reply(drop=True),
    "cut_mid_body": lambda r: Reply(r.status, r.body, r.headers, cut_at=100),
}


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_faults_are_retried_and_everything_loads_once(tw, fault: str):
    fake = ShopifyFake(make_orders(250))
    fake.faults[2] = TRANSIENT[fault]  # the second page
    with FakeAPI(fake) as api:
        tmp = shopify(tw, api)
        ingest(tmp, *JUNE)
        assert rows(tmp, "SELECT count(*), count(DISTINCT order_line_id) FROM raw.orders")[0] == (500, 500)
        assert len(api.requests) == 4  # 3 pages + 1 retry


FATAL = {
    "truncated_json": (lambda r: Reply(200, json.dumps(r.body)[:120], r.headers), HttpSourceError, "not valid JSON"),
    "persistent_503": (None, HttpSourceError, "HTTP 503"),
    "always_slow": (None, HttpSourceError, "timed out"),
    "schema_change": (
        lambda r: Reply(200, {"orders": [{k: v for k, v in o.items() if k != "line_items"} | {"lineItems": []} for o in r.body["orders"]]}, r.headers),
        SchemaDriftError, "have no line_items in the middle of the pagination",
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FATAL))
def test_fatal_faults_name_source_and_url_and_commit_nothing(tw, fault: str):
    transform, error, message = FATAL[fault]
    fake = ShopifyFake(make_orders(300))
    with FakeAPI(fake) as api:
        tmp = shopify(tw, api)
        ingest(tmp, dt.date(2025, 6, 1), dt.date(2025, 6, 15))
        before = state(tmp)
        n = len(api.requests)
        if fault == "persistent_503":
            for i in range(n + 2, n + 20):
                fake.faults[i] = Reply(503, "down")
        elif fault == "always_slow":
            for i in range(n + 2, n + 20):
                fake.faults[i] = lambda r: Reply(r.status, r.body, r.headers, sleep=0.8)
        else:
            fake.faults[n + 2] = transform
        with pytest.raises(error) as err:
            ingest(tmp, dt.date(2025, 6, 16), dt.date(2025, 6, 30))
        msg = str(err.value)
        assert "platform.orders" in msg and message in msg
        assert api.url + API_PATH + "?limit=100&page_info=" in msg  # the URL of the failing page
        assert state(tmp) == before
        failed = list((tmp / "data" / "landing" / "_raw" / "platform" / "orders").glob("created_2025-06-16*/.failed-*"))
        assert len(failed) == 1 and json.loads((failed[0] / "manifest.json").read_text())["complete"] is False
        assert not [p for p in failed[0].parent.iterdir() if not p.name.startswith(".")]


def test_empty_and_repeated_pages(tw):
    fake = ShopifyFake(make_orders(250))
    # page 2 answers empty but still links on; page 3 repeats page 1 byte for byte
    fake.faults[2] = lambda r: Reply(200, {"orders": []}, r.headers)
    with FakeAPI(fake) as api:
        tmp = shopify(tw, api)
        first_page: dict = {}

        def repeat(r: Reply) -> Reply:
            return Reply(200, first_page["body"], r.headers)

        def remember(r: Reply) -> Reply:
            first_page["body"] = r.body
            return r

        fake.faults[1] = remember
        fake.faults[3] = repeat
        fetched, _ = ingest(tmp, *JUNE)
        assert rows(tmp, "SELECT count(*), count(DISTINCT order_line_id) FROM raw.orders")[0] == (200, 200)
        manifest = json.loads(next((tmp / "data" / "landing" / "_raw").rglob("manifest.json")).read_text())
        assert [i["rows"] for i in manifest["items"]] == [100, 0, 100]
        assert manifest["items"][2]["duplicate_of"] == manifest["items"][0]["name"]
    with FakeAPI(ShopifyFake([])) as api:  # nothing at all: an empty first page
        tmp = shopify(tw, api)
        fetched, result = ingest(tmp, dt.date(2025, 8, 1), dt.date(2025, 8, 1))
        assert fetched.records_in == 0 and result.rows == 0


def test_bad_records_are_quarantined_with_url_and_position(tw):
    orders = make_orders(20)
    orders[3]["line_items"][0]["price"] = "abc"
    orders[5]["line_items"][1]["sku"] = None
    orders[7]["created_at"] = "not a date"
    with FakeAPI(ShopifyFake(orders)) as api:
        tmp = shopify(tw, api)
        ingest(tmp, *JUNE)
        assert rows(tmp, "SELECT count(*) FROM raw.orders")[0][0] == 2 * 17
        q = rows(tmp, "SELECT origin, line, column_name, reason, source, raw_record FROM raw._quarantine ORDER BY line")
        assert [(r[1], r[2]) for r in q] == [(4, "unit_price"), (6, "sku"), (8, "created_at")]
        assert all(r[0].startswith(api.url + API_PATH) and r[4] == "platform/shopify_orders" for r in q)
        assert "abc" in q[0][3] and json.loads(q[0][5])["id"] == 100003


def test_secret_is_never_written(tw, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeAPI(ShopifyFake(make_orders(5))) as api:
        tmp = shopify(tw, api)
        ingest(tmp, *JUNE)
    written = b"".join(p.read_bytes() for p in (tmp / "data").rglob("*") if p.is_file())
    assert b"shpat_secret_123" not in written and "shpat_secret_123" not in caplog.text


def test_replay_rebuilds_landing_without_fetching(tw):
    orders = make_orders(120)
    fake = ShopifyFake(orders)
    with FakeAPI(fake) as api:
        tmp = shopify(tw, api)
        ingest(tmp, *JUNE)
    landing = tmp / "data" / "landing" / "platform" / "orders"
    before = {p.name: p.read_bytes() for p in landing.glob("*.csv")}
    for p in landing.glob("*.csv"):
        p.unlink()
    with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
        cursors = read_cursors(conn, "orders")
    out = replay(ORDERS, get_settings(), cursors)  # the server is gone: nothing is fetched
    assert {p.name: p.read_bytes() for p in landing.glob("*.csv")} == before
    assert len(out.load_days) == 30


def test_the_dagster_asset_runs_the_rest_connector(tw):
    with FakeAPI(ShopifyFake(make_orders(60))) as api:
        tmp = shopify(tw, api)
        result = dg.materialize(
            [build_ingest_asset(ORDERS)],
            partition_key="2025-06-30",
            resources={"warehouse": WarehouseResource(path=str(tmp / "data" / "warehouse.duckdb"))},
        )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["connector"].value == "platform/shopify_orders" and meta["rows_loaded"].value == 4
    assert all(e.passed for e in result.get_asset_check_evaluations())


# ------------------------------------------------------------------------- freight, carbon, policy


def lanes_page(req: Request, n: int) -> Reply:
    page = int(req.query["page"])
    since = dt.date.fromisoformat(req.query.get("since", "2025-01-06"))
    weeks = [
        since + dt.timedelta(days=7 * i) for i in range(6) if since + dt.timedelta(days=7 * i) <= dt.date(2025, 2, 10)
    ]
    recs = [
        {
            "lane": lane,
            "week": str(w),
            "mode": "ocean_fcl_40ft",
            "rate": 2000 + 10 * i,
            "currency": "USD",
            "transit_days": 32,
        }
        for i, w in enumerate(weeks)
        for lane in ("CNSHA-DEHAM", "CNSHA-USLAX")
    ]
    if "since" not in req.query:
        recs.insert(
            0,
            {
                "lane": "shanghai to hamburg",
                "week": "2025-01-06",
                "mode": "ocean_fcl_40ft",
                "rate": 1,
                "currency": "USD",
                "transit_days": 1,
            },
        )
    per = int(req.query["per_page"])
    return Reply(body={"data": recs[(page - 1) * per : page * per]})


def test_freight_rate_index_pages_and_incremental_since(tw):
    with FakeAPI(lanes_page) as api:
        tmp = tw(
            "freight_rates", "freight", mode="http", url=api.url + "/v1/rates", options__page_size=5,
            **{"options__lane_distances_km__CNSHA-DEHAM": "20000", "options__lane_distances_km__CNSHA-USLAX": "10500"},
        )  # fmt: skip
        table = RAW_TABLES["freight_rates"]
        ingest(tmp, table=table)
        assert rows(tmp, "SELECT count(*), count(DISTINCT rate_week), min(distance_km) FROM raw.freight_rates")[0] == (
            12,
            6,
            10500,
        )
        assert [r.query["page"] for r in api.requests] == ["1", "2", "3", "4"]
        assert rows(tmp, "SELECT line, column_name FROM raw._quarantine") == [(1, "lane_id")]
        api.requests.clear()
        ingest(tmp, table=table)
        assert api.requests[0].query["since"] == "2025-01-13"  # last week 2025-02-10 minus 28 days
        assert rows(tmp, "SELECT count(*) FROM raw.freight_rates")[0][0] == 12
        r = rows(tmp, "SELECT origin_country, destination_port, rate_unit FROM raw.freight_rates LIMIT 1")[0]
        assert r == ("CN", "DEHAM", "per_container")


def test_carbon_price_series_next_token(tw):
    def prices(req: Request, n: int) -> Reply:
        token = req.query.get("next_token")
        start = {None: 0, "t2": 3}[token]
        recs = [
            {
                "date": str(dt.date(2025, 1, 1) + dt.timedelta(days=start + i)),
                "scheme": "EU ETS",
                "price": 70 + i,
                "currency": "EUR",
            }
            for i in range(3)
        ]
        return Reply(body={"prices": recs, "next_token": "t2" if token is None else None})

    with FakeAPI(prices) as api:
        tmp = tw("carbon_prices", "carbon", mode="http", url=api.url + "/ets")
        ingest(tmp, table=RAW_TABLES["carbon_prices"])
        assert rows(tmp, "SELECT count(*), min(price_date), max(price_date) FROM raw.carbon_prices")[0] == (
            6,
            dt.date(2025, 1, 1),
            dt.date(2025, 1, 6),
        )
        assert api.requests[1].query["next_token"] == "t2"


def test_ibericode_vat_over_http_is_the_reference_table_and_truncation_commits_nothing(tw):
    doc = (REFERENCE_DIR / "eu_vat_rates" / "vat-rates.json").read_bytes()
    served = {"body": doc}
    with FakeAPI(lambda req, n: Reply(200, served["body"], {"Content-Type": "application/json"})) as api:
        tmp = tw("vat_rates", "policy", mode="http", url=api.url + "/vat-rates.json")
        table = RAW_TABLES["vat_rates"]
        ingest(tmp, table=table)
        got = pd.DataFrame(
            rows(tmp, "SELECT * EXCLUDE (_partition_date, _source_file, _loaded_at) FROM raw.vat_rates"),
            columns=list(table.columns),
        )
        want = reference.vat_rates()
        key = ["country_code", "effective_from"]
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True), check_dtype=False
        )
        raw = tmp / "data" / "landing" / "_raw" / "policy" / "vat_rates" / "snapshot"
        ingest(tmp, table=table)  # unchanged document: not stored again
        assert len([p for p in raw.iterdir() if not p.name.startswith(".")]) == 1
        before = state(tmp, "vat_rates")
        snapshot = (tmp / "data" / "landing" / "policy" / "vat_rates" / "snapshot.csv").read_bytes()
        served["body"] = doc[: len(doc) // 2]
        with pytest.raises(Exception, match=r"policy\.vat_rates.*not valid JSON"):
            ingest(tmp, table=table)
        assert state(tmp, "vat_rates") == before
        assert (tmp / "data" / "landing" / "policy" / "vat_rates" / "snapshot.csv").read_bytes() == snapshot


def test_uk_tariff_and_climatiq_files_over_http_match_the_reference_tables(tw):
    files = {
        "/ukgt.csv": (REFERENCE_DIR / "uk_global_tariff_2021" / "ukgt_vs_eu_cet_2021.csv").read_bytes(),
        "/oefdb.csv": (REFERENCE_DIR / "freight_emission_factors" / "freight_emission_factors.csv").read_bytes(),
    }
    with FakeAPI(lambda req, n: Reply(200, files[req.path], {"Content-Type": "text/csv"})) as api:
        tmp = tw("duty_rates", "policy", mode="http", url=api.url + "/ukgt.csv")
        tw("emission_factors", "carbon", mode="http", url=api.url + "/oefdb.csv")
        for name, key in (
            ("duty_rates", ["destination_country", "commodity_code", "effective_from"]),
            ("emission_factors", ["activity_id"]),
        ):
            table = RAW_TABLES[name]
            ingest(tmp, table=table)
            got = pd.DataFrame(
                rows(tmp, f"SELECT * EXCLUDE (_partition_date, _source_file, _loaded_at) FROM raw.{name}"),
                columns=list(table.columns),
            )
            want = reference.reference_table(name)
            assert len(got) == len(want), name
            got = got.sort_values(key).reset_index(drop=True)
            want = want.sort_values(key).reset_index(drop=True)
            for col in table.columns:
                a, b = got[col], want[col]
                if table.columns[col] == "DOUBLE":
                    assert ((a - b.astype(float)).abs().fillna(0) < 1e-9).all() and (a.isna() == b.isna()).all(), (
                        name,
                        col,
                    )
                else:
                    assert (
                        a.astype(str).where(a.notna(), None).tolist() == b.astype(str).where(b.notna(), None).tolist()
                    ), (name, col)


def test_regulatory_events_json_with_a_bad_event(tw):
    events = [
        {"event_id": "E1", "country_code": "US", "hs_scope": "85", "kind": "duty_change", "announced_on": "2025-04-02",
         "effective_on": "2025-04-09", "new_rate_pct": 34, "summary": "Reciprocal tariff"},
        {"event_id": "E2", "country_code": "GB", "hs_scope": "", "kind": "vat_change", "announced_on": "soon",
         "effective_on": "2025-07-01", "new_rate_pct": None, "summary": "?"},
    ]  # fmt: skip
    with FakeAPI(lambda req, n: Reply(200, {"events": events})) as api:
        tmp = tw("regulatory_events", "policy", mode="http", url=api.url + "/events.json")
        ingest(tmp, table=RAW_TABLES["regulatory_events"])
        assert rows(tmp, "SELECT event_id, new_rate_pct FROM raw.regulatory_events") == [("E1", 34.0)]
        assert rows(tmp, "SELECT line, column_name FROM raw._quarantine") == [(2, "announced_on")]
