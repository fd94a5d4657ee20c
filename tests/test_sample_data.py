"""The embedded sample connector: contract, determinism, scale and calibration of the generated data.

Small scale (SF 0.01 = 20 SKUs) and short ranges keep this fast; the calibration tests use the
freight and carbon series, which do not depend on scale.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.sample import generate_table, write_landing
from orchestration.lib.sample.__main__ import main as cli_main
from orchestration.lib.sample.markets import market_codes, markets
from orchestration.lib.sample.platform import MAX_RETURN_LAG, MAX_TICKET_LAG
from orchestration.lib.sample.universe import universe
from orchestration.lib.schemas import RAW_TABLES

SF = 0.01
START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 16)  # two weeks, Mondays 3 and 10 March
MARKETS = {m.code: m for m in markets()}


def gen(name: str, start: dt.date = START, end: dt.date = END, scale: float = SF, seed: int = 42) -> pd.DataFrame:
    return generate_table(name, start, end, seed=seed, scale=scale)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("landing")
    counts = write_landing(root, START, END, seed=42, scale=SF, observed_on=END)
    return root, counts


@pytest.fixture(scope="module")
def warehouse(landing) -> duckdb.DuckDBPyConnection:
    """The landing files read with the contract types: proves every value is castable."""
    root, _ = landing
    con = duckdb.connect()
    for name, t in RAW_TABLES.items():
        cols = ", ".join(f"'{c}': '{ty}'" for c, ty in t.columns.items())
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv('{root}/{t.family}/{name}/*.csv', header=true, "
            f"columns={{{cols}}}, timestampformat='%Y-%m-%d %H:%M:%S', dateformat='%Y-%m-%d')"
        )
    return con


# ------------------------------------------------------------------ contract


def test_generator_covers_the_contract():
    from orchestration.lib.sample.generate import _DAILY, _SNAPSHOT

    assert set(_DAILY) == {n for n, t in RAW_TABLES.items() if t.partitioned}
    assert set(_SNAPSHOT) == {n for n, t in RAW_TABLES.items() if not t.partitioned}


def test_every_table_lands_with_contract_columns(landing):
    root, counts = landing
    assert set(counts) == set(RAW_TABLES)
    for name, t in RAW_TABLES.items():
        assert counts[name] > 0, f"{name} is empty at SF {SF}"
        files = sorted((root / t.family / name).glob("*.csv"))
        assert files, name
        header = files[0].read_text().splitlines()[0].replace('"', "").split(",")
        assert header == list(t.columns), name
        if t.partitioned:
            assert all(f.stem != "snapshot" for f in files)
        else:
            assert [f.name for f in files] == ["snapshot.csv"]
    assert not list(root.rglob("*.tmp")), "temporary files left behind"


def test_landed_values_cast_keys_unique_required_present(warehouse):
    for name, t in RAW_TABLES.items():
        pk = ", ".join(t.primary_key)
        n, distinct = warehouse.execute(f"SELECT count(*), count(DISTINCT ({pk})) FROM {name}").fetchall()[0]
        assert n == distinct, f"{name}: duplicate primary keys"
        for col in (*t.primary_key, *t.required):
            nulls = warehouse.execute(f"SELECT count(*) FROM {name} WHERE {col} IS NULL").fetchall()[0][0]
            assert nulls == 0, f"{name}.{col} has NULLs"


def test_generate_table_matches_contract_order_and_landing(landing):
    root, counts = landing
    for name in ("orders", "tickets", "freight_rates", "catalog", "duty_rates"):
        df = gen(name)
        assert list(df.columns) == list(RAW_TABLES[name].columns)
        assert len(df) == counts[name]


def test_csv_format(landing):
    root, _ = landing
    text = (root / "platform" / "shipments" / f"{END}.csv").read_text()
    row = text.splitlines()[1]
    assert "T" not in row.split(",")[9] and len(row.split(",")[9]) == len("2025-03-16 10:00:00")
    assert row.split(",")[10] == "", "a shipment in transit on the as-of day has an empty (NULL) arrived_at"


def test_references_are_valid():
    catalog = set(gen("catalog").sku)
    for name in ("orders", "inventory", "traffic", "competitors", "shipments", "reviews", "returns", "tickets"):
        skus = set(gen(name).sku.dropna())
        assert skus <= catalog, f"{name} references SKUs missing from the catalog: {sorted(skus - catalog)[:3]}"
    orders = gen("orders", START - dt.timedelta(days=MAX_RETURN_LAG), END)
    returns = gen("returns")
    assert len(returns) and set(returns.order_line_id) <= set(orders.order_line_id)
    joined = returns.merge(orders, on="order_line_id", suffixes=("", "_o"))
    assert (joined.sku == joined.sku_o).all() and (joined.destination_country == joined.destination_country_o).all()
    assert (joined.returned_at > joined.ordered_at).all() and (joined.quantity <= joined.quantity_o).all()
    tickets = gen("tickets")
    post = tickets.dropna(subset=["order_id"])
    orders_t = gen("orders", START - dt.timedelta(days=MAX_TICKET_LAG), END)
    assert len(post) and set(post.order_id) <= set(orders_t.order_id)
    lanes = set(gen("freight_rates", dt.date(2025, 3, 3), dt.date(2025, 3, 3)).lane_id)
    assert set(gen("shipments").lane_id) <= lanes


def test_every_market_is_covered_at_small_scale():
    assert set(gen("traffic").destination_country) == set(market_codes())
    assert set(gen("inventory", END, END).destination_country) == set(market_codes())
    orders = gen("orders", dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert set(orders.destination_country) == set(market_codes())
    cur = {m.code: m.currency for m in markets()}
    assert (orders.currency == orders.destination_country.map(cur)).all()


def test_weekly_tables_land_on_mondays_only(landing):
    root, _ = landing
    for name in ("freight_rates", "competitors"):
        t = RAW_TABLES[name]
        files = sorted((root / t.family / name).glob("*.csv"))
        assert [f.stem for f in files] == ["2025-03-03", "2025-03-10"]
        df = gen(name)
        assert set(pd.to_datetime(df[t.partition_column]).dt.day_of_week) == {0}
    daily = sorted((root / "platform" / "orders").glob("*.csv"))
    assert len(daily) == (END - START).days + 1


def test_partition_column_matches_file_day(landing):
    root, _ = landing
    for name, t in RAW_TABLES.items():
        if not t.partitioned:
            continue
        for f in (root / t.family / name).glob("*.csv"):
            df = pd.read_csv(f, usecols=[t.partition_column])
            assert (df[t.partition_column].astype(str).str[:10] == f.stem).all(), f


# ------------------------------------------------------------------ determinism and scale


def test_same_seed_same_bytes_and_seed_matters(tmp_path: Path, landing):
    root, _ = landing
    again = tmp_path / "again"
    write_landing(again, START, END, seed=42, scale=SF, observed_on=END)
    for f in root.rglob("*.csv"):
        assert f.read_bytes() == (again / f.relative_to(root)).read_bytes(), f
    other = gen("orders", seed=7)
    assert not other.equals(gen("orders"))


def test_a_day_is_identical_inside_different_ranges():
    day = dt.date(2025, 3, 10)
    for name, col in (("orders", "ordered_at"), ("returns", "returned_at"), ("tickets", "created_at"),
                      ("inventory", "snapshot_date"), ("shipments", "departed_at"), ("traffic", "traffic_date"),
                      ("reviews", "reviewed_at"), ("fx_rates", "rate_date")):  # fmt: skip
        wide = gen(name, dt.date(2025, 2, 20), dt.date(2025, 6, 30), scale=0.05)
        narrow = gen(name, day, day, scale=0.05)
        part = wide[pd.to_datetime(wide[col]).dt.date == day].reset_index(drop=True)
        assert len(part) > 0, name
        pd.testing.assert_frame_equal(part, narrow, check_dtype=False, obj=name)


def test_observation_day_only_fills_in_transit_and_open_rows(tmp_path: Path):
    day = dt.date(2025, 3, 12)
    early = generate_table("shipments", day, day, scale=SF, observed_on=day)
    late = generate_table("shipments", day, day, scale=SF, observed_on=day + dt.timedelta(days=90))
    assert len(early) and early.arrived_at.isna().all() and late.arrived_at.notna().all()
    pd.testing.assert_frame_equal(early.drop(columns="arrived_at"), late.drop(columns="arrived_at"))
    settled = gen("tickets", dt.date(2025, 1, 1), dt.date(2025, 1, 31))  # default: observed yesterday (UTC)
    assert settled.first_response_at.notna().mean() > 0.97 and settled.resolved_at.notna().mean() > 0.95
    # write_landing refreshes an open partition when a later observation fills it, never the other way round
    write_landing(tmp_path, day, day, scale=SF, tables=["shipments"], observed_on=day)
    path = tmp_path / "platform" / "shipments" / f"{day}.csv"
    later = day + dt.timedelta(days=90)
    assert write_landing(tmp_path, day, day, scale=SF, tables=["shipments"], observed_on=later)["shipments"] > 0
    filled = path.read_bytes()
    assert write_landing(tmp_path, day, day, scale=SF, tables=["shipments"], observed_on=day)["shipments"] == 0
    assert path.read_bytes() == filled
    # a nightly run for a later day also refreshes the open partitions landed on earlier nights
    nightly = tmp_path / "nightly"
    write_landing(nightly, day, day, scale=SF, tables=["shipments"], observed_on=day)
    after = day + dt.timedelta(days=60)
    counts = write_landing(nightly, after, after, scale=SF, tables=["shipments"], observed_on=after)
    refreshed = pd.read_csv(nightly / "platform" / "shipments" / f"{day}.csv")
    assert refreshed.arrived_at.notna().all() and counts["shipments"] > len(refreshed)
    assert sorted(p.stem for p in (nightly / "platform" / "shipments").iterdir()) == [str(day), str(after)]


def test_recent_days_of_orders_are_kept_between_nights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A night in a new process reads the earlier days of orders its returns, reviews and tickets follow
    from the landing's cache instead of deriving them again, and lands the same bytes."""
    from orchestration.lib.sample import cache, platform

    day1, day2 = dt.date(2025, 3, 10), dt.date(2025, 3, 11)
    tables = ["orders", "returns", "reviews", "tickets"]

    drawn: list[Path] = []  # the landings whose night drew the universe instead of reading it

    def night(landing: Path, day: dt.date) -> list[int]:
        platform._WORLDS.clear()  # a new process: nothing in memory
        platform.universe.cache_clear()
        derived: list[int] = []
        real, draw = platform.World._compute_orders, platform.universe
        monkeypatch.setattr(platform.World, "_compute_orders", lambda w, o: derived.append(o) or real(w, o))
        monkeypatch.setattr(platform, "universe", lambda *a: drawn.append(landing) or draw(*a))
        write_landing(landing, day, day, scale=SF, tables=tables, observed_on=day)
        monkeypatch.setattr(platform.World, "_compute_orders", real)
        monkeypatch.setattr(platform, "universe", draw)
        return derived

    kept, plain = tmp_path / "kept", tmp_path / "plain"
    first = night(kept, day1)
    assert len(first) > MAX_TICKET_LAG  # the reopened tickets' days and the orders they follow
    folder = kept / cache.CACHE_DIR
    saved = sorted(int(p.stem.rsplit("-", 1)[1]) for p in folder.glob("orders-*.pkl"))
    assert saved == sorted(first)
    # A file another generator version wrote, and an unreadable one: removed / derived again.
    stale = folder / "orders-42-0.01-0123456789abcdef-738000.pkl"
    stale.write_bytes(b"old")
    broken = folder / f"orders-42-0.01-{cache.generator_version()}-{day1.toordinal() - 3}.pkl"
    broken.write_bytes(b"not a pickle")
    assert drawn == [kept] and len(list(folder.glob("universe-*.pkl"))) == 1
    assert night(kept, day2) == [day1.toordinal() - 3, day2.toordinal()]  # everything else was read
    assert not stale.exists() and broken.exists()
    assert drawn == [kept]  # the second night read the universe too

    night(plain, day1)
    for path in (plain / cache.CACHE_DIR).glob("*.pkl"):
        path.unlink()
    assert len(night(plain, day2)) > MAX_TICKET_LAG  # derived again
    landed = sorted(p.relative_to(kept) for p in kept.rglob("*.csv"))
    assert landed == sorted(p.relative_to(plain) for p in plain.rglob("*.csv")) and len(landed) > 4
    for rel in landed:
        assert (kept / rel).read_bytes() == (plain / rel).read_bytes(), rel


def test_existing_files_are_kept_unless_overwrite(tmp_path: Path):
    first = write_landing(tmp_path, START, START, scale=SF, tables=["orders"])
    assert first["orders"] > 0
    assert write_landing(tmp_path, START, START, scale=SF, tables=["orders"])["orders"] == 0
    assert write_landing(tmp_path, START, START, scale=SF, tables=["orders"], overwrite=True) == first


def test_scale_multiplies_skus_and_volume():
    small, double = universe(42, 0.01), universe(42, 0.02)
    assert len(small.sku) == 20 and len(double.sku) == 40
    a = len(gen("orders", dt.date(2025, 1, 1), dt.date(2025, 2, 28), scale=0.01))
    b = len(gen("orders", dt.date(2025, 1, 1), dt.date(2025, 2, 28), scale=0.02))
    assert 1.3 < b / a < 3.0


# ------------------------------------------------------------------ calibration


@pytest.fixture(scope="module")
def freight() -> pd.DataFrame:
    df = generate_table("freight_rates", dt.date(2019, 1, 7), dt.date(2024, 12, 30), scale=SF)
    df["rate_week"] = pd.to_datetime(df.rate_week)
    return df


def test_freight_follows_the_container_index(freight):
    fcl = freight[freight["mode"] == "ocean_fcl_40ft"]
    monthly = fcl.groupby(fcl.rate_week.dt.to_period("M")).rate.mean()
    level_2019 = monthly[monthly.index.year == 2019].mean()
    assert 1000 < level_2019 < 2000
    assert monthly[monthly.index.year == 2021].max() > 4 * level_2019
    assert monthly[pd.Period("2024-07")] > monthly[pd.Period("2024-01")] > 1.8 * monthly[pd.Period("2023-10")]
    rtm = fcl[fcl.lane_id == "CNSHA-NLRTM"].set_index("rate_week").rate
    assert 11000 < rtm["2021-08":"2021-10"].max() < 17000
    assert freight.lane_id.nunique() >= 60
    modes = freight.groupby("lane_id")["mode"].nunique()
    assert modes.between(3, 5).all()


def test_transit_times_and_modes(freight):
    ham = freight[freight.lane_id == "CNSHA-DEHAM"].set_index("rate_week")
    sea = ham[ham["mode"] == "ocean_fcl_40ft"].transit_days
    rail = ham[ham["mode"] == "rail"].transit_days
    assert sea["2024-03":"2024-09"].mean() > sea["2019"].mean() + 10  # Red Sea diversions via the Cape
    assert rail["2019"].mean() < 0.6 * sea["2019"].mean()
    air = freight[(freight["mode"] == "air") & freight.destination_country.isin(["DE", "US", "GB"])]
    assert 2.5 < air[air.rate_week.dt.year == 2019].rate.mean() < 4.5
    assert air[air.rate_week.dt.year.isin([2020, 2021])].rate.max() > 6
    truck = freight[freight["mode"] == "truck"]
    assert set(truck.destination_country) <= {"TH", "MY", "SG"} and len(truck)
    units = freight.groupby("mode").rate_unit.unique().map(tuple).to_dict()
    assert units["ocean_fcl_40ft"] == ("per_container",) and units["ocean_lcl"] == ("per_cbm",)


def test_carbon_price_history():
    cp = generate_table("carbon_prices", dt.date(2019, 1, 7), dt.date(2024, 12, 31))
    year = pd.to_datetime(cp.price_date).dt.year
    mean = cp.groupby(year).price.mean()
    assert 20 < mean[2019] < 30 and 75 < mean[2022] < 95 and 75 < mean[2023] < 95 and 60 < mean[2024] < 72
    assert set(cp.scheme) == {"EU_ETS"} and set(cp.currency) == {"EUR"}


def test_fx_rates_cover_every_currency_every_day():
    fx = generate_table("fx_rates", dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    expected = {m.currency for m in markets()} | {"CNY"}
    assert fx.groupby("rate_date").currency.apply(set).map(lambda s: s == expected).all()
    assert (fx[fx.currency == "USD"].units_per_usd == 1).all()
    assert (fx[fx.currency == "AED"].units_per_usd == 3.6725).all()
    eur = fx[fx.currency == "EUR"].units_per_usd
    assert eur.min() > 0.8 and eur.max() < 1.05


def test_voltage_mismatch_returns_only_across_voltage_classes():
    scale = 0.05
    returns = gen("returns", dt.date(2025, 1, 1), dt.date(2025, 6, 30), scale=scale)
    catalog = gen("catalog", END, dt.date(2025, 6, 30), scale=scale).set_index("sku")
    volt = returns[returns.reason == "voltage_mismatch"]
    assert len(volt) > 0
    sku_voltage = volt.sku.map(catalog.voltage)
    market_class = volt.destination_country.map({c: m.voltage_class for c, m in MARKETS.items()})
    assert sku_voltage.isin(["110V", "220V"]).all()
    assert (sku_voltage != market_class).all()


def test_return_rates_by_category():
    scale = 0.1
    orders = gen("orders", dt.date(2025, 1, 1), dt.date(2025, 4, 30), scale=scale)
    returns = gen("returns", dt.date(2025, 1, 1), dt.date(2025, 5, 31), scale=scale)
    cat = gen("catalog", END, dt.date(2025, 5, 31), scale=scale).set_index("sku").category
    returns = returns[returns.order_line_id.isin(orders.order_line_id)]
    rate = returns.groupby(returns.sku.map(cat)).quantity.sum() / orders.groupby(orders.sku.map(cat)).quantity.sum()
    assert 0.12 < rate["apparel"] < 0.3
    assert 0.03 < rate["electronics"] < 0.12
    assert rate["apparel"] > 2 * rate["electronics"]


def test_black_friday_and_market_holidays_shape_demand():
    scale = 0.1
    orders = gen("orders", dt.date(2025, 11, 7), dt.date(2025, 11, 30), scale=scale)
    us = orders[orders.destination_country.isin(["US", "GB", "DE"])]
    per_day = us.groupby(pd.to_datetime(us.ordered_at).dt.date).size()
    assert per_day[dt.date(2025, 11, 28)] > 1.8 * per_day[dt.date(2025, 11, 7) : dt.date(2025, 11, 20)].mean()
    sea = orders[orders.destination_country.isin(["SG", "MY", "TH", "PH"])]
    sea_day = sea.groupby(pd.to_datetime(sea.ordered_at).dt.date).size()
    assert sea_day[dt.date(2025, 11, 11)] > 2 * sea_day.drop(dt.date(2025, 11, 11)).median()


def test_service_levels_and_brazil_local_team():
    scale = 0.2
    before = gen("tickets", dt.date(2025, 3, 1), dt.date(2025, 4, 30), scale=scale)
    after = gen("tickets", dt.date(2025, 9, 1), dt.date(2025, 10, 31), scale=scale)

    def p90_hours(df: pd.DataFrame) -> float:
        answered = df.dropna(subset=["first_response_at"])
        hours = (pd.to_datetime(answered.first_response_at) - pd.to_datetime(answered.created_at)).dt.total_seconds()
        return float(np.percentile(hours / 3600, 90))

    assert p90_hours(before[before.destination_country == "BR"]) > 24
    assert p90_hours(after[after.destination_country == "BR"]) < 24
    per_market = after.groupby("destination_country").apply(p90_hours, include_groups=False)
    assert (per_market > 24).any() and (per_market < 24).any()
    rated = after.csat.dropna()
    assert 0.6 < (rated >= 4).mean() < 0.9
    assert 0.2 < (after.handled_by == "bot").mean() < 0.45
    assert (after.order_id.isna() == (after.topic == "pre_sale_question")).all()
    answered = after.dropna(subset=["first_response_at", "resolved_at"])
    assert (pd.to_datetime(answered.first_response_at) >= pd.to_datetime(answered.created_at)).all()
    assert (pd.to_datetime(answered.resolved_at) >= pd.to_datetime(answered.first_response_at)).all()


def test_installation_drives_bad_reviews_of_some_skus():
    u = universe(42, 1.0)
    topics = np.diff(np.concatenate([np.zeros((len(u.sku), 1)), u.topic_cdf], axis=1), axis=1)
    install_share = topics[:, 0]  # COMPLAINT_TOPICS[0] == 'installation'
    assert u.install_pain.sum() > 10
    assert (install_share[u.install_pain] > 0.35).all() and (install_share[~u.install_pain] < 0.35).all()


def test_catalog_launches_suppliers_and_hs_codes():
    from orchestration.lib.reference import hs_codes

    cat = gen("catalog", END, dt.date(2026, 11, 24), scale=1.0)
    launched = pd.to_datetime(cat.launched_on)
    assert 1800 < len(cat) <= 2000
    assert ((launched >= "2024-11-25") & (launched <= "2026-11-24")).sum() > 50  # SKUs launching in the window
    share = cat.groupby("category").supplier_id.agg(lambda s: s.value_counts(normalize=True).iloc[0])
    assert share.max() > 0.8 and share.idxmax() == "pet"
    assert set(cat.hs_code) <= set(hs_codes().hs6)
    assert set(cat.cost_currency) <= {"CNY", "USD"} and (cat.cost_currency == "CNY").mean() > 0.8
    assert set(cat.voltage) <= {"110V", "220V", "universal", "none"}
    new = cat[launched > "2025-06-01"].sku.iloc[0]
    launch = launched[cat.sku == new].iloc[0].date()
    orders = gen("orders", launch - dt.timedelta(days=20), launch + dt.timedelta(days=40), scale=1.0)
    first = pd.to_datetime(orders[orders.sku == new].ordered_at).min()
    assert pd.isna(first) or first.date() >= launch


def test_regulatory_events_include_upcoming_ones():
    for as_of in (dt.date(2024, 6, 30), dt.date(2025, 6, 30), dt.date(2026, 11, 24)):
        ev = gen("regulatory_events", as_of, as_of)
        assert (pd.to_datetime(ev.announced_on).dt.date <= as_of).all()
        eff = pd.to_datetime(ev.effective_on).dt.date
        upcoming = ev[(eff > as_of) & (eff <= as_of + dt.timedelta(days=30))]
        assert len(upcoming) >= 1, as_of
    ev = gen("regulatory_events", dt.date(2026, 11, 24), dt.date(2026, 11, 24))
    assert {"duty_change", "vat_change", "dst", "cbam", "de_minimis_change", "product_rule"} <= set(ev.kind)
    cbam = ev[(ev.kind == "cbam") & (pd.to_datetime(ev.effective_on).dt.date == dt.date(2026, 1, 1))]
    assert set(cbam.country_code) == {"DE", "FR", "IT", "ES", "NL", "PL", "SE"}


def test_inventory_and_shipments_follow_sales():
    scale = 0.1
    day = dt.date(2025, 5, 1)
    inv = gen("inventory", day, day, scale=scale)
    assert (inv.on_hand_units >= 0).all() and (inv.inbound_units >= 0).all()
    assert inv.replenishment_lead_time_days.between(10, 120).all()
    ships = gen("shipments", dt.date(2025, 3, 1), dt.date(2025, 4, 30), scale=scale)
    orders = gen("orders", dt.date(2025, 3, 1), dt.date(2025, 4, 30), scale=scale)
    shipped = ships.groupby("sku").units.sum()
    sold = orders.groupby("sku").quantity.sum()
    both = pd.concat([shipped, sold], axis=1).fillna(0)
    assert np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1] > 0.6
    arrived = ships.dropna(subset=["arrived_at"])
    transit = (pd.to_datetime(arrived.arrived_at) - pd.to_datetime(arrived.departed_at)).dt.total_seconds() / 86400
    assert len(arrived) and (transit > 0.5).all() and (transit < 90).all()
    assert set(ships["mode"]) <= {"ocean_fcl_40ft", "ocean_lcl", "air", "rail", "truck"}


def test_cli_writes_and_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rc = cli_main(["--landing", str(tmp_path), "--scale", "0.01", "--start", "2025-03-10", "--end", "2025-03-11",
                   "--tables", "orders,fx_rates", "--no-long-history"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "orders" in out and "fx_rates" in out and "total" in out
    assert sorted(p.name for p in (tmp_path / "policy" / "fx_rates").iterdir()) == ["2025-03-10.csv", "2025-03-11.csv"]
    assert cli_main(["--landing", str(tmp_path), "--tables", "nope"]) == 2
