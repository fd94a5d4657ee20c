"""File connectors with real export formats (and malformed ones): Amazon All Orders, Shopify CSV, mappings.

Each test runs the ingest as the asset does (``run_ingest``: fetch into landing, then load in one
transaction) against a temporary warehouse, and checks what was loaded, what was quarantined, and
that a failure left the previous state intact.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.defs.ingest.assets import run_ingest
from orchestration.defs.ingest.config import SourceConfigError, resolve
from orchestration.defs.ingest.connectors import replay
from orchestration.defs.ingest.formats import FileFormatError, SchemaDriftError
from orchestration.defs.ingest.loader import LoadRejectedError
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import connect as warehouse_connect
from orchestration.lib.warehouse import read_cursors

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
AMAZON = FIXTURES / "amazon_all_orders_2025-06-30.txt"
SHOPIFY = FIXTURES / "shopify_orders_export.csv"
ORDERS = RAW_TABLES["orders"]
DAY = dt.date(2025, 6, 30)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings under tmp_path; ``env(table, **fields)`` configures one table's source."""
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))

    def configure(table: str = "orders", family: str = "platform", **fields: str) -> Path:
        for k, v in fields.items():
            monkeypatch.setenv(f"TRADEWINDS_SOURCES__{family.upper()}__TABLES__{table.upper()}__{k.upper()}", str(v))
        get_settings.cache_clear()
        return tmp_path

    get_settings.cache_clear()
    return configure


def connect(tmp_path: Path):
    return lambda: warehouse_connect(tmp_path / "data" / "warehouse.duckdb")


def ingest(tmp_path: Path, table=ORDERS, start=DAY, end=DAY):
    return run_ingest(table, start, end, get_settings(), connect(tmp_path), run_id="test-run")


def query(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def drop(tmp_path: Path, *files: Path | tuple[str, bytes]) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    for f in files:
        if isinstance(f, tuple):
            (inbox / f[0]).write_bytes(f[1])
        else:
            shutil.copy(f, inbox / f.name)
    return inbox


def test_amazon_all_orders_report_loads_and_quarantines_bad_rows(env):
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), AMAZON))
    fetched, result = ingest(tmp, start=dt.date(2025, 6, 29), end=DAY)
    rows = {
        r[0]: r
        for r in query(
            tmp,
            "SELECT order_line_id, ordered_at, destination_country, quantity, unit_price, currency, marketplace FROM raw.orders",
        )
    }
    assert set(rows) == {
        "302-1234567-0000001:SKU-0001",
        "302-1234567-0000001:SKU-0002",
        "302-1234567-0000002:SKU-0003",
        "302-1234567-0000008:SKU-0007",
    }
    assert rows["302-1234567-0000001:SKU-0001"][3:5] == (2, 19.99)  # item-price is the total of the quantity
    # 23:30 at -07:00 is 06:30 UTC the next day: partition 2025-06-30
    assert rows["302-1234567-0000002:SKU-0003"][1] == dt.datetime(2025, 6, 30, 6, 30)
    assert rows["302-1234567-0000008:SKU-0007"][1] == dt.datetime(2025, 6, 30, 15, 45, 10)
    assert {r[6] for r in rows.values()} == {"amazon"}
    q = query(tmp, "SELECT line, column_name, reason, origin, source FROM raw._quarantine ORDER BY line")
    assert [(line, col) for line, col, *_ in q] == [(6, "item-price"), (8, "purchase-date"), (9, "item-price")]
    assert "twelve" in q[2][2] and "30/06/2025" in q[1][2]
    assert all(origin.endswith(AMAZON.name) and source == "platform/amazon_all_orders" for *_, origin, source in q)
    assert fetched.skipped == 1  # the Non-Amazon (multi-channel fulfilment) row
    assert result.parser_quarantined == 3
    # the raw export is kept byte for byte with a manifest written before parsing
    raw = next((tmp / "data" / "landing" / "_raw" / "platform" / "orders" / "file").iterdir())
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["complete"] and manifest["items"][0]["bytes"] == AMAZON.stat().st_size
    assert (raw / manifest["items"][0]["name"]).read_bytes() == AMAZON.read_bytes()


def test_same_export_is_ingested_once_and_an_overlapping_one_upserts(env):
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), AMAZON))
    ingest(tmp)
    before = query(tmp, "SELECT count(*), count(DISTINCT order_line_id) FROM raw.orders")[0]
    fetched, _ = ingest(tmp)
    assert fetched.fetch_ids == [] and query(tmp, "SELECT count(*) FROM raw.orders")[0][0] == before[0]
    # a later report: order 8 cancelled, order 1 still there, a new order on 07-01
    text = AMAZON.read_text().splitlines()
    header, lines = text[0], text[1:]
    lines = [
        ln.replace("\tShipped\tAmazon\tAmazon.co.uk", "\tCancelled\tAmazon\tAmazon.co.uk") if "0000008" in ln else ln
        for ln in lines
    ]
    lines.append(lines[0].replace("0000001", "0000009").replace("2025-06-29T08:15:02", "2025-07-01T08:00:00"))
    drop(tmp, ("amazon_all_orders_2025-07-01.txt", ("\n".join([header, *lines]) + "\n").encode()))
    fetched, _ = ingest(tmp, start=dt.date(2025, 7, 1), end=dt.date(2025, 7, 1))
    # the run's day and the days the report changed before it (order 1 of 06-29 is in it again)
    assert fetched.load_days == {dt.date(2025, 6, 29), dt.date(2025, 6, 30), dt.date(2025, 7, 1)}
    ids = {r[0] for r in query(tmp, "SELECT order_line_id FROM raw.orders")}
    assert "302-1234567-0000008:SKU-0007" not in ids and "302-1234567-0000009:SKU-0001" in ids
    assert query(tmp, "SELECT count(*) - count(DISTINCT order_line_id) FROM raw.orders")[0][0] == 0
    # quarantine batches are per fetch: the second file's rejects are added, the first's not doubled
    assert query(tmp, "SELECT count(*), count(DISTINCT batch) FROM raw._quarantine")[0] == (6, 2)


def test_wrong_delimiter_is_a_clear_error_and_nothing_lands(env):
    bad = AMAZON.read_text().replace("\t", ",")
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), ("report.txt", bad.encode())))
    with pytest.raises(FileFormatError, match=r"report\.txt is not tab-separated.*commas"):
        ingest(tmp)
    assert not (tmp / "data" / "landing" / "platform" / "orders").exists()
    with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
        assert read_cursors(conn, "orders") == {}


def test_bad_encoding_names_the_file_and_the_setting(env):
    latin = AMAZON.read_text().replace("Kettle 1.7 l", "Bouilloire électrique").encode("cp1252")
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), ("report.txt", latin)))
    with pytest.raises(FileFormatError, match=r"report\.txt is not utf-8 text.*options\.encoding"):
        ingest(tmp)
    env(options__encoding="cp1252")
    ingest(tmp)
    assert query(tmp, "SELECT count(*) FROM raw.orders")[0][0] == 4


def test_missing_header_and_renamed_column(env):
    no_header = "\n".join(AMAZON.read_text().splitlines()[1:]).encode()
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), ("a.txt", no_header)))
    with pytest.raises(FileFormatError, match="no header row"):
        ingest(tmp)
    renamed = AMAZON.read_text().replace("purchase-date", "purchase_date", 1).replace("\tcpf\t", "\tcpf-2\t", 1)
    (tmp / "inbox" / "a.txt").write_text(renamed)
    with pytest.raises(SchemaDriftError) as err:
        ingest(tmp)
    msg = str(err.value)
    assert "missing required column(s) purchase-date" in msg and "'purchase-date' -> 'purchase_date'?" in msg
    assert "a.txt" in msg and "platform.orders" in msg


def test_extra_columns_are_reported_not_fatal(env):
    extra = "\n".join(
        ln + ("\tnew-column" if i == 0 else "\tx") for i, ln in enumerate(AMAZON.read_text().splitlines())
    )
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), ("a.txt", (extra + "\n").encode())))
    fetched, _ = ingest(tmp)
    assert fetched.drift == {"extra": ["new-column"]}
    assert query(tmp, "SELECT count(*) FROM raw.orders")[0][0] == 4


def test_shopify_orders_export(env):
    tmp = env(mode="file", format="shopify_orders_csv", path=drop(env(), SHOPIFY))
    ingest(tmp, start=DAY, end=dt.date(2025, 7, 1))
    rows = query(
        tmp,
        "SELECT order_line_id, order_id, ordered_at, destination_country, sku, quantity, unit_price, currency FROM raw.orders ORDER BY 1",
    )
    assert rows == [
        ("5550001:1", "5550001", dt.datetime(2025, 6, 30, 7, 12, 44), "DE", "SKU-0001", 2, 19.9, "EUR"),
        ("5550001:2", "5550001", dt.datetime(2025, 6, 30, 7, 12, 44), "DE", "SKU-0007", 1, 20.0, "EUR"),
        ("5550002:1", "5550002", dt.datetime(2025, 7, 1, 3, 5), "US", "SKU-0010", 1, 34.0, "USD"),
    ]
    q = query(tmp, "SELECT line, column_name, reason FROM raw._quarantine ORDER BY line")
    assert [(r[0], r[1]) for r in q] == [(7, "quantity"), (8, "Created at")]


def test_seller_csv_through_a_mapping(env):
    csv_text = (
        "Bestellnr;Zeile;Datum;Kanal;Land;Artikel;Menge;Preis\n"
        "A-1;A-1-1;30.06.2025 10:00;own_shop;DE;SKU-1;2;19,90\n"
        "A-1;A-1-2;30.06.2025 10:00;own_shop;DE;SKU-2;1;1.234,50\n"
        "A-2;A-2-1;31.06.2025 11:00;own_shop;AT;SKU-1;1;5,00\n"
        "A-3;A-3-1;30.06.2025 12:00;own_shop;FR;SKU-3;1;zehn\n"
    )
    tmp = env(
        mode="file", format="mapping", path=drop(env(), ("export.csv", csv_text.encode())),
        options__mapping__columns__order_line_id="Zeile", options__mapping__columns__order_id="Bestellnr",
        options__mapping__columns__ordered_at="Datum", options__mapping__columns__marketplace="Kanal",
        options__mapping__country_column="Land", options__mapping__columns__sku="Artikel",
        options__mapping__columns__quantity="Menge", options__mapping__columns__unit_price="Preis",
        options__mapping__date_format="%d.%m.%Y %H:%M", options__mapping__currency="EUR",
        options__mapping__delimiter=";", options__mapping__decimal=",",
    )  # fmt: skip
    ingest(tmp)
    got = query(tmp, "SELECT order_line_id, destination_country, unit_price, currency FROM raw.orders ORDER BY 1")
    assert got == [("A-1-1", "DE", 19.9, "EUR"), ("A-1-2", "DE", 1234.5, "EUR")]
    q = query(tmp, "SELECT line, column_name FROM raw._quarantine ORDER BY line")
    assert q == [(4, "Datum"), (5, "Preis")]
    # the same export without the mapping: the missing columns are named with the fix
    env(options__mapping__columns__order_line_id="Line")
    (tmp / "inbox" / "export.csv").write_text(csv_text + "A-4;A-4-1;30.06.2025 12:00;own_shop;FR;SKU-3;1;1\n")
    with pytest.raises(SchemaDriftError, match=r"missing required column\(s\) Line.*options\.mapping\.columns"):
        ingest(tmp)


def test_mapping_of_a_parquet_export(env, tmp_path: Path):
    frame = pd.DataFrame(
        {"id": ["L1", "L2"], "order": ["O1", "O1"], "ts": ["2025-06-30 08:00:00", "2025-06-30 09:00:00"],
         "country": ["JP", "JP"], "sku": ["S1", "S2"], "qty": [1, 3], "price": [1200.0, 800.0]}
    )  # fmt: skip
    inbox = tmp_path / "pq"
    inbox.mkdir()
    frame.to_parquet(inbox / "orders.parquet")
    tmp = env(
        mode="file", format="mapping", path=inbox, options__mapping__file_format="parquet",
        options__mapping__columns__order_line_id="id", options__mapping__columns__order_id="order",
        options__mapping__columns__ordered_at="ts", options__mapping__country_column="country",
        options__mapping__columns__quantity="qty", options__mapping__columns__unit_price="price",
        options__mapping__currency="JPY", options__mapping__constants__marketplace="rakuten",
    )  # fmt: skip
    ingest(tmp)
    assert query(tmp, "SELECT sum(quantity * unit_price), any_value(marketplace), any_value(currency) FROM raw.orders")[
        0
    ] == (3600.0, "rakuten", "JPY")


def _canonical(path: Path, lines: list[str], header: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((header or ",".join(ORDERS.columns)) + "\n" + "\n".join(lines) + "\n")
    return path


def line(i: int, price: str = "19.99", day: str = "2025-06-30") -> str:
    return f"L{i},O{i},{day} 10:00:00,amazon,DE,SKU-1,2,{price},EUR"


def test_canonical_files_quarantine_type_errors_with_line_numbers(env):
    tmp = env()
    export = tmp / "export" / "orders" / "2025-06-30.csv"
    _canonical(
        export, [line(1), line(2, "twelve"), line(3), "L4,O4,2025-06-30 10:00:00,amazon,DE,SKU-1,2", line(5, "1.5")]
    )
    env(mode="file", path=tmp / "export")
    _, result = ingest(tmp)
    assert [r[0] for r in query(tmp, "SELECT order_line_id FROM raw.orders ORDER BY 1")] == ["L1", "L3", "L5"]
    q = query(
        tmp, "SELECT line, column_name, reason, raw_record, batch, partition_date FROM raw._quarantine ORDER BY line"
    )
    assert [(r[0], r[1]) for r in q] == [(3, "unit_price"), (5, "unit_price")]
    assert "MISSING COLUMNS" in q[1][2]
    assert q[0][3] == line(2, "twelve") and q[0][4] == "landing:platform/orders/2025-06-30.csv" and q[0][5] == DAY
    # a rerun replaces the batch instead of doubling it
    ingest(tmp)
    assert query(tmp, "SELECT count(*) FROM raw._quarantine")[0][0] == 2
    assert result.quarantined == 2


def test_mostly_bad_file_loads_nothing_and_keeps_previous_rows(env):
    tmp = env()
    export = tmp / "export" / "orders" / "2025-06-30.csv"
    _canonical(export, [line(1), line(2)])
    env(mode="file", path=tmp / "export")
    ingest(tmp)
    landed = tmp / "data" / "landing" / "platform" / "orders" / "2025-06-30.csv"
    _canonical(landed, [f"L{i},O{i},30/06/2025 10:00,amazon,DE,SKU-1,2,1.0,EUR" for i in range(5)])
    with pytest.raises(LoadRejectedError, match=r"5 of 5 rows of .*2025-06-30\.csv were rejected"):
        ingest(tmp)
    assert sorted(r[0] for r in query(tmp, "SELECT order_line_id FROM raw.orders")) == ["L1", "L2"]
    assert query(tmp, "SELECT count(*) FROM raw._quarantine")[0][0] == 0


def test_canonical_drift_missing_required_fails_extra_is_reported(env):
    tmp = env()
    cols = list(ORDERS.columns)
    header = ",".join("price" if c == "unit_price" else c for c in cols)
    _canonical(tmp / "export" / "orders" / "2025-06-30.csv", [line(1)], header)
    env(mode="file", path=tmp / "export")
    with pytest.raises(SchemaDriftError) as err:
        ingest(tmp)
    assert "missing required column(s) unit_price" in str(err.value) and "2025-06-30.csv" in str(err.value)
    landed = tmp / "data" / "landing" / "platform" / "orders" / "2025-06-30.csv"
    _canonical(landed, [line(1) + ",extra"], ",".join(cols) + ",note")
    _, result = ingest(tmp)
    assert result.extra_columns == {"2025-06-30.csv": ["note"]} and result.rows == 1


def test_replay_rebuilds_landing_from_raw_without_the_export(env):
    tmp = env(mode="file", format="shopify_orders_csv", path=drop(env(), SHOPIFY))
    ingest(tmp, start=DAY, end=dt.date(2025, 7, 1))
    landing = tmp / "data" / "landing" / "platform" / "orders"
    before = {p.name: p.read_bytes() for p in landing.glob("*.csv")}
    shutil.rmtree(tmp / "inbox")
    for p in landing.glob("*.csv"):
        p.unlink()
    with duckdb.connect(str(tmp / "data" / "warehouse.duckdb"), read_only=True) as conn:
        cursors = read_cursors(conn, "orders")
    out = replay(ORDERS, get_settings(), cursors)
    assert {p.name: p.read_bytes() for p in landing.glob("*.csv")} == before
    assert out.load_days == {DAY, dt.date(2025, 7, 1)}


def test_settings_errors_say_what_to_fix(env):
    env(mode="http")
    with pytest.raises(SourceConfigError, match=r"sources\.platform\.tables\.orders\.url"):
        resolve(get_settings(), ORDERS)
    env("inventory", mode="http")
    with pytest.raises(SourceConfigError, match="platform.inventory has no HTTP connector"):
        resolve(get_settings(), RAW_TABLES["inventory"])
    env("inventory", mode="file", format="amazon_all_orders", path="/tmp")
    with pytest.raises(SourceConfigError, match="cannot feed platform.inventory"):
        resolve(get_settings(), RAW_TABLES["inventory"])
    env("inventory", options__no_such_option="1")
    with pytest.raises(SourceConfigError, match="no_such_option"):
        resolve(get_settings(), RAW_TABLES["inventory"])


def test_cli_replays_with_load_and_shows_state(env, capsys):
    from orchestration.defs.ingest.__main__ import main

    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), AMAZON))
    ingest(tmp)
    before = query(tmp, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY 1")
    for p in (tmp / "data" / "landing" / "platform" / "orders").glob("*.csv"):
        p.unlink()
    assert main(["replay", "orders", "--load"]) == 0
    assert query(tmp, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY 1") == before
    assert query(tmp, "SELECT count(*) FROM raw._quarantine")[0][0] == 3  # replaced, not doubled
    assert main(["quarantine", "orders"]) == 0 and "twelve" in capsys.readouterr().out
    assert main(["cursors", "orders"]) == 0 and "file:" in capsys.readouterr().out
    assert main(["fetches", "orders"]) == 0 and "file" in capsys.readouterr().out


def test_readme_example_settings_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The configuration shown in the README section on real connectors is valid and means what it says."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("### Switching a source to a real connector") :]
    toml = section[section.index("```toml\n") + 8 :]
    toml = toml[: toml.index("```")]
    cfg = tmp_path / "tw.toml"
    cfg.write_text(toml)
    monkeypatch.setenv("TRADEWINDS_SETTINGS", str(cfg))
    get_settings.cache_clear()
    s = get_settings()
    got = {t: (resolve(s, RAW_TABLES[t]).mode, resolve(s, RAW_TABLES[t]).format) for t in ("orders", "inventory", "freight_rates", "vat_rates", "duty_rates", "fx_rates", "carbon_prices")}  # fmt: skip
    assert got == {
        "orders": ("http", "shopify_orders"),
        "inventory": ("file", "canonical"),
        "freight_rates": ("http", "rate_index"),
        "vat_rates": ("http", "ibericode"),
        "duty_rates": ("file", "uk_tariff"),
        "fx_rates": ("sample", "sample"),
        "carbon_prices": ("http", "price_series"),
    }
    orders = resolve(s, ORDERS)
    assert orders.auth_header == "X-Shopify-Access-Token" and orders.http_options().rate_limit_per_second == 2
    assert resolve(s, RAW_TABLES["vat_rates"]).url.endswith("vat-rates.json")


def test_invalid_utf8_row_in_a_landing_file_is_quarantined(env):
    tmp = env()
    export = tmp / "export" / "orders" / "2025-06-30.csv"
    _canonical(export, [line(1), line(2), line(3)])
    export.write_bytes(export.read_bytes().replace(b"L2,O2", b"L2,O\xff\xfe2"))
    env(mode="file", path=tmp / "export")
    ingest(tmp)
    assert [r[0] for r in query(tmp, "SELECT order_line_id FROM raw.orders ORDER BY 1")] == ["L1", "L3"]
    assert "INVALID ENCODING" in query(tmp, "SELECT reason FROM raw._quarantine")[0][0]


def test_export_with_mostly_unparseable_rows_lands_nothing(env):
    from orchestration.defs.ingest.connectors import TooManyRejectsError

    text = (
        AMAZON.read_text()
        .replace("T08:15:02+00:00", " 08:15")
        .replace("-06-29T", "-06-29 ")
        .replace("2025-06-30T", "30.06.2025 ")
    )
    tmp = env(mode="file", format="amazon_all_orders", path=drop(env(), ("a.txt", text.encode())))
    with pytest.raises(TooManyRejectsError, match=r"could not be parsed .*unparseable date"):
        ingest(tmp)
    assert (
        not list((tmp / "data" / "landing" / "platform" / "orders").glob("*.csv"))
        if (tmp / "data" / "landing" / "platform" / "orders").exists()
        else True
    )
    with warehouse_connect(tmp / "data" / "warehouse.duckdb") as conn:
        assert read_cursors(conn, "orders") == {}
