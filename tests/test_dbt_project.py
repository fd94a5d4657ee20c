"""The dbt project against a small hand-made warehouse: real `dbt build`, real DuckDB.

The raw tables are created from the contract (``raw_table_ddl``) and filled with a few
hand-written rows, enough for every mart to have rows, for one freight lane to spike
and for one landed margin to be worked out by hand below. ``dbt build`` runs in a
subprocess (seeds, models, data tests and unit tests) with its target and log folders
in a temporary directory, so the repository stays clean.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pytest

from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.warehouse import RAW_SCHEMA, raw_table_ddl

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")

AS_OF = dt.date(2024, 6, 30)  # latest order date below
LOADED_AT = dt.datetime(2024, 7, 1, 2, 0, 0)

# Rate weeks: 16 Mondays from 2024-03-11 to 2024-06-24.
WEEKS = [dt.date(2024, 3, 11) + dt.timedelta(weeks=i) for i in range(16)]
# Ocean FCL to Hamburg: calm around 2,600 USD per container, then +53.8% in the last week.
FCL_DEHAM = [2600, 2610, 2590, 2605, 2595, 2600, 2620, 2580, 2600, 2610, 2590, 2605, 2595, 2600, 2600, 4000]
# Air to Hamburg: calm around 5 USD per kg.
AIR_DEHAM = [5.0, 5.1, 4.9, 5.0, 5.05, 4.95, 5.0, 5.1, 4.9, 5.0, 5.05, 4.95, 5.0, 5.1, 4.9, 5.0]


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _ts(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def catalog_row(sku, title, category, cost, weight, dims, hs, supplier, voltage, plug, docs) -> dict[str, Any]:
    length, width, height = dims
    return {
        "sku": sku,
        "title": title,
        "category": category,
        "unit_cost": cost,
        "cost_currency": "CNY",
        "weight_kg": weight,
        "length_cm": length,
        "width_cm": width,
        "height_cm": height,
        "hs_code": hs,
        "origin_country": "CN",
        "supplier_id": supplier,
        "supplier_country": "CN",
        "voltage": voltage,
        "plug_type": plug,
        "has_battery": False,
        "doc_languages": docs,
        "launched_on": _d("2023-01-01"),
    }


def order_row(line, day, marketplace, country, sku, qty, price, currency) -> dict[str, Any]:
    return {
        "order_line_id": line,
        "order_id": "O-" + line,
        "ordered_at": _ts(f"{day} 10:00:00"),
        "marketplace": marketplace,
        "destination_country": country,
        "sku": sku,
        "quantity": qty,
        "unit_price": price,
        "currency": currency,
    }


def ticket_row(tid, country, channel, created, first_response, resolved, handled_by, contacts, csat, **kw):
    row = {
        "ticket_id": tid,
        "order_id": None,
        "sku": "SKU-A",
        "marketplace": "amazon",
        "destination_country": country,
        "channel": channel,
        "buyer_language": "de" if country == "DE" else "en",
        "response_language": "de" if country == "DE" else "en",
        "created_at": _ts(created),
        "first_response_at": _ts(first_response) if first_response else None,
        "resolved_at": _ts(resolved) if resolved else None,
        "topic": "installation",
        "handled_by": handled_by,
        "contacts": contacts,
        "reopened": False,
        "csat": csat,
    }
    row.update(kw)
    return row


def freight_row(week, lane, mode, dest_country, dest_port, rate, unit, transit, distance) -> dict[str, Any]:
    return {
        "rate_week": week,
        "lane_id": lane,
        "origin_country": "CN",
        "origin_port": "CNSHA",
        "destination_country": dest_country,
        "destination_port": dest_port,
        "mode": mode,
        "rate": rate,
        "rate_unit": unit,
        "currency": "USD",
        "transit_days": transit,
        "distance_km": distance,
    }


def raw_rows() -> dict[str, list[dict[str, Any]]]:
    """Hand-crafted rows for every raw table (contract columns only)."""
    freight = []
    for i, week in enumerate(WEEKS):
        freight += [
            freight_row(week, "CNSHA-DEHAM", "ocean_fcl_40ft", "DE", "DEHAM", FCL_DEHAM[i], "per_container", 35, 19500),
            freight_row(week, "CNSHA-DEHAM", "air", "DE", "DEHAM", AIR_DEHAM[i], "per_kg", 3, 8500),
            freight_row(
                week, "CNSHA-USLAX", "ocean_fcl_40ft", "US", "USLAX", 2000 + (i % 2) * 10, "per_container", 18, 10500
            ),
            freight_row(week, "CNSHA-USLAX", "air", "US", "USLAX", 4.0, "per_kg", 2, 10500),
            freight_row(week, "CNSHA-GBFXT", "ocean_lcl", "GB", "GBFXT", 80 + (i % 3), "per_cbm", 36, 19800),
            freight_row(week, "CNSHA-GBFXT", "air", "GB", "GBFXT", 5.5, "per_kg", 3, 9200),
        ]

    return {
        "catalog": [
            catalog_row(
                "SKU-A",
                "Espresso maker",
                "electronics",
                70.0,
                0.5,
                (20, 10, 10),
                "851671",
                "SUP-1",
                "220V",
                "C",
                "en;de",
            ),
            catalog_row(
                "SKU-B",
                "Steel shelf bracket",
                "tools",
                35.0,
                2.0,
                (30, 20, 10),
                "732690",
                "SUP-2",
                "none",
                "none",
                "en",
            ),
            catalog_row(
                "SKU-C", "Cotton T-shirt", "apparel", 14.0, 0.2, (25, 20, 2), "610910", "SUP-1", "none", "none", "en"
            ),
            catalog_row(
                "SKU-D", "Hair dryer", "electronics", 56.0, 0.8, (25, 20, 10), "851631", "SUP-3", "110V", "A", "en"
            ),
        ],
        "orders": [
            # SKU-A in DE: prices include 19% VAT; EUR 0.92/USD until 06-27, 0.90 from 06-28.
            order_row("L1", "2024-06-10", "amazon", "DE", "SKU-A", 1, 59.50, "EUR"),
            order_row("L2", "2024-06-29", "amazon", "DE", "SKU-A", 2, 59.50, "EUR"),
            order_row("L3", "2024-05-20", "amazon", "DE", "SKU-A", 1, 59.50, "EUR"),
            order_row("L4", "2024-03-15", "shopify", "DE", "SKU-A", 1, 55.00, "EUR"),
            order_row("L5", "2024-06-01", "amazon", "DE", "SKU-B", 2, 17.85, "EUR"),
            order_row("L6", "2024-06-15", "amazon", "DE", "SKU-D", 1, 39.90, "EUR"),
            order_row("L7", "2024-06-20", "shopify", "US", "SKU-C", 3, 12.00, "USD"),
            order_row("L8", "2024-06-30", "amazon", "US", "SKU-C", 1, 12.00, "USD"),
            order_row("L9", "2024-06-25", "amazon", "GB", "SKU-B", 4, 24.00, "GBP"),
        ],
        "inventory": [
            {
                "snapshot_date": AS_OF,
                "sku": "SKU-A",
                "warehouse_id": "WH-DE-1",
                "destination_country": "DE",
                "on_hand_units": 40,
                "inbound_units": 100,
                "replenishment_lead_time_days": 45,
            },
        ],
        "shipments": [
            {
                "shipment_id": "SH-1",
                "sku": "SKU-A",
                "lane_id": "CNSHA-DEHAM",
                "mode": "ocean_fcl_40ft",
                "origin_country": "CN",
                "destination_country": "DE",
                "units": 2000,
                "gross_weight_kg": 1000.0,
                "volume_cbm": 4.0,
                "departed_at": _ts("2024-05-01 08:00:00"),
                "arrived_at": _ts("2024-06-06 08:00:00"),
                "planned_transit_days": 35.0,
                "freight_cost": 2600.0,
                "currency": "USD",
            },
        ],
        "traffic": [
            {
                "traffic_date": _d("2024-06-29"),
                "sku": "SKU-A",
                "marketplace": "amazon",
                "destination_country": "DE",
                "sessions": 200,
                "page_views": 320,
                "add_to_cart": 30,
                "ordered_sessions": 10,
            },
        ],
        "competitors": [
            {
                "snapshot_date": _d("2024-06-24"),
                "sku": "SKU-A",
                "marketplace": "amazon",
                "destination_country": "DE",
                "sellers_on_listing": 4,
                "competitor_median_price": 54.0,
                "currency": "EUR",
                "competitor_review_count": 800,
                "own_review_count": 120,
            },
        ],
        "reviews": [
            {
                "review_id": "R1",
                "sku": "SKU-A",
                "marketplace": "amazon",
                "destination_country": "DE",
                "reviewed_at": _ts("2024-06-20 12:00:00"),
                "rating": 1,
                "topic": "installation",
                "language": "de",
            },
            {
                "review_id": "R2",
                "sku": "SKU-A",
                "marketplace": "amazon",
                "destination_country": "DE",
                "reviewed_at": _ts("2024-06-21 12:00:00"),
                "rating": 5,
                "topic": "praise",
                "language": "de",
            },
        ],
        "returns": [
            {
                "return_id": "RT1",
                "order_line_id": "L1",
                "sku": "SKU-A",
                "destination_country": "DE",
                "returned_at": _ts("2024-06-20 09:00:00"),
                "quantity": 1,
                "reason": "defective",
            },
        ],
        "tickets": [
            # DE chat on 06-29: first responses after 1h, 2h and 30h (an SLA breach at 24h).
            ticket_row(
                "T1", "DE", "chat", "2024-06-29 08:00:00", "2024-06-29 09:00:00", "2024-06-29 12:00:00", "bot", 1, 5
            ),
            ticket_row(
                "T2", "DE", "chat", "2024-06-29 09:00:00", "2024-06-29 11:00:00", "2024-06-30 09:00:00", "human", 2, 3
            ),
            ticket_row(
                "T3",
                "DE",
                "chat",
                "2024-06-29 10:00:00",
                "2024-06-30 16:00:00",
                None,
                "human",
                1,
                None,
                reopened=True,
                response_language="en",
            ),
            ticket_row(
                "T4", "US", "email", "2024-06-28 10:00:00", "2024-06-28 14:00:00", "2024-06-28 18:00:00", "human", 1, 4
            ),
        ],
        "freight_rates": freight,
        "vat_rates": [
            {
                "country_code": "DE",
                "effective_from": _d("2020-07-01"),
                "effective_to": _d("2021-01-01"),
                "standard_rate_pct": 16.0,
                "reduced_rate_pct": 5.0,
                "source": "test",
            },
            {
                "country_code": "DE",
                "effective_from": _d("2021-01-01"),
                "effective_to": None,
                "standard_rate_pct": 19.0,
                "reduced_rate_pct": 7.0,
                "source": "test",
            },
            {
                "country_code": "GB",
                "effective_from": _d("2011-01-04"),
                "effective_to": None,
                "standard_rate_pct": 20.0,
                "reduced_rate_pct": 5.0,
                "source": "test",
            },
        ],
        "duty_rates": [
            {
                "destination_country": "DE",
                "commodity_code": "8516710000",
                "hs6": "851671",
                "description": "Coffee or tea makers",
                "rate_text": "2.7%",
                "ad_valorem_pct": 2.7,
                "specific_amount": None,
                "specific_currency": None,
                "specific_per": None,
                "specific_unit": None,
                "effective_from": _d("2021-01-01"),
                "effective_to": None,
                "source": "test",
            },
            {
                "destination_country": "DE",
                "commodity_code": "7326909890",
                "hs6": "732690",
                "description": "Other articles of iron or steel",
                "rate_text": "2.7%",
                "ad_valorem_pct": 2.7,
                "specific_amount": None,
                "specific_currency": None,
                "specific_per": None,
                "specific_unit": None,
                "effective_from": _d("2021-01-01"),
                "effective_to": None,
                "source": "test",
            },
            {
                "destination_country": "GB",
                "commodity_code": "7326909890",
                "hs6": "732690",
                "description": "Other articles of iron or steel",
                "rate_text": "41.20 GBP / 100 kg",
                "ad_valorem_pct": None,
                "specific_amount": 41.20,
                "specific_currency": "GBP",
                "specific_per": 100.0,
                "specific_unit": "kg",
                "effective_from": _d("2021-01-01"),
                "effective_to": None,
                "source": "test",
            },
        ],
        "de_minimis": [
            {
                "country_code": "DE",
                "applies_to": "duty",
                "threshold_amount": 150.0,
                "currency": "EUR",
                "effective_from": _d("2021-07-01"),
                "effective_to": None,
                "source": "test",
            },
            {
                "country_code": "GB",
                "applies_to": "duty",
                "threshold_amount": 135.0,
                "currency": "GBP",
                "effective_from": _d("2021-01-01"),
                "effective_to": None,
                "source": "test",
            },
            {
                "country_code": "US",
                "applies_to": "duty",
                "threshold_amount": 800.0,
                "currency": "USD",
                "effective_from": _d("2016-03-10"),
                "effective_to": None,
                "source": "test",
            },
        ],
        "digital_services_taxes": [
            {
                "country_code": "GB",
                "rate_pct": 2.0,
                "scope": "marketplace services",
                "effective_from": _d("2020-04-01"),
                "effective_to": None,
                "source": "test",
            },
        ],
        "regulatory_events": [
            {
                "event_id": "EV1",
                "country_code": "DE",
                "hs_scope": "73",
                "kind": "cbam",
                "announced_on": _d("2023-05-17"),
                "effective_on": _d("2026-01-01"),
                "new_rate_pct": None,
                "summary": "CBAM definitive period starts",
            },
        ],
        "fx_rates": [
            {"rate_date": _d("2024-01-01"), "currency": "CNY", "units_per_usd": 7.2},
            {"rate_date": _d("2024-06-28"), "currency": "CNY", "units_per_usd": 7.0},
            {"rate_date": _d("2024-01-01"), "currency": "EUR", "units_per_usd": 0.92},
            {"rate_date": _d("2024-06-28"), "currency": "EUR", "units_per_usd": 0.90},
            {"rate_date": _d("2024-01-01"), "currency": "GBP", "units_per_usd": 0.80},
        ],
        "emission_factors": [
            {
                "activity_id": "sea_freight-vessel_type_container-route_type_na-vessel_length_na-tonnage_na-fuel_source_na",
                "category": "Sea Freight",
                "name": "Container ship (average)",
                "activity_unit": "tonne-km",
                "kg_co2e_per_unit": 0.016142,
                "lca_activity": "fuel_combustion",
                "source": "BEIS",
                "year_released": 2021,
                "region": "GB",
            },
        ],
        "cbam_scope": [
            {"hs_prefix": "7326", "sector": "iron_steel", "default_kg_co2e_per_kg": 2.0, "source": "test"},
        ],
        "carbon_prices": [
            {"price_date": _d("2024-06-01"), "scheme": "EU_ETS", "price": 65.0, "currency": "EUR"},
            {"price_date": _d("2024-06-28"), "scheme": "EU_ETS", "price": 70.0, "currency": "EUR"},
        ],
    }


def build_raw_warehouse(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create every raw table of the contract and insert the rows with loader columns."""
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        for name, table in RAW_TABLES.items():
            conn.execute(raw_table_ddl(table))
            records = rows.get(name, [])
            if not records:
                continue
            cols = list(table.columns) + ["_partition_date", "_source_file", "_loaded_at"]
            values = []
            for rec in records:
                unknown = set(rec) - set(table.columns)
                assert not unknown, f"{name}: columns not in the contract: {unknown}"
                part = rec[table.partition_column] if table.partition_column else None
                if isinstance(part, dt.datetime):
                    part = part.date()
                values.append([rec.get(c) for c in table.columns] + [part, f"test/{name}.csv", LOADED_AT])
            placeholders = ", ".join("?" for _ in cols)
            col_sql = ", ".join(f'"{c}"' for c in cols)
            conn.executemany(f'INSERT INTO {RAW_SCHEMA}."{name}" ({col_sql}) VALUES ({placeholders})', values)
    finally:
        conn.close()


def run_dbt(args: list[str], warehouse: Path, work: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADEWINDS_WAREHOUSE": str(warehouse), "TRADEWINDS_DBT_THREADS": "2"}
    cmd = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=work)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dbt")
    warehouse = work / "warehouse.duckdb"
    build_raw_warehouse(warehouse, raw_rows())
    result = run_dbt(["build"], warehouse, work)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return warehouse


@pytest.fixture
def wh(built: Path):
    conn = duckdb.connect(str(built), read_only=True)
    yield conn
    conn.close()


MARTS = (
    "demand_sku_market_daily",
    "selection_sku_market",
    "traffic_sku_market_daily",
    "service_market_daily",
    "service_sku_topic",
    "risk_lane_weekly",
    "risk_market_policy",
    "risk_policy_events",
    "risk_supplier_concentration",
    "risk_sku",
    "inventory_position",
    "shipment_transit",
)


def test_every_mart_has_rows(wh):
    for mart in MARTS:
        assert wh.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0, mart


def test_models_land_in_fixed_schemas(wh):
    schemas = {
        r[0]
        for r in wh.execute(
            "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_schema <> 'raw'"
        ).fetchall()
    }
    assert {"staging", "intermediate", "marts"} <= schemas
    assert not any(s.startswith("main_") for s in schemas), schemas


def test_spiking_lane_flagged_and_calm_lane_not(wh):
    spike = wh.execute(
        """SELECT is_spike, spike_severity, wow_change_pct, risk_tier FROM marts.risk_lane_weekly
           WHERE lane_id = 'CNSHA-DEHAM' AND mode = 'ocean_fcl_40ft' AND rate_week = DATE '2024-06-24'"""
    ).fetchone()
    assert spike[0] is True
    assert spike[1] == "warning"
    assert spike[2] == pytest.approx((4000 / 2600 - 1) * 100, abs=1e-3)
    assert spike[3] == "high"
    calm = wh.execute(
        """SELECT is_spike, spike_severity FROM marts.risk_lane_weekly
           WHERE lane_id = 'CNSHA-DEHAM' AND mode = 'air' AND rate_week = DATE '2024-06-24'"""
    ).fetchone()
    assert calm == (False, None)
    # The week before the jump is calm on the same lane.
    before = wh.execute(
        """SELECT is_spike FROM marts.risk_lane_weekly
           WHERE lane_id = 'CNSHA-DEHAM' AND mode = 'ocean_fcl_40ft' AND rate_week = DATE '2024-06-17'"""
    ).fetchone()
    assert before == (False,)


def test_landed_margin_matches_hand_computation(wh):
    """SKU-A (espresso maker) in Germany, worked out by hand from the rows above."""
    # Net price: 4 units sold in the 90 days to 2024-06-30, all at 59.50 EUR incl. 19% VAT.
    #   L1 06-10 (1 unit, EUR 0.92/USD), L2 06-29 (2 units, 0.90), L3 05-20 (1 unit, 0.92).
    gross_usd = 59.50 / 0.92 * 2 + 59.50 / 0.90 * 2
    net_price = gross_usd / 1.19 / 4
    gross_price = gross_usd / 4
    # Unit cost: 70 CNY at 7.0 CNY/USD (rate of 06-28, the latest on or before 06-30).
    unit_cost = 70 / 7.0
    # Cheapest mode: ocean FCL 40ft. Chargeable kg = max(0.5, 20*10*10 / 2577) = 0.776096;
    # the latest rate (week of 06-24) is 4,000 USD per 26,000 chargeable kg.
    chargeable = round(max(0.5, 2000 / 2577), 6)
    freight = 4000 * chargeable / 26000
    # Duty: 2.7% ad valorem on the customs value, CIF in the EU (unit cost + freight);
    # container freight gets no de-minimis relief.
    duty = (unit_cost + freight) * 0.027
    # Import VAT 19% on unit cost + freight + duty.
    vat = 0.19 * (unit_cost + freight + duty)
    # Fees: Amazon 15% of the gross price (3 of the 4 units on Amazon; the Shopify unit of
    # 03-15 is outside the 90 days), no German DST.
    fees = gross_price * 0.15
    # Carbon: not in CBAM scope, but the 2024 EU ETS maritime levy prices 20% of the
    # container's emissions: 0.016142 kg/t-km x 0.5 kg / 1000 x 19,500 km, at 70 EUR/t
    # (06-28) / 0.90 EUR per USD.
    carbon = 0.016142 * 0.5 / 1000 * 19500 * 0.20 * 70 / 0.90 / 1000
    landed = unit_cost + freight + duty + vat + fees + carbon
    margin = (net_price - landed) / net_price * 100

    row = wh.execute(
        """SELECT net_price_usd, unit_cost_usd, freight_per_unit_usd, duty_per_unit_usd, vat_per_unit_usd,
                  fees_per_unit_usd, carbon_cost_per_unit_usd, landed_cost_usd, landed_margin_pct, cheapest_mode,
                  units_90d, voltage_mismatch, customs_value_usd
           FROM marts.selection_sku_market WHERE sku = 'SKU-A' AND destination_country = 'DE'"""
    ).fetchone()
    assert row is not None
    assert row[0] == pytest.approx(net_price, abs=1e-5)
    assert row[1] == pytest.approx(unit_cost, abs=1e-5)
    assert row[2] == pytest.approx(freight, abs=1e-5)
    assert row[3] == pytest.approx(duty, abs=1e-5)
    assert row[4] == pytest.approx(vat, abs=1e-5)
    assert row[5] == pytest.approx(fees, abs=1e-5)
    assert row[6] == pytest.approx(carbon, abs=1e-6)
    assert row[7] == pytest.approx(landed, abs=1e-4)
    assert row[8] == pytest.approx(margin, abs=1e-3)
    assert row[9] == "ocean_fcl_40ft"
    assert row[10] == 4
    assert row[11] is False
    assert row[12] == pytest.approx(unit_cost + freight, abs=1e-5)


def test_selection_flags_and_specific_duty(wh):
    # The 110V hair dryer sold in Germany (220V) is flagged, and has to be fixed.
    assert wh.execute(
        """SELECT voltage_mismatch, recommendation, pain_point FROM marts.selection_sku_market
           WHERE sku = 'SKU-D' AND destination_country = 'DE'"""
    ).fetchone() == (True, "fix", "voltage or plug does not fit the market")
    # Steel brackets to GB by LCL: specific duty 41.20 GBP / 100 kg on 2 kg at 0.80 GBP/USD.
    duty, carbon = wh.execute(
        """SELECT duty_per_unit_usd, carbon_cost_per_unit_usd FROM marts.selection_sku_market
           WHERE sku = 'SKU-B' AND destination_country = 'GB'"""
    ).fetchone()
    assert duty == pytest.approx(41.20 / 0.80 / 100 * 2.0, abs=1e-5)
    assert carbon == 0  # EU carbon pricing only
    # Steel brackets into Germany are in CBAM scope, but certificates are only due from 2026:
    # in June 2024 only the maritime levy applies (20% of 0.016142 x 2 kg / 1000 x 19,500 km).
    carbon_de, cbam, embedded = wh.execute(
        """SELECT carbon_cost_per_unit_usd, cbam_in_scope, embedded_kg_co2e_per_unit FROM marts.selection_sku_market
           WHERE sku = 'SKU-B' AND destination_country = 'DE'"""
    ).fetchone()
    assert carbon_de == pytest.approx(0.016142 * 2.0 / 1000 * 19500 * 0.20 * 70 / 0.90 / 1000, abs=1e-6)
    assert cbam is True
    assert embedded == pytest.approx(2.0 * 2.0)


def test_policy_event_exposure_and_margin_impact_by_hand(wh):
    """EV1 (CBAM definitive phase in Germany from 2026, HS 73) touches the steel brackets
    sold there: 2 units in 90 days, 4 kg CO2e embedded each, 2.5% of it priced in 2026 at
    70 EUR/t / 0.90: -2 x 4 x 0.025 x 77.78 / 1000."""
    row = wh.execute(
        """SELECT skus_touched, units_90d_touched, days_until_effective, est_margin_impact_usd
           FROM marts.risk_policy_events WHERE event_id = 'EV1'"""
    ).fetchone()
    assert row[:3] == (1, 2, (dt.date(2026, 1, 1) - AS_OF).days)
    assert row[3] == pytest.approx(-2 * 4.0 * 0.025 * 70 / 0.90 / 1000, abs=1e-4)
    market = wh.execute(
        """SELECT vat_rate_pct, events_next_90d, cbam_skus, duty_de_minimis_usd FROM marts.risk_market_policy
           WHERE destination_country = 'DE'"""
    ).fetchone()
    assert market == (19.0, 0, 1, pytest.approx(150 / 0.90, abs=1e-3))


def test_shipment_inventory_and_supplier_marts(wh):
    # SH-1: planned 35 days, took 36: 24 hours late, under the 48-hour threshold.
    assert wh.execute(
        "SELECT transit_status, actual_transit_days, delay_hours, is_delayed FROM marts.shipment_transit"
    ).fetchone() == ("arrived", 36.0, 24.0, False)
    # SKU-A in DE: 3 units in the last 28 days, 40 on hand + 100 inbound, 45-day lead time.
    on_hand, inbound, daily, cover, risk = wh.execute(
        """SELECT on_hand_units, inbound_units, avg_daily_units_28d, days_of_cover_incl_inbound, is_stockout_risk
           FROM marts.inventory_position WHERE sku = 'SKU-A' AND destination_country = 'DE'"""
    ).fetchone()
    assert (on_hand, inbound, risk) == (40, 100, False)
    assert daily == pytest.approx(3 / 28, abs=1e-6)
    assert cover == pytest.approx(round(140 / (3 / 28), 2))
    # Electronics: SUP-1 (SKU-A, 4 units) and SUP-3 (SKU-D, 1 unit): shares 80/20, HHI 6,800.
    rows = wh.execute(
        """SELECT supplier_id, unit_share_pct, category_hhi, is_single_supplier_dependent
           FROM marts.risk_supplier_concentration WHERE category = 'electronics' ORDER BY supplier_id"""
    ).fetchall()
    assert rows == [("SUP-1", 80.0, 6800.0, False), ("SUP-3", 20.0, 6800.0, False)]


def test_service_percentiles_and_sla(wh):
    row = wh.execute(
        """SELECT tickets, first_response_p50_hours, first_response_p90_hours, sla_breaches, csat_avg,
                  bot_share_pct, reopen_rate_pct, answered_in_buyer_language_pct
           FROM marts.service_market_daily
           WHERE destination_country = 'DE' AND channel = 'chat' AND ticket_date = DATE '2024-06-29'"""
    ).fetchone()
    # First responses 1h, 2h, 30h: p50 = 2, p90 = 2 + 0.8 * (30 - 2) = 24.4 (linear interpolation).
    assert row[0] == 3
    assert row[1] == pytest.approx(2.0)
    assert row[2] == pytest.approx(24.4)
    assert row[3] == 1
    assert row[4] == pytest.approx(4.0)
    assert row[5] == pytest.approx(100 / 3, abs=1e-3)
    assert row[6] == pytest.approx(100 / 3, abs=1e-3)
    assert row[7] == pytest.approx(200 / 3, abs=1e-3)


def test_demand_daily_is_unique_per_sku_market_day(wh):
    dupes = wh.execute(
        """SELECT count(*) FROM (SELECT sku, destination_country, order_date FROM marts.demand_sku_market_daily
           GROUP BY ALL HAVING count(*) > 1)"""
    ).fetchone()[0]
    assert dupes == 0
    units, revenue = wh.execute(
        """SELECT units, revenue_usd FROM marts.demand_sku_market_daily
           WHERE sku = 'SKU-A' AND destination_country = 'DE' AND order_date = DATE '2024-06-29'"""
    ).fetchone()
    assert units == 2
    assert revenue == pytest.approx(2 * 59.50 / 0.90, abs=1e-3)


def test_thresholds_come_from_vars_and_unit_tests_pin_theirs(built: Path, tmp_path: Path):
    """Dagster passes the thresholds as --vars: the mart follows them, the unit tests do not break."""
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(built.read_bytes())
    thresholds = '{"freight_spike_wow_pct": 60, "freight_spike_zscore": 1000, "first_response_sla_hours": 1}'
    result = run_dbt(
        ["build", "--select", "risk_lane_weekly", "test_type:unit", "--vars", thresholds], warehouse, tmp_path
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        row = conn.execute(
            """SELECT is_spike, spike_severity FROM marts.risk_lane_weekly
               WHERE lane_id = 'CNSHA-DEHAM' AND mode = 'ocean_fcl_40ft' AND rate_week = DATE '2024-06-24'"""
        ).fetchone()
    # +53.8% is below a 60% threshold and the z-score threshold is out of reach.
    assert row == (False, None)


@pytest.mark.parametrize("threads", ["1", "", "two"], ids=["set", "unset", "not_a_number"])
def test_duckdb_threads_come_from_the_settings(built: Path, tmp_path: Path, threads: str) -> None:
    """settings duckdb.threads reach dbt's DuckDB (env TRADEWINDS_DUCKDB_THREADS, on-run-start
    macro duckdb_threads): set, the run logs it in effect; unset, DuckDB's default; not a
    number, the run stops before any model with a message naming the setting."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)
    with duckdb.connect(":memory:") as conn:
        default = conn.execute("SELECT current_setting('threads')").fetchone()[0]
    with mock.patch.dict(os.environ, {"TRADEWINDS_DUCKDB_THREADS": threads}):
        result = run_dbt(["run", "--select", "stg_carbon__carbon_prices"], warehouse, tmp_path)
    if threads == "two":
        assert result.returncode != 0
        assert "TRADEWINDS_DUCKDB_THREADS (settings duckdb.threads) must be a whole number" in result.stdout
        assert "got 'two'" in result.stdout
        return
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    expected = "DuckDB threads: 1 (duckdb.threads)" if threads else f"DuckDB threads: {default} (DuckDB's default)"
    assert expected in result.stdout, result.stdout[-3000:]


def test_a_nightly_build_leaves_a_parse_state_the_next_night_reuses(tmp_path: Path) -> None:
    """The build's partial_parse.msgpack (nightly vars, warehouse path) becomes the project's."""
    from orchestration.defs.transform import DBT_PROJECT_DIR, dbt_executable, dbt_vars, keep_partial_parse
    from orchestration.lib.settings import Settings

    env = {**os.environ, "TRADEWINDS_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}
    nightly_vars = json.dumps(dbt_vars(Settings(data_dir=tmp_path)))

    def parse(target: Path, variables: str) -> str:
        args = [dbt_executable(), "--debug", "parse", "--project-dir", str(DBT_PROJECT_DIR)]
        args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), "--vars", variables]
        done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout + done.stderr

    build_target, project_target = tmp_path / "invocation", tmp_path / "project_target"
    parse(build_target, nightly_vars)
    assert keep_partial_parse(build_target, project_target)
    assert not keep_partial_parse(tmp_path / "nothing_here", project_target)
    next_night = parse(project_target, nightly_vars)
    assert "Partial parsing enabled" in next_night and "Unable to do partial parsing" not in next_night
    other_vars = parse(project_target, json.dumps({"freight_spike_wow_pct": 99}))
    assert "Unable to do partial parsing" in other_vars  # what the prepared manifest's state did every night


def test_the_prepared_parse_state_serves_the_first_night(tmp_path: Path) -> None:
    """``tradewinds prepare`` parses with the nightly build's vars and environment, so the first
    night's build parses partially (a state parsed with another warehouse path does not)."""
    from dagster_dbt import DbtProject

    from orchestration.defs.transform import (
        DBT_PROJECT_DIR,
        dbt_environment,
        dbt_executable,
        dbt_vars,
        prepare_manifest,
    )
    from orchestration.lib.settings import Settings
    from orchestration.lib.warehouse import WarehouseResource

    settings = Settings(data_dir=tmp_path)
    prepared = tmp_path / "prepared"
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=prepared)
    assert prepare_manifest(project, settings) == prepared / "manifest.json"
    assert (prepared / "manifest.json").is_file() and (prepared / "partial_parse.msgpack").is_file()

    def first_night(warehouse: Path) -> str:
        resource = WarehouseResource(path=str(warehouse), memory_limit=settings.duckdb.memory_limit)
        env = {**os.environ, **dbt_environment(settings, resource, ("2025-07-01", "2025-07-01"))}
        # As dagster-dbt runs the nightly build: the resource's --target, the build's --vars.
        args = [dbt_executable(), "--debug", "parse", "--project-dir", str(DBT_PROJECT_DIR), "--target", "duckdb"]
        args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(prepared)]
        args += ["--vars", json.dumps(dbt_vars(settings), sort_keys=True)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout + done.stderr

    night = first_night(settings.warehouse)
    assert "Partial parsing enabled" in night and "Unable to do partial parsing" not in night
    # Nothing parsed again: not even the models whose configs read TRADEWINDS_DBT_WINDOWED.
    assert "0 files deleted, 0 files added, 0 files changed" in night, night[-3000:]
    assert "Unable to do partial parsing" in first_night(tmp_path / "elsewhere.duckdb")


@pytest.mark.parametrize("window", [False, True], ids=["full_build", "one_day_window"])
def test_a_null_in_a_not_null_mart_column_fails_the_build_and_keeps_the_mart(
    built: Path, tmp_path: Path, window: bool
) -> None:
    """The marts' not-null columns are enforced contract constraints, not data tests: a NULL
    fails the mart's build (DuckDB's NOT NULL) and the mart keeps its previous rows, on a full
    build and on a windowed night (whose pre-hook first deletes the window's days)."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)
    mart = "marts.traffic_sku_market_daily"
    with duckdb.connect(str(warehouse)) as conn:
        day = conn.execute("SELECT max(traffic_date) FROM raw.traffic").fetchone()[0]
        before = conn.execute(f"SELECT * FROM {mart} ORDER BY ALL").fetchall()
        assert any(row for row in before if day in row)
        conn.execute("UPDATE raw.traffic SET sessions = NULL WHERE traffic_date = ?", [day])
    env = {"TRADEWINDS_DBT_MIN_DATE": str(day), "TRADEWINDS_DBT_MAX_DATE": str(day)} if window else {}
    with mock.patch.dict(os.environ, env):
        result = run_dbt(
            ["run", "--select", "int_traffic_days_aggregated", "traffic_sku_market_daily"], warehouse, tmp_path
        )
    assert result.returncode != 0
    assert "NOT NULL constraint failed" in result.stdout, result.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute(f"SELECT * FROM {mart} ORDER BY ALL").fetchall() == before


def test_a_windowed_build_tests_the_windows_days_and_keys_across_days(built: Path, tmp_path: Path) -> None:
    """With a partition window the data tests of a day-grain model read the window's days
    (macros/get_where_subquery.sql). Uniqueness of a key without the day reads every day's
    rows of the window's keys: a new row repeating an order line of another day fails the
    night it arrives (and the other day's night), not the nights after."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)
    with duckdb.connect(str(warehouse)) as conn:
        # An unknown SKU on 2030-01-05, and the first order line again on 2030-01-06.
        conn.execute(
            "INSERT INTO raw.orders SELECT * REPLACE ('NO-SUCH-SKU' AS sku, 'BAD-1' AS order_line_id, "
            "TIMESTAMP '2030-01-05 10:00:00' AS ordered_at) FROM raw.orders LIMIT 1"
        )
        first_day = conn.execute("SELECT min(ordered_at)::DATE FROM raw.orders").fetchone()[0]
        conn.execute(
            "INSERT INTO raw.orders SELECT * REPLACE (TIMESTAMP '2030-01-06 10:00:00' AS ordered_at) "
            "FROM raw.orders WHERE ordered_at = (SELECT min(ordered_at) FROM raw.orders) LIMIT 1"
        )
    assert str(first_day) < "2030-01-05"

    def failing(day: str | None) -> set[str]:
        work = tmp_path / f"run_{day}"
        work.mkdir()
        window = {"TRADEWINDS_DBT_MIN_DATE": day or "", "TRADEWINDS_DBT_MAX_DATE": day or ""}
        with mock.patch.dict(os.environ, window):
            run_dbt(["test", "--select", "stg_platform__orders"], warehouse, work)
        results = json.loads((work / "target" / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}

    sku_test = "relationships_stg_platform__orders_sku__sku__ref_stg_platform__catalog_"
    unique_test = "unique_stg_platform__orders_order_line_id"
    assert failing("2030-01-06") == {unique_test}  # the repeat against its first day's row
    assert failing(str(first_day)) == {unique_test}  # the first day's night sees it as well
    assert failing("2030-01-05") == {sku_test}
    assert failing("2030-01-07") == set()  # neither row in the window: reported on their nights
    assert {unique_test, sku_test} <= failing(None)  # no window: every row


def dbt_in_copy(project: Path, warehouse: Path, *args: str, **extra_env: str) -> str:
    """dbt on a copy of the project (its own target folder) against ``warehouse``; its output, once it succeeded."""
    done = subprocess.run(
        [str(DBT_EXECUTABLE), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
        + ["--target-path", str(project / "target")],
        env={**os.environ, "TRADEWINDS_WAREHOUSE": str(warehouse), "TRADEWINDS_DBT_THREADS": "2", **extra_env},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=project,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def test_the_test_window_works_on_a_state_parsed_before_the_override_existed(built: Path, tmp_path: Path) -> None:
    """dbt compiles a generic test with the macros its node recorded when parsed; a partial-parse
    state from before macros/get_where_subquery.sql existed records none of the project's, so
    the override must not call other project macros (a night after an upgrade failed so)."""
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    override = project / "macros" / "get_where_subquery.sql"
    text = override.read_text()
    override.unlink()
    dbt_in_copy(project, built, "parse")
    override.write_text(text)
    window = {"TRADEWINDS_DBT_MIN_DATE": "2030-01-05", "TRADEWINDS_DBT_MAX_DATE": "2030-01-05"}
    out = dbt_in_copy(project, built, "compile", "--select", "stg_platform__traffic,resource_type:test", **window)
    assert "Unable to do partial parsing" not in out
    compiled = project / "target" / "compiled" / "tradewinds" / "models" / "staging" / "platform"
    # The traffic model's relationships tests (dbt shortens their long names to a hash).
    sqls = [p.read_text() for p in compiled.rglob("relationships_stg_platform__tr_*.sql")]
    assert sqls and all("traffic_date between cast('2030-01-05' as date)" in sql for sql in sqls)


def test_a_new_nights_days_reparse_no_model(built: Path, tmp_path: Path) -> None:
    """The nightly passes the days in TRADEWINDS_DBT_MIN_DATE/MAX_DATE and TRADEWINDS_DBT_WINDOWED=1.
    Only the flag is read while dbt parses (the models' configs), the days only when a model runs:
    partial parsing then re-parses no file when the days move on (it re-parsed the six incremental
    models every night, ~0.45 s), and the compiled SQL still filters on the new night's days."""
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)

    def dbt(*args: str, day: str) -> str:
        window = {"TRADEWINDS_DBT_MIN_DATE": day, "TRADEWINDS_DBT_MAX_DATE": day, "TRADEWINDS_DBT_WINDOWED": "1"}
        return dbt_in_copy(project, warehouse, "--debug", *args, **window)

    dbt("parse", day="2024-06-29")
    out = dbt("compile", "--select", "int_order_lines_converted", "int_tickets_measured", day="2024-06-30")
    assert "0 files deleted, 0 files added, 0 files changed" in out, out[-3000:]
    assert "Partial parsing: updated file" not in out
    compiled = {p.name: p.read_text() for p in (project / "target" / "compiled").rglob("*.sql")}
    assert "order_date between cast(" in compiled["int_order_lines_converted.sql"]
    assert "cast('2024-06-30' as date)" in compiled["int_order_lines_converted.sql"]
    assert "2024-06-29" not in compiled["int_order_lines_converted.sql"]
    assert "cast('2024-06-30' as date)" in compiled["int_tickets_measured.sql"]


def test_the_windowed_flag_without_days_is_an_error(built: Path, tmp_path: Path) -> None:
    """TRADEWINDS_DBT_WINDOWED=1 tells the configs there is a window: without the days an
    incremental model would merge the whole history instead, so the build stops and says why."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)
    with mock.patch.dict(os.environ, {"TRADEWINDS_DBT_WINDOWED": "1", "TRADEWINDS_DBT_MIN_DATE": ""}):
        result = run_dbt(["compile", "--select", "int_order_lines_converted"], warehouse, tmp_path)
    assert result.returncode != 0
    assert "TRADEWINDS_DBT_WINDOWED is set without TRADEWINDS_DBT_MIN_DATE" in result.stdout, result.stdout[-3000:]
