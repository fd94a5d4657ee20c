"""Quality gates: GX 1.x suites, their mapping onto Dagster asset checks, and blocking.

Good frames (typed the way DuckDB hands rows to pandas) pass every suite; one crafted bad
row per family is caught and the outcome names the expectation, the column and the failing
value; a failing blocking check, standalone or inline, stops the downstream asset.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs import quality
from orchestration.defs.quality import (
    MART_TABLES,
    SuiteNotFoundError,
    SuiteOutcome,
    build_data_docs,
    build_load_checks,
    build_mart_check,
    outcome_to_check_result,
    raw_check_spec,
    validate_frame,
)
from orchestration.defs.quality.checks import (
    INCREMENTAL_MART_DAYS,
    MART_BASELINE_NIGHTS,
    LoadBaseline,
    expected_days,
    load_parameters,
    mart_baseline,
    mart_parameters,
    mart_row_filter,
    row_band,
)
from orchestration.defs.quality.suites import (
    EXPECTATIONS_DIR,
    HAND_WRITTEN_MARTS,
    LOAD_PROFILE_COLUMNS,
    all_suites,
    contract_mart_suite,
    mart_models,
    render_context,
)
from orchestration.defs.quality.validation import (
    CONTEXT_ROOT,
    defer_module,
    gx_dirs,
    jsonable,
    prune_validation_results,
    widen_for_gx,
)
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import PROJECT_ROOT, get_settings
from orchestration.lib.warehouse import WarehouseResource

D = "2025-06-02"  # a Monday, in the past
T = "2025-06-02 10:00:00"

# One or two valid rows per raw table, in contract column order.
GOOD_ROWS: dict[str, list[dict[str, Any]]] = {
    "catalog": [
        dict(
            sku="SKU-1",
            title="Kettle",
            category="home_kitchen",
            unit_cost=55.0,
            cost_currency="CNY",
            weight_kg=1.2,
            length_cm=25.0,
            width_cm=20.0,
            height_cm=22.0,
            hs_code="851671",
            origin_country="CN",
            supplier_id="SUP-1",
            supplier_country="CN",
            voltage="220V",
            plug_type="C",
            has_battery=False,
            doc_languages="en;de",
            launched_on="2024-03-01",
        ),
        dict(
            sku="SKU-2",
            title="Lamp",
            category="electronics",
            unit_cost=30.0,
            cost_currency="CNY",
            weight_kg=0.5,
            length_cm=10.0,
            width_cm=10.0,
            height_cm=30.0,
            hs_code="940520",
            origin_country="CN",
            supplier_id="SUP-2",
            supplier_country="VN",
            voltage="universal",
            plug_type="none",
            has_battery=None,
            doc_languages=None,
            launched_on=None,
        ),
    ],
    "orders": [
        dict(
            order_line_id="OL-1",
            order_id="O-1",
            ordered_at=T,
            marketplace="amazon",
            destination_country="DE",
            sku="SKU-1",
            quantity=2,
            unit_price=39.9,
            currency="EUR",
        ),
        dict(
            order_line_id="OL-2",
            order_id="O-2",
            ordered_at=T,
            marketplace="shopify",
            destination_country="KR",
            sku="SKU-2",
            quantity=1,
            unit_price=250000.0,
            currency="KRW",
        ),
    ],
    "inventory": [
        dict(
            snapshot_date=D,
            sku="SKU-1",
            warehouse_id="FBA-DE-1",
            destination_country="DE",
            on_hand_units=120,
            inbound_units=0,
            replenishment_lead_time_days=45,
        ),
        dict(
            snapshot_date=D,
            sku="SKU-1",
            warehouse_id="FBA-DE-2",
            destination_country="DE",
            on_hand_units=0,
            inbound_units=300,
            replenishment_lead_time_days=45,
        ),
    ],
    "shipments": [
        dict(
            shipment_id="SH-1",
            sku="SKU-1",
            lane_id="CNSHA-DEHAM",
            mode="ocean_fcl_40ft",
            origin_country="CN",
            destination_country="DE",
            units=2000,
            gross_weight_kg=2400.0,
            volume_cbm=22.0,
            departed_at=T,
            arrived_at="2025-07-10 08:00:00",
            planned_transit_days=35.0,
            freight_cost=4200.0,
            currency="USD",
        ),
        dict(
            shipment_id="SH-2",
            sku="SKU-2",
            lane_id="CNSZX-USLAX",
            mode="air",
            origin_country="CN",
            destination_country="US",
            units=100,
            gross_weight_kg=50.0,
            volume_cbm=0.3,
            departed_at=T,
            arrived_at=None,
            planned_transit_days=5.0,
            freight_cost=300.0,
            currency="USD",
        ),
    ],
    "traffic": [
        dict(
            traffic_date=D,
            sku="SKU-1",
            marketplace="amazon",
            destination_country="DE",
            sessions=100,
            page_views=180,
            add_to_cart=12,
            ordered_sessions=5,
        ),
    ],
    "competitors": [
        dict(
            snapshot_date=D,
            sku="SKU-1",
            marketplace="amazon",
            destination_country="JP",
            sellers_on_listing=4,
            competitor_median_price=4980.0,
            currency="JPY",
            competitor_review_count=210,
            own_review_count=35,
        ),
    ],
    "reviews": [
        dict(
            review_id="R-1",
            sku="SKU-1",
            marketplace="amazon",
            destination_country="DE",
            reviewed_at=T,
            rating=2,
            topic="installation",
            language="de",
        ),
        dict(
            review_id="R-2",
            sku="SKU-1",
            marketplace="amazon",
            destination_country="DE",
            reviewed_at=T,
            rating=5,
            topic="praise",
            language=None,
        ),
    ],
    "returns": [
        dict(
            return_id="RT-1",
            order_line_id="OL-1",
            sku="SKU-1",
            destination_country="DE",
            returned_at=T,
            quantity=1,
            reason="voltage_mismatch",
        ),
    ],
    "tickets": [
        dict(
            ticket_id="TK-1",
            order_id="O-1",
            sku="SKU-1",
            marketplace="amazon",
            destination_country="BR",
            channel="chat",
            buyer_language="pt",
            response_language="pt",
            created_at=T,
            first_response_at="2025-06-02 16:00:00",
            resolved_at="2025-06-03 09:00:00",
            topic="installation",
            handled_by="human",
            contacts=2,
            reopened=False,
            csat=4,
        ),
        dict(
            ticket_id="TK-2",
            order_id=None,
            sku=None,
            marketplace="shopee",
            destination_country="SG",
            channel="marketplace_message",
            buyer_language="en",
            response_language=None,
            created_at=T,
            first_response_at=None,
            resolved_at=None,
            topic="pre_sale_question",
            handled_by="bot",
            contacts=1,
            reopened=False,
            csat=None,
        ),
    ],
    "freight_rates": [
        dict(
            rate_week=D,
            lane_id="CNSHA-DEHAM",
            origin_country="CN",
            origin_port="CNSHA",
            destination_country="DE",
            destination_port="DEHAM",
            mode="ocean_fcl_40ft",
            rate=3200.0,
            rate_unit="per_container",
            currency="USD",
            transit_days=38.0,
            distance_km=19500.0,
        ),
        dict(
            rate_week=D,
            lane_id="CNPVG-DEFRA",
            origin_country="CN",
            origin_port="CNPVG",
            destination_country="DE",
            destination_port="DEFRA",
            mode="air",
            rate=4.1,
            rate_unit="per_kg",
            currency="USD",
            transit_days=4.0,
            distance_km=8900.0,
        ),
        dict(
            rate_week=D,
            lane_id="CNSHA-DEHAM",
            origin_country="CN",
            origin_port="CNSHA",
            destination_country="DE",
            destination_port="DEHAM",
            mode="ocean_lcl",
            rate=85.0,
            rate_unit="per_cbm",
            currency="USD",
            transit_days=42.0,
            distance_km=19500.0,
        ),
    ],
    "vat_rates": [
        dict(
            country_code="DE",
            effective_from="2000-01-01",
            effective_to="2020-07-01",
            standard_rate_pct=19.0,
            reduced_rate_pct=7.0,
            source="ibericode/vat-rates",
        ),
        dict(
            country_code="DE",
            effective_from="2021-01-01",
            effective_to=None,
            standard_rate_pct=19.0,
            reduced_rate_pct=7.0,
            source="ibericode/vat-rates",
        ),
    ],
    "duty_rates": [
        dict(
            destination_country="GB",
            commodity_code="8516710000",
            hs6="851671",
            description="Coffee or tea makers",
            rate_text="2.0%",
            ad_valorem_pct=2.0,
            specific_amount=None,
            specific_currency=None,
            specific_per=None,
            specific_unit=None,
            effective_from="2021-01-01",
            effective_to=None,
            source="UKGT",
        ),
        dict(
            destination_country="AT",
            commodity_code="02011000",
            hs6="020110",
            description="Beef carcasses",
            rate_text="12.8% + 176.8 EUR / 100 kg",
            ad_valorem_pct=12.8,
            specific_amount=176.8,
            specific_currency="EUR",
            specific_per=100.0,
            specific_unit="kg",
            effective_from="2000-01-01",
            effective_to=None,
            source="CET",
        ),
    ],
    "de_minimis": [
        dict(
            country_code="US",
            applies_to="duty",
            threshold_amount=800.0,
            currency="USD",
            effective_from="2016-03-10",
            effective_to="2025-08-29",
            source="curated",
        ),
        dict(
            country_code="EU",
            applies_to="duty",
            threshold_amount=150.0,
            currency="EUR",
            effective_from="2021-07-01",
            effective_to=None,
            source="curated",
        ),
    ],
    "digital_services_taxes": [
        dict(
            country_code="FR",
            rate_pct=3.0,
            scope="digital interface services",
            effective_from="2019-01-01",
            effective_to=None,
            source="curated",
        ),
    ],
    "regulatory_events": [
        dict(
            event_id="EV-1",
            country_code="EU",
            hs_scope="72",
            kind="cbam",
            announced_on="2023-05-16",
            effective_on="2026-01-01",
            new_rate_pct=None,
            summary="CBAM definitive period starts",
        ),
    ],
    "fx_rates": [
        dict(rate_date=D, currency="EUR", units_per_usd=0.88),
        dict(rate_date=D, currency="KRW", units_per_usd=1370.0),
    ],
    "emission_factors": [
        dict(
            activity_id="freight_flight-x",
            category="Air Freight",
            name="Air freight",
            activity_unit="tonne-km",
            kg_co2e_per_unit=1.02,
            lca_activity="fuel_combustion",
            source="BEIS",
            year_released=2021,
            region="GB",
        ),
    ],
    "cbam_scope": [
        dict(hs_prefix="72", sector="iron_and_steel", default_kg_co2e_per_kg=2.1, source="EU 2023/956 Annex I"),
    ],
    "carbon_prices": [
        dict(price_date=D, scheme="EU_ETS", price=71.5, currency="EUR"),
    ],
}

MART_COLUMNS: dict[str, dict[str, str]] = {
    "demand_sku_market_daily": {
        "sku": "VARCHAR",
        "destination_country": "VARCHAR",
        "order_date": "DATE",
        "orders": "BIGINT",
        "units": "BIGINT",
        "revenue_usd": "DOUBLE",
        "net_revenue_usd": "DOUBLE",
    },
    "risk_lane_weekly": {
        "lane_id": "VARCHAR",
        "mode": "VARCHAR",
        "origin_country": "VARCHAR",
        "destination_country": "VARCHAR",
        "rate_week": "DATE",
        "rate_unit": "VARCHAR",
        "currency": "VARCHAR",
        "rate_local": "DOUBLE",
        "rate_usd": "DOUBLE",
        "prev_week_rate_usd": "DOUBLE",
        "wow_change_pct": "DOUBLE",
        "change_4w_pct": "DOUBLE",
        "mean_12w_usd": "DOUBLE",
        "stddev_12w_usd": "DOUBLE",
        "volatility_cv_12w": "DOUBLE",
        "zscore_12w": "DOUBLE",
        "transit_days": "DOUBLE",
        "is_spike": "BOOLEAN",
        "spike_severity": "VARCHAR",
        "risk_tier": "VARCHAR",
    },
    "selection_sku_market": {
        "sku": "VARCHAR",
        "destination_country": "VARCHAR",
        "as_of_date": "DATE",
        "units_28d": "BIGINT",
        "revenue_28d_usd": "DOUBLE",
        "units_90d": "BIGINT",
        "revenue_90d_usd": "DOUBLE",
        "net_price_usd": "DOUBLE",
        "landed_cost_usd": "DOUBLE",
        "landed_margin_pct": "DOUBLE",
        "logistics_cost_share_pct": "DOUBLE",
        "cheapest_mode": "VARCHAR",
        "return_rate_pct": "DOUBLE",
        "bad_review_rate_pct": "DOUBLE",
        "avg_rating_90d": "DOUBLE",
        "add_to_cart_rate_28d_pct": "DOUBLE",
        "conversion_rate_28d_pct": "DOUBLE",
    },
    "service_market_daily": {
        "destination_country": "VARCHAR",
        "channel": "VARCHAR",
        "ticket_date": "DATE",
        "tickets": "BIGINT",
        "answered_tickets": "BIGINT",
        "resolved_tickets": "BIGINT",
        "first_response_p50_hours": "DOUBLE",
        "first_response_p90_hours": "DOUBLE",
        "resolution_p50_hours": "DOUBLE",
        "resolution_p90_hours": "DOUBLE",
        "first_contact_resolution_pct": "DOUBLE",
        "csat_avg": "DOUBLE",
        "csat_satisfied_pct": "DOUBLE",
        "bot_share_pct": "DOUBLE",
        "bot_resolution_pct": "DOUBLE",
        "sla_breaches": "BIGINT",
        "reopen_rate_pct": "DOUBLE",
        "answered_in_buyer_language_pct": "DOUBLE",
    },
}

GOOD_MART_ROWS: dict[str, list[dict[str, Any]]] = {
    "demand_sku_market_daily": [
        dict(
            sku="SKU-1",
            destination_country="DE",
            order_date=D,
            orders=3,
            units=4,
            revenue_usd=160.0,
            net_revenue_usd=134.45,
        ),
        dict(
            sku="SKU-1",
            destination_country="DE",
            order_date="2025-06-03",
            orders=0,
            units=0,
            revenue_usd=0.0,
            net_revenue_usd=0.0,
        ),
    ],
    "risk_lane_weekly": [
        dict(
            lane_id="CNSHA-DEHAM",
            mode="ocean_fcl_40ft",
            origin_country="CN",
            destination_country="DE",
            rate_week=D,
            rate_unit="per_container",
            currency="USD",
            rate_local=3200.0,
            rate_usd=3200.0,
            prev_week_rate_usd=2500.0,
            wow_change_pct=28.0,
            change_4w_pct=40.0,
            mean_12w_usd=2400.0,
            stddev_12w_usd=300.0,
            volatility_cv_12w=0.125,
            zscore_12w=2.7,
            transit_days=38.0,
            is_spike=True,
            spike_severity="warning",
            risk_tier="high",
        ),
        dict(
            lane_id="CNSHA-DEHAM",
            mode="ocean_fcl_40ft",
            origin_country="CN",
            destination_country="DE",
            rate_week="2025-05-26",
            rate_unit="per_container",
            currency="USD",
            rate_local=2500.0,
            rate_usd=2500.0,
            prev_week_rate_usd=None,
            wow_change_pct=None,
            change_4w_pct=None,
            mean_12w_usd=None,
            stddev_12w_usd=None,
            volatility_cv_12w=None,
            zscore_12w=None,
            transit_days=38.0,
            is_spike=False,
            spike_severity=None,
            risk_tier="low",
        ),
    ],
    "selection_sku_market": [
        dict(
            sku="SKU-1",
            destination_country="DE",
            as_of_date=D,
            units_28d=40,
            revenue_28d_usd=1600.0,
            units_90d=110,
            revenue_90d_usd=4400.0,
            net_price_usd=19.2,
            landed_cost_usd=21.5,
            landed_margin_pct=-12.0,
            logistics_cost_share_pct=9.5,
            cheapest_mode="ocean_fcl_40ft",
            return_rate_pct=4.5,
            bad_review_rate_pct=12.0,
            avg_rating_90d=4.1,
            add_to_cart_rate_28d_pct=9.0,
            conversion_rate_28d_pct=3.1,
        ),
    ],
    "service_market_daily": [
        dict(
            destination_country="BR",
            channel="chat",
            ticket_date=D,
            tickets=12,
            answered_tickets=11,
            resolved_tickets=10,
            first_response_p50_hours=3.5,
            first_response_p90_hours=20.0,
            resolution_p50_hours=20.0,
            resolution_p90_hours=60.0,
            first_contact_resolution_pct=55.0,
            csat_avg=4.1,
            csat_satisfied_pct=75.0,
            bot_share_pct=40.0,
            bot_resolution_pct=30.0,
            sla_breaches=1,
            reopen_rate_pct=8.0,
            answered_in_buyer_language_pct=90.0,
        ),
        dict(
            destination_country="BR",
            channel="email",
            ticket_date=D,
            tickets=1,
            answered_tickets=0,
            resolved_tickets=0,
            first_response_p50_hours=None,
            first_response_p90_hours=None,
            resolution_p50_hours=None,
            resolution_p90_hours=None,
            first_contact_resolution_pct=None,
            csat_avg=None,
            csat_satisfied_pct=None,
            bot_share_pct=0.0,
            bot_resolution_pct=None,
            sla_breaches=1,
            reopen_rate_pct=None,
            answered_in_buyer_language_pct=None,
        ),
    ],
}


def typed_frame(columns: dict[str, str], rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as DuckDB hands them to pandas (``.df()``), with the given DuckDB column types."""
    conn = duckdb.connect()
    try:
        conn.execute("CREATE TABLE t (" + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")")
        if rows:
            placeholders = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO t VALUES ({placeholders})", [[r[c] for c in columns] for r in rows])
        return conn.sql("SELECT * FROM t").df()
    finally:
        conn.close()


def raw_frame(table: str, rows: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    return typed_frame(RAW_TABLES[table].columns, GOOD_ROWS[table] if rows is None else rows)


def mart_frame(mart: str, rows: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """``MART_COLUMNS`` plus every other column the suite checks (NULL, typed as the dbt contract declares)."""
    declared = {c["name"]: str(c.get("data_type", "varchar")).upper() for c in mart_models()[mart]["columns"]}
    [schema] = [e for e in SUITES[f"mart_{mart}"].expectations if e.type == "expect_table_columns_to_match_set"]
    columns = dict(MART_COLUMNS[mart])
    for column in schema.kwargs["column_set"]:
        columns.setdefault(column, declared[column])
    rows = GOOD_MART_ROWS[mart] if rows is None else rows
    return typed_frame(columns, [{**dict.fromkeys(columns), **r} for r in rows])


SUITES = {s.name: s for s in all_suites()}


def validate(suite: str, df: pd.DataFrame, **kwargs: Any) -> SuiteOutcome:
    """``validate_frame``; a mart suite's row-count band and freshness not judged (no previous night, no run day)."""
    if suite.startswith("mart_"):
        kwargs.setdefault("parameters", mart_parameters(suite[5:], as_of=None, baseline_rows=None, band=0.5)[0])
    return validate_frame(suite, df, **kwargs)


def with_row(table: str, **changes: Any) -> list[dict[str, Any]]:
    """The good rows of ``table`` plus a copy of the first one with ``changes`` applied."""
    good = GOOD_ROWS[table]
    return [*good, {**good[0], **changes}]


def failure(outcome: SuiteOutcome, expectation_type: str, column: str):
    matches = [f for f in outcome.failures if f.expectation_type == expectation_type and column in f.columns]
    assert matches, f"{expectation_type}({column}) did not fail: {outcome.summary()}"
    return matches[0]


@pytest.fixture(scope="module")
def gx_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gx_data")


@pytest.fixture(autouse=True)
def _data_dir(gx_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One data dir for the module, so the GX context is loaded once."""
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(gx_data_dir))
    get_settings.cache_clear()


# ---------------------------------------------------------------- the suites


def test_every_raw_table_and_mart_has_a_committed_suite() -> None:
    names = {s.name for s in all_suites()}
    assert {f"raw_{t}" for t in RAW_TABLES} <= names
    assert {f"mart_{m}" for m in MART_TABLES} <= names
    on_disk = {p.stem for p in (CONTEXT_ROOT / "expectations").glob("*.json")}
    assert on_disk == names


def test_suites_table_counts_what_gx_loads() -> None:
    from orchestration.defs.quality.__main__ import suites_table

    rows = [line.split("|")[1:-1] for line in suites_table().splitlines()[2:-1]]
    counted = {name.strip().strip("`"): int(n) for name, n, *_ in rows}
    assert counted == {s.name: len(s.expectations) for s in all_suites()}
    for _, n, critical, warning in rows:
        assert int(n) >= int(critical) + int(warning)


def test_committed_context_matches_the_generator() -> None:
    stale = [
        rel
        for rel, text in render_context().items()
        if not (EXPECTATIONS_DIR / rel).is_file() or (EXPECTATIONS_DIR / rel).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `python -m orchestration.defs.quality` and commit: {stale}"


@pytest.mark.parametrize("table", sorted(RAW_TABLES))
def test_good_raw_rows_pass(table: str) -> None:
    outcome = validate_frame(f"raw_{table}", raw_frame(table))
    assert outcome.success, outcome.summary()
    assert outcome.rows == len(GOOD_ROWS[table])
    assert outcome.evaluated >= 1 + len(RAW_TABLES[table].primary_key)


@pytest.mark.parametrize("mart", HAND_WRITTEN_MARTS)
def test_good_mart_rows_pass(mart: str) -> None:
    outcome = validate(f"mart_{mart}", mart_frame(mart))
    assert outcome.success, outcome.summary()


def test_frames_are_validated_without_gx_hashing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX's batch fingerprint (a hash of every row, which nothing reads) is not computed
    (``validation.skip_batch_fingerprints``), for a failing frame as for a passing one."""
    from great_expectations.execution_engine import pandas_execution_engine

    def refuse(frame: pd.DataFrame) -> str:
        raise AssertionError(f"GX hashed a {len(frame)}-row frame")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", refuse)
    assert validate_frame("raw_orders", raw_frame("orders")).success
    bad = raw_frame("orders").assign(quantity=-1)
    assert not validate_frame("raw_orders", bad).success


def test_empty_frame_passes() -> None:
    assert validate_frame("raw_orders", raw_frame("orders", [])).success


def test_loader_columns_are_ignored() -> None:
    df = raw_frame("orders").assign(_partition_date=pd.Timestamp(D), _source_file="x.csv", _loaded_at=pd.Timestamp(T))
    assert validate_frame("raw_orders", df).success


def test_unknown_suite_names_the_fix() -> None:
    with pytest.raises(SuiteNotFoundError, match="raw_nope.*python -m orchestration.defs.quality"):
        validate_frame("raw_nope", raw_frame("orders"))


def test_frames_are_widened_to_the_dtypes_gx_compares_vectorized() -> None:
    # DuckDB hands pandas INTEGER as int32 and TIMESTAMP as microseconds: GX 1.x checks bounds
    # on those value by value in Python (seconds per column at mart size), on int64, float64
    # and nanosecond timestamps vectorized.
    frame = typed_frame(
        {
            "n": "INTEGER",
            "s": "SMALLINT",
            "f": "FLOAT",
            "ts": "TIMESTAMP",
            "d": "DATE",
            "far": "TIMESTAMP",
            "k": "VARCHAR",
        },
        [
            {"n": 1, "s": 2, "f": 0.5, "ts": T, "d": D, "far": "9999-12-31 00:00:00", "k": "a"},
            {"n": -3, "s": None, "f": None, "ts": None, "d": None, "far": None, "k": None},
        ],
    )
    widened = widen_for_gx(frame)
    assert str(widened["n"].dtype) == "int64"
    assert str(widened["f"].dtype) == "float64"
    assert str(widened["ts"].dtype) == str(widened["d"].dtype) == "datetime64[ns]"
    assert widened["far"].dtype == frame["far"].dtype  # beyond 2262: kept in microseconds
    assert widened["k"].dtype == frame["k"].dtype
    pd.testing.assert_frame_equal(widened.astype(object), frame.astype(object), check_dtype=False)


def test_no_frame_outlives_its_validation() -> None:
    """GX's engine kept each suite's last frame (GBs at SF 10 for the rest of the night)."""
    import gc

    def live_frames() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, pd.DataFrame) and len(o) == 321)

    before = live_frames()
    for table in ("orders", "tickets"):
        base = GOOD_ROWS[table][0]
        key = RAW_TABLES[table].primary_key[-1]
        frame = raw_frame(table, [{**base, key: f"X-{i}"} for i in range(321)])
        assert validate_frame(f"raw_{table}", frame).rows == 321
        del frame
    assert live_frames() == before


def test_a_passing_suite_runs_once_in_the_cheaper_format_and_a_failing_one_again_for_its_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestration.defs.quality import validation

    runs: list[tuple[str, bool]] = []
    real = validation._run_suite

    def spy(vd, frame, result_format, expectation_parameters, *, store):
        runs.append((result_format["result_format"], store))
        return real(vd, frame, result_format, expectation_parameters, store=store)

    monkeypatch.setattr(validation, "_run_suite", spy)
    assert validate_frame("raw_orders", raw_frame("orders")).success
    assert runs == [("BASIC", True)]  # SUMMARY's failing-row labels cost 40% more and a pass needs none

    runs.clear()
    outcome = validate_frame(
        "raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0))
    )
    assert runs == [("BASIC", True), ("SUMMARY", False)]  # stored once (Data Docs), described from the second
    f = failure(outcome, "expect_column_values_to_be_between", "unit_price")
    assert f.sample_rows == [{"unit_price": -5.0, "order_line_id": "OL-9"}]

    runs.clear()
    assert not validate_frame(
        "raw_orders", raw_frame("orders", with_row("orders", quantity=-1)), store_result=False
    ).success
    assert runs == [("BASIC", False), ("SUMMARY", False)]


def test_narrow_and_wide_frames_fail_the_same_expectations() -> None:
    rows = with_row("orders", order_line_id="OL-9", quantity=-2, ordered_at="2099-01-01 00:00:00")
    narrow = raw_frame("orders", rows)
    assert str(narrow["quantity"].dtype) == "int32"
    wide = narrow.astype({"quantity": "int64", "ordered_at": "datetime64[ns]"})
    got = {(f.expectation_type, f.columns, f.unexpected_count) for f in validate_frame("raw_orders", narrow).failures}
    assert got == {
        (f.expectation_type, f.columns, f.unexpected_count) for f in validate_frame("raw_orders", wide).failures
    }
    assert ("expect_column_values_to_be_between", ("quantity",), 1) in got
    assert ("expect_column_values_to_be_between", ("ordered_at",), 1) in got


# ---------------------------------------------------------------- bad rows, one family at a time


def test_platform_negative_price() -> None:
    outcome = validate_frame(
        "raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0))
    )
    assert not outcome.success
    f = failure(outcome, "expect_column_values_to_be_between", "unit_price")
    assert f.unexpected_count == 1
    assert f.sample == [-5.0]
    assert f.sample_rows == [{"unit_price": -5.0, "order_line_id": "OL-9"}]
    assert f.severity == "critical"


def test_platform_price_bound_depends_on_currency() -> None:
    # 250000 is a fine price in KRW (good rows) but not in EUR.
    rows = with_row("orders", order_line_id="OL-9", unit_price=250000.0, currency="EUR")
    outcome = validate_frame("raw_orders", raw_frame("orders", rows))
    f = failure(outcome, "expect_column_values_to_be_between", "unit_price")
    assert f.sample == [250000.0]
    assert f.kwargs["row_condition"] == "currency NOT_IN ['JPY', 'KRW']"


def test_platform_unknown_country() -> None:
    outcome = validate_frame(
        "raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", destination_country="ZZ"))
    )
    f = failure(outcome, "expect_column_values_to_be_in_set", "destination_country")
    assert f.sample == ["ZZ"]
    assert f.sample_rows[0]["order_line_id"] == "OL-9"


def test_platform_duplicate_compound_key() -> None:
    outcome = validate_frame("raw_inventory", raw_frame("inventory", with_row("inventory", on_hand_units=7)))
    f = failure(outcome, "expect_compound_columns_to_be_unique", "warehouse_id")
    assert f.columns == ("snapshot_date", "sku", "warehouse_id")
    assert f.unexpected_count == 2
    key = {"snapshot_date": "2025-06-02T00:00:00", "sku": "SKU-1", "warehouse_id": "FBA-DE-1"}
    assert key in f.sample
    assert f.sample_rows == [key, key]


def test_platform_duplicate_single_key() -> None:
    outcome = validate_frame("raw_orders", raw_frame("orders", with_row("orders")))
    f = failure(outcome, "expect_column_values_to_be_unique", "order_line_id")
    assert f.sample == ["OL-1", "OL-1"]


def test_platform_future_timestamp_and_response_before_creation() -> None:
    rows = with_row(
        "tickets", ticket_id="TK-9", created_at="2099-01-01 00:00:00", first_response_at="2025-06-01 00:00:00"
    )
    outcome = validate_frame("raw_tickets", raw_frame("tickets", rows))
    future = failure(outcome, "expect_column_values_to_be_between", "created_at")
    assert future.sample == ["2099-01-01T00:00:00"]
    assert future.sample_rows == [{"created_at": "2099-01-01T00:00:00", "ticket_id": "TK-9"}]
    order = failure(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "first_response_at")
    assert order.columns == ("first_response_at", "created_at")
    assert order.unexpected_count == 1


def test_platform_rating_and_topic() -> None:
    outcome = validate_frame(
        "raw_reviews", raw_frame("reviews", with_row("reviews", review_id="R-9", rating=6, topic="meh"))
    )
    assert failure(outcome, "expect_column_values_to_be_between", "rating").sample == [6]
    assert failure(outcome, "expect_column_values_to_be_in_set", "topic").sample == ["meh"]


def test_freight_bad_mode_and_implausible_rate() -> None:
    outcome = validate_frame(
        "raw_freight_rates", raw_frame("freight_rates", with_row("freight_rates", mode="boat", lane_id="CNSHA-USLAX"))
    )
    f = failure(outcome, "expect_column_values_to_be_in_set", "mode")
    assert f.sample == ["boat"]
    assert f.sample_rows[0]["mode"] == "boat"

    rows = with_row("freight_rates", mode="air", rate=3200.0, rate_unit="per_kg", lane_id="CNPVG-USLAX")
    outcome = validate_frame("raw_freight_rates", raw_frame("freight_rates", rows))
    f = failure(outcome, "expect_column_values_to_be_between", "rate")
    assert f.sample == [3200.0]
    assert f.kwargs["row_condition"] == "mode == 'air'"


def test_freight_rate_unit_must_match_mode() -> None:
    rows = with_row("freight_rates", rate_unit="per_kg", lane_id="CNSHA-USLAX")
    outcome = validate_frame("raw_freight_rates", raw_frame("freight_rates", rows))
    assert failure(outcome, "expect_column_values_to_be_in_set", "rate_unit").sample == ["per_kg"]


def test_policy_percentage_and_period() -> None:
    rows = with_row("vat_rates", effective_from="2030-01-01", effective_to="2029-01-01", standard_rate_pct=150.0)
    outcome = validate_frame("raw_vat_rates", raw_frame("vat_rates", rows))
    assert failure(outcome, "expect_column_values_to_be_between", "standard_rate_pct").sample == [150.0]
    assert failure(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "effective_to").unexpected_count == 1


def test_policy_commodity_code_pattern() -> None:
    rows = with_row("duty_rates", commodity_code="1012100")  # leading zero lost
    outcome = validate_frame("raw_duty_rates", raw_frame("duty_rates", rows))
    assert failure(outcome, "expect_column_values_to_match_regex", "commodity_code").sample == ["1012100"]


def test_carbon_negative_price_and_unknown_currency() -> None:
    rows = with_row("carbon_prices", price_date="2025-06-03", price=-1.0, currency="XBT")
    outcome = validate_frame("raw_carbon_prices", raw_frame("carbon_prices", rows))
    assert failure(outcome, "expect_column_values_to_be_between", "price").sample == [-1.0]
    assert failure(outcome, "expect_column_values_to_be_in_set", "currency").sample == ["XBT"]


def test_schema_drift_is_named() -> None:
    df = raw_frame("orders").drop(columns=["currency"]).assign(coupon_code="X")
    outcome = validate_frame("raw_orders", df)
    schema = next(f for f in outcome.failures if f.expectation_type == "expect_table_columns_to_match_set")
    assert schema.details == {"mismatched": {"missing": ["currency"], "unexpected": ["coupon_code"]}}
    assert "coupon_code" in outcome_to_check_result(outcome).metadata["failed_expectations"].value
    missing = failure(outcome, "expect_column_values_to_be_in_set", "currency")
    assert missing.exception and "currency" in missing.exception


def test_wrong_type_is_caught() -> None:
    df = raw_frame("orders").astype({"quantity": "float64"})
    outcome = validate_frame("raw_orders", df)
    f = failure(outcome, "expect_column_values_to_be_in_type_list", "quantity")
    assert f.observed_value == "float64"


def test_mart_rules() -> None:
    bad_risk = [
        *GOOD_MART_ROWS["risk_lane_weekly"],
        {**GOOD_MART_ROWS["risk_lane_weekly"][0], "rate_week": "2025-06-09", "rate_usd": 0.0, "risk_tier": "extreme"},
    ]
    outcome = validate("mart_risk_lane_weekly", mart_frame("risk_lane_weekly", bad_risk))
    assert failure(outcome, "expect_column_values_to_be_between", "rate_usd").sample == [0.0]
    assert failure(outcome, "expect_column_values_to_be_in_set", "risk_tier").sample == ["extreme"]

    spike_without_severity = [{**GOOD_MART_ROWS["risk_lane_weekly"][0], "spike_severity": None}]
    outcome = validate("mart_risk_lane_weekly", mart_frame("risk_lane_weekly", spike_without_severity))
    f = failure(outcome, "expect_column_values_to_not_be_null", "spike_severity")
    assert f.kwargs["row_condition"] == "is_spike == True"

    dup = GOOD_MART_ROWS["demand_sku_market_daily"] * 2
    outcome = validate("mart_demand_sku_market_daily", mart_frame("demand_sku_market_daily", dup))
    assert failure(outcome, "expect_compound_columns_to_be_unique", "order_date").unexpected_count == 4

    bad_service = [{**GOOD_MART_ROWS["service_market_daily"][0], "csat_avg": 6.0, "first_response_p90_hours": 1.0}]
    outcome = validate("mart_service_market_daily", mart_frame("service_market_daily", bad_service))
    assert failure(outcome, "expect_column_values_to_be_between", "csat_avg").sample == [6.0]
    assert failure(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "first_response_p90_hours")


def test_every_dbt_mart_has_a_suite_from_its_contract() -> None:
    models = mart_models()
    assert set(HAND_WRITTEN_MARTS) <= set(models) and set(MART_TABLES) == set(models)
    suites = {s.name: s for s in all_suites()}
    for mart in set(models) - set(HAND_WRITTEN_MARTS):
        types = {e.type for e in suites[f"mart_{mart}"].expectations}
        assert {"expect_table_columns_to_match_set", "expect_column_values_to_not_be_null"} <= types, mart


CONTRACT = {
    "name": "stock",
    "constraints": [{"type": "primary_key", "columns": ["sku", "destination_country"]}],
    "columns": [
        {"name": "sku", "data_type": "varchar", "constraints": [{"type": "not_null"}]},
        {
            "name": "destination_country",
            "data_type": "varchar",
            "data_tests": [{"relationships": {"arguments": {"to": "ref('markets')", "field": "country_code"}}}],
        },
        {
            "name": "on_hand_units",
            "data_type": "bigint",
            "data_tests": ["not_null", {"accepted_range": {"arguments": {"min_value": 0}}}],
        },
        {"name": "tier", "data_type": "varchar", "data_tests": [{"accepted_values": {"arguments": {"values": ["a"]}}}]},
        {"name": "cover_days", "data_type": "double"},
    ],
}


def test_contract_suite_maps_the_dbt_contract_and_tests() -> None:
    spec = contract_mart_suite("stock", CONTRACT)
    kinds = [(e.type, e.kwargs.get("column") or e.kwargs.get("column_list")) for e in spec.expectations]
    assert ("expect_compound_columns_to_be_unique", ["sku", "destination_country"]) in kinds
    assert ("expect_column_values_to_be_in_type_list", "on_hand_units") in kinds
    assert ("expect_column_values_to_not_be_null", "on_hand_units") in kinds
    bounds = next(e for e in spec.expectations if e.kwargs.get("column") == "on_hand_units" and "min_value" in e.kwargs)
    assert bounds.kwargs["min_value"] == 0 and "max_value" not in bounds.kwargs
    codes = next(
        e for e in spec.expectations if e.kwargs.get("column") == "destination_country" and "value_set" in e.kwargs
    )
    assert "DE" in codes.kwargs["value_set"]
    assert next(e for e in spec.expectations if e.kwargs.get("column") == "tier").kwargs["value_set"] == ["a"]
    assert spec.key_columns == ("sku", "destination_country")


def test_contract_suite_of_a_real_mart_catches_a_bad_row() -> None:
    model = mart_models()["inventory_position"]
    types = {c["name"]: str(c.get("data_type", "varchar")).upper() for c in model["columns"]}
    good = {c: None for c in types}
    good |= {"sku": "SKU-1", "destination_country": "DE", "as_of_date": D, "on_hand_units": 5, "inbound_units": 0}
    bad = {**good, "sku": "SKU-2", "on_hand_units": -3, "destination_country": "ZZ"}
    frame = typed_frame({c: ("VARCHAR" if t in ("VARCHAR", "TEXT") else t) for c, t in types.items()}, [good, bad])
    outcome = validate("mart_inventory_position", frame)
    assert failure(outcome, "expect_column_values_to_be_between", "on_hand_units").sample == [-3]
    assert failure(outcome, "expect_column_values_to_be_in_set", "destination_country").sample == ["ZZ"]


# ---------------------------------------------------------------- loads: row-count band, freshness


def profile(days: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A load profile: day -> (rows in the table that day, rows the latest load wrote that day)."""
    rows = [{"day": d, "rows": total, "rows_in_load": loaded} for d, (total, loaded) in days.items()]
    return typed_frame(LOAD_PROFILE_COLUMNS, rows)


def history(last: str, n: int, per_day: int, loaded_days: int = 1) -> dict[str, tuple[int, int]]:
    end = dt.date.fromisoformat(last)
    out = {}
    for i in range(n):
        day = (end - dt.timedelta(days=n - 1 - i)).isoformat()
        out[day] = (per_day, per_day if i >= n - loaded_days else 0)
    return out


ORDERS = RAW_TABLES["orders"]
AS_OF = dt.date(2025, 6, 30)
ONE_DAY = (AS_OF, AS_OF)
BASELINE = LoadBaseline("prev-run-0001", rows=1000, expected_days=1)


def validate_load(table: str, days: dict[str, tuple[int, int]], baseline: LoadBaseline | None = BASELINE):
    params, meta = load_parameters(
        RAW_TABLES[table],
        load_range=ONE_DAY,
        first_day=dt.date.fromisoformat(min(days)) if days else None,
        as_of=AS_OF,
        baseline=baseline,
        band=0.5,
    )
    return validate_frame(f"load_{table}", profile(days), parameters=params), meta


def test_expected_days_of_a_load() -> None:
    d = dt.date
    assert expected_days(ORDERS, d(2025, 6, 1), d(2025, 6, 30), d(2025, 1, 1)) == 30
    assert expected_days(ORDERS, d(2025, 6, 1), d(2025, 6, 30), d(2025, 6, 21)) == 10  # history starts later
    competitors = RAW_TABLES["competitors"]  # weekly: lands on Mondays
    assert expected_days(competitors, d(2025, 6, 24), d(2025, 6, 29), None) == 0
    assert expected_days(competitors, d(2025, 6, 24), d(2025, 6, 30), None) == 1
    assert expected_days(competitors, d(2025, 6, 1), d(2025, 6, 30), None) == 5
    assert expected_days(RAW_TABLES["fx_rates"], None, None, None) == 1  # series load whole
    assert expected_days(RAW_TABLES["catalog"], None, None, None) == 1


def test_row_band_is_the_band_or_chance_whichever_is_wider() -> None:
    assert row_band(1000, 0.5) == (500, 1500)
    assert row_band(9, 0.5) == (0, 18)  # 3 x sqrt(9) = 9 > 4.5: small counts vary by chance
    assert row_band(0, 0.5) == (0, 0)


def test_load_parameters_scale_the_previous_load_per_expected_day() -> None:
    params, meta = load_parameters(
        ORDERS,
        load_range=(dt.date(2025, 6, 28), AS_OF),
        first_day=dt.date(2025, 1, 1),
        as_of=AS_OF,
        baseline=LoadBaseline("r", rows=4000, expected_days=4),
        band=0.5,
    )
    assert (params["rows_min"], params["rows_max"]) == (1500, 4500)
    assert params["fresh_since_0d"] == dt.datetime(2025, 6, 30)
    assert meta["load_range"] == "2025-06-28..2025-06-30" and meta["expected_days"] == 3
    first, _ = load_parameters(ORDERS, load_range=ONE_DAY, first_day=None, as_of=AS_OF, baseline=None, band=0.5)
    assert first["rows_min"] == 0 and first["rows_max"] >= 10**12  # no band on a first load


def test_load_within_band_and_fresh_passes() -> None:
    outcome, _ = validate_load("orders", history("2025-06-30", 5, 1000))
    assert outcome.success, outcome.summary()


def test_row_count_band_truncated_load_blocks() -> None:
    days = history("2025-06-30", 5, 1000)
    days["2025-06-30"] = (120, 120)  # a truncated export: 120 lines instead of ~1000
    outcome, meta = validate_load("orders", days)
    f = failure(outcome, "expect_column_sum_to_be_between", "rows_in_load")
    assert f.severity == "critical"
    assert f.kwargs == {"min_value": 500}
    assert f.observed_value == 120
    result = outcome_to_check_result(outcome, extra_metadata=meta)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["baseline"].value == "run prev-run: 1000 rows over 1 expected day(s)"


def test_row_count_band_spike_only_warns() -> None:
    days = history("2025-06-30", 5, 1000)
    days["2025-06-30"] = (2600, 2600)  # Black Friday: 2.6 times the day before
    outcome, _ = validate_load("orders", days)
    assert [(f.severity, f.kwargs) for f in outcome.failures] == [("warning", {"max_value": 1500})]
    assert outcome_to_check_result(outcome).severity == dg.AssetCheckSeverity.WARN


def test_freshness_stale_latest_partition_blocks() -> None:
    days = history("2025-06-29", 5, 1000)  # the run is for 06-30, the export for it is missing
    outcome, _ = validate_load("orders", days, baseline=None)
    f = failure(outcome, "expect_column_max_to_be_between", "day")
    assert f.severity == "critical"
    assert f.kwargs == {"min_value": "2025-06-30T00:00:00"}
    assert f.observed_value.startswith("2025-06-29")


def test_freshness_of_a_weekly_index_warns_then_blocks() -> None:
    def freight(last: str) -> list[str]:
        outcome, _ = validate_load("freight_rates", {last: (30, 30)}, baseline=None)
        return sorted(f.severity for f in outcome.failures)

    assert freight("2025-06-23") == []  # last Monday's index: fresh
    assert freight("2025-06-16") == ["warning"]  # a week skipped (Lunar New Year): warns
    assert freight("2025-06-02") == ["critical", "warning"]  # four weeks behind: blocks


def test_empty_table_is_not_fresh() -> None:
    outcome, _ = validate_load("orders", {}, baseline=None)
    assert failure(outcome, "expect_column_max_to_be_between", "day").severity == "critical"


def test_snapshot_tables_have_a_band_and_no_freshness() -> None:
    snapshot = {s.name: s for s in all_suites()}["load_catalog"]
    types = [e.type for e in snapshot.expectations]
    assert "expect_column_max_to_be_between" not in types
    assert types.count("expect_column_sum_to_be_between") == 2
    outcome, _ = validate_load("catalog", {}, baseline=LoadBaseline("r", 2000, 1))
    assert not outcome.success  # an empty catalog export is far below the 2000 SKUs of the last load


def contract_frame(mart: str, rows: list[dict[str, Any]], retype: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of a contract-derived mart: every documented column, NULL unless given, typed as its dbt contract
    declares (``retype``: a column delivered with another type)."""
    declared = {c["name"]: str(c.get("data_type", "varchar")).upper() for c in mart_models()[mart]["columns"]}
    columns = declared | (retype or {})
    return typed_frame(columns, [{**dict.fromkeys(columns), **r} for r in rows])


TRANSIT = dict(
    shipment_id="SH-1",
    sku="SKU-1",
    lane_id="CNSHA-DEHAM",
    mode="ocean_fcl_40ft",
    origin_country="CN",
    destination_country="DE",
    transit_status="arrived",
    units=200,
    planned_transit_days=38.0,
    actual_transit_days=40.0,
    delay_hours=48.0,
    freight_cost_usd=3400.0,
    freight_cost_per_unit_usd=17.0,
    is_delayed=False,
    departed_at="2025-04-20 00:00:00",
    planned_arrival_at="2025-05-28 00:00:00",
    arrived_at="2025-05-30 00:00:00",
    as_of_at="2025-07-01 00:00:00",
)


def transit(**changes: Any) -> pd.DataFrame:
    """``marts.shipment_transit`` (a contract-derived suite): a good shipment and a second one with ``changes``."""
    retype = {"units": "DOUBLE"} if isinstance(changes.get("units"), float) else None
    return contract_frame("shipment_transit", [TRANSIT, {**TRANSIT, "shipment_id": "SH-2", **changes}], retype)


@dataclass(frozen=True)
class BadInput:
    """One bad input of an expectation family and what its gate must say about it."""

    family: str
    suite: str
    what: str  # the bad input, in words (the note's table)
    expectation: str  # the expectation that must fail ...
    column: str  # ... on this column
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    sample: Any = None  # a failing value the failure must show (row-level expectations)
    # Mart suites: the run's last partition day and the mart's rows the night before (None: not judged).
    as_of: dt.date | None = None
    baseline_rows: int | None = None


def _bad_inputs() -> list[tuple[BadInput, Any]]:
    """(bad input, frame) per expectation family; a load family's frame is its load profile (validated with
    ``validate_load``: the previous load wrote 1000 rows for one day, the run is for 2025-06-30)."""
    band_low = history("2025-06-30", 3, 1000)
    band_low["2025-06-30"] = (100, 100)
    band_high = history("2025-06-30", 3, 1000)
    band_high["2025-06-30"] = (5000, 5000)
    between, in_set = "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"
    B = BadInput
    return [
        (
            B("schema", "raw_orders", "an extra column coupon_code", "expect_table_columns_to_match_set", ""),
            raw_frame("orders").assign(coupon_code="X"),
        ),
        (
            B("types", "raw_orders", "quantity delivered as DOUBLE", "expect_column_values_to_be_in_type_list", "quantity"),
            raw_frame("orders").astype({"quantity": "float64"}),
        ),
        (
            B("keys: unique", "raw_orders", "order_line_id OL-1 twice", "expect_column_values_to_be_unique",
              "order_line_id", sample="OL-1"),
            raw_frame("orders", with_row("orders")),
        ),
        (
            B("keys: not null", "raw_orders", "order_line_id NULL", "expect_column_values_to_not_be_null",
              "order_line_id"),
            raw_frame("orders", with_row("orders", order_line_id=None)),
        ),
        (
            B("bounds: price", "raw_orders", "unit_price -5.0", between, "unit_price", sample=-5.0),
            raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0)),
        ),
        (
            B("bounds: rate", "raw_freight_rates", "air rate 3200 per kg", between, "rate", sample=3200.0),
            raw_frame(
                "freight_rates",
                with_row("freight_rates", mode="air", rate=3200.0, rate_unit="per_kg", lane_id="CNPVG-USLAX"),
            ),
        ),
        (
            B("bounds: weight", "raw_catalog", "weight_kg 5000 (5 t per unit)", between, "weight_kg", sample=5000.0),
            raw_frame("catalog", with_row("catalog", sku="SKU-9", weight_kg=5000.0)),
        ),
        (
            B("bounds: percentage", "raw_vat_rates", "standard_rate_pct 150", between, "standard_rate_pct",
              sample=150.0),
            raw_frame("vat_rates", with_row("vat_rates", effective_from="2030-01-01", standard_rate_pct=150.0)),
        ),
        (
            B("codes: currency", "raw_orders", "currency XBT", in_set, "currency", sample="XBT"),
            raw_frame("orders", with_row("orders", order_line_id="OL-9", currency="XBT")),
        ),
        (
            B("codes: country", "raw_orders", "destination_country ZZ", in_set, "destination_country", sample="ZZ"),
            raw_frame("orders", with_row("orders", order_line_id="OL-9", destination_country="ZZ")),
        ),
        (
            B("future timestamps", "raw_orders", "ordered_at 2099-01-01", between, "ordered_at",
              sample="2099-01-01T00:00:00"),
            raw_frame("orders", with_row("orders", order_line_id="OL-9", ordered_at="2099-01-01 00:00:00")),
        ),
        (
            B("row-count band: below", "load_orders", "100 rows after a load of 1000 (band 500..1500)",
              "expect_column_sum_to_be_between", "rows_in_load"),
            band_low,
        ),
        (
            B("row-count band: above", "load_orders", "5000 rows after a load of 1000 (band 500..1500)",
              "expect_column_sum_to_be_between", "rows_in_load", severity=dg.AssetCheckSeverity.WARN),
            band_high,
        ),
        (
            B("freshness", "load_orders", "latest partition 2025-06-27 for a run of 2025-06-30",
              "expect_column_max_to_be_between", "day"),
            history("2025-06-27", 3, 1000),
        ),
        # The same families on the marts (a contract-derived suite and a hand-written one).
        (
            B("mart: types", "mart_shipment_transit", "units delivered as DOUBLE",
              "expect_column_values_to_be_in_type_list", "units"),
            transit(units=200.0),
        ),
        (
            B("mart: keys", "mart_shipment_transit", "shipment_id SH-1 twice", "expect_column_values_to_be_unique",
              "shipment_id", sample="SH-1"),
            transit(shipment_id="SH-1"),
        ),
        (
            B("mart: bounds", "mart_shipment_transit", "freight_cost_usd -10", between, "freight_cost_usd",
              sample=-10.0),
            transit(freight_cost_usd=-10.0),
        ),
        (
            B("mart: codes", "mart_shipment_transit", "origin_country XX", in_set, "origin_country", sample="XX"),
            transit(origin_country="XX"),
        ),
        (
            B("mart: future timestamps", "mart_shipment_transit", "departed_at 2099-01-01", between, "departed_at",
              sample="2099-01-01T00:00:00"),
            transit(departed_at="2099-01-01 00:00:00", arrived_at=None),
        ),
        (
            B("mart: percentage", "mart_selection_sku_market", "vat_rate_pct 150", between, "vat_rate_pct",
              sample=150.0),
            mart_frame("selection_sku_market", [{**GOOD_MART_ROWS["selection_sku_market"][0], "vat_rate_pct": 150.0}]),
        ),
        (
            B("mart: row-count band", "mart_demand_sku_market_daily", "2 rows after a night of 60 (band 30..90)",
              "expect_table_row_count_to_be_between", "", baseline_rows=60, as_of=dt.date(2025, 6, 3)),
            mart_frame("demand_sku_market_daily"),
        ),
        (
            B("mart: freshness", "mart_demand_sku_market_daily", "latest order_date 2025-06-03 for a run of 2025-06-30",
              "expect_column_max_to_be_between", "order_date", as_of=AS_OF),
            mart_frame("demand_sku_market_daily"),
        ),
    ]  # fmt: skip


BAD_INPUTS = {bad.family: (bad, frame) for bad, frame in _bad_inputs()}


def run_bad_input(family: str) -> tuple[BadInput, SuiteOutcome, dg.AssetCheckResult]:
    bad, frame = BAD_INPUTS[family]
    if bad.suite.startswith("load_"):
        outcome, meta = validate_load(bad.suite.removeprefix("load_"), frame)
    elif bad.suite.startswith("mart_"):
        mart = bad.suite.removeprefix("mart_")
        params, meta = mart_parameters(mart, as_of=bad.as_of, baseline_rows=bad.baseline_rows, band=0.5)
        outcome = validate_frame(bad.suite, frame, parameters=params)
    else:
        outcome, meta = validate_frame(bad.suite, frame), {}
    return bad, outcome, outcome_to_check_result(outcome, extra_metadata=meta)


@pytest.mark.parametrize("family", list(BAD_INPUTS))
def test_one_bad_input_per_expectation_family(family: str) -> None:
    """Every family's bad input fails its gate with the right severity, and the check's metadata names the
    failing expectation with its count and a sample of the failing rows."""
    bad, outcome, result = run_bad_input(family)
    assert not result.passed and result.severity == bad.severity, (family, outcome.summary())
    f = (
        failure(outcome, bad.expectation, bad.column)
        if bad.column
        else next(x for x in outcome.failures if x.expectation_type == bad.expectation)
    )
    assert f.expectation_type == bad.expectation
    expected_severity = "warning" if bad.severity == dg.AssetCheckSeverity.WARN else "critical"
    assert f.severity == expected_severity
    listed = result.metadata["failures"].value
    assert any(x["expectation_type"] == bad.expectation and x["columns"] == list(f.columns) for x in listed)
    assert bad.expectation in result.metadata["failed_expectations"].value
    if bad.sample is not None:  # a row-level expectation: how many rows, which values, which rows
        assert f.unexpected_count and f.unexpected_count >= 1
        assert bad.sample in f.sample
        assert f.sample_rows and any(bad.sample in row.values() for row in f.sample_rows)
        assert json.dumps(bad.sample) in result.metadata["failed_expectations"].value


def test_load_check_reads_the_previous_load_from_the_instance(tmp_path: Path) -> None:
    """The real check (``gx_load_orders``) in Dagster runs: first load, a normal day, a truncated day,
    a spike day and the ordinary days after it, a lasting drop."""
    path = tmp_path / "warehouse.duckdb"
    parts = dg.DailyPartitionsDefinition(start_date="2025-06-01")
    lines_per_day = {"value": 200}

    @dg.asset(key=["raw", "orders"], partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run())
    def raw_orders(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
        first, last = context.partition_key_range.start, context.partition_key_range.end
        with warehouse.connect() as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
            conn.execute("CREATE TABLE IF NOT EXISTS raw.orders (_partition_date DATE, n INTEGER)")
            conn.execute("DELETE FROM raw.orders WHERE _partition_date BETWEEN ? AND ?", [first, last])
            conn.execute(
                "INSERT INTO raw.orders SELECT d::DATE, i FROM range(?::DATE, ?::DATE + 1, INTERVAL 1 DAY) t(d), "
                "range(?) r(i)",
                [first, last, lines_per_day["value"]],
            )
        return dg.MaterializeResult(metadata={"partition_range": f"{first}..{last}"})

    checks = build_load_checks(["orders"])
    resources = {"warehouse": WarehouseResource(path=str(path))}
    with dg.DagsterInstance.ephemeral() as instance:

        def load(first: str, last: str) -> dg.AssetCheckEvaluation:
            result = dg.materialize(
                [raw_orders, checks],
                resources=resources,
                instance=instance,
                raise_on_error=False,
                tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            )
            [evaluation] = result.get_asset_check_evaluations()
            return evaluation

        first = load("2025-06-01", "2025-06-10")
        assert first.passed and first.metadata["rows_in_load"].value == 2000
        assert first.metadata["expected_days"].value == 10
        normal = load("2025-06-11", "2025-06-11")
        assert normal.passed
        assert (normal.metadata["rows_min"].value, normal.metadata["rows_max"].value) == (100, 300)
        lines_per_day["value"] = 20  # the export of 06-12 is truncated
        truncated = load("2025-06-12", "2025-06-12")
        assert not truncated.passed and truncated.severity == dg.AssetCheckSeverity.ERROR
        assert "expect_column_sum_to_be_between" in truncated.metadata["failed_expectations"].value
        assert truncated.metadata["band_low_ok"].value is False
        # The truncated load is not the next load's baseline: 200 lines on 06-13 are normal.
        lines_per_day["value"] = 200
        after = load("2025-06-13", "2025-06-13")
        assert after.passed, after.description
        assert after.metadata["baseline"].value.startswith("run ")
        assert after.metadata["latest_partition"].value == "2025-06-13"
        # Black Friday: three times the orders, above the band: a warning, nothing blocked.
        lines_per_day["value"] = 600
        spike = load("2025-06-14", "2025-06-14")
        assert not spike.passed and spike.severity == dg.AssetCheckSeverity.WARN
        # The ordinary days after it are held to the median of the previous loads (200 a day), not
        # to the spike: compared with 600 they were under the band, blocked, night after night.
        lines_per_day["value"] = 200
        for day in ("2025-06-15", "2025-06-16"):
            ordinary = load(day, day)
            assert ordinary.passed, ordinary.description
            assert (ordinary.metadata["rows_min"].value, ordinary.metadata["rows_max"].value) == (100, 300)
            assert "the median of the previous" in ordinary.metadata["baseline"].value
        # A lasting drop (a marketplace closed) blocks until it is the median of the last 7 loads:
        # the 5th night, when four of them are at the new level.
        lines_per_day["value"] = 60
        verdicts = [load(day, day).passed for day in [f"2025-06-{d}" for d in range(17, 23)]]
        assert verdicts == [False, False, False, False, True, True], verdicts


# ---------------------------------------------------------------- check results


def test_passing_outcome_maps_to_passed_check() -> None:
    outcome = validate_frame("raw_orders", raw_frame("orders"))
    result = outcome_to_check_result(outcome, asset_key=dg.AssetKey(["raw", "orders"]), check_name="gx_raw_orders")
    assert result.passed
    assert result.check_name == "gx_raw_orders"
    assert result.asset_key == dg.AssetKey(["raw", "orders"])
    assert result.metadata["rows_validated"].value == 2
    assert result.metadata["expectations_evaluated"].value == outcome.evaluated
    assert result.metadata["expectations_failed"].value == 0
    assert "failed_expectations" not in result.metadata


def test_failing_outcome_maps_to_error_with_named_failures() -> None:
    outcome = validate_frame(
        "raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0))
    )
    result = outcome_to_check_result(outcome)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    table = result.metadata["failed_expectations"].value
    assert "expect_column_values_to_be_between" in table and "unit_price" in table and "-5.0" in table
    assert "OL-9" in table
    failures = result.metadata["failures"].value
    assert failures[0]["expectation_type"] == "expect_column_values_to_be_between"
    assert failures[0]["columns"] == ["unit_price"]
    assert failures[0]["unexpected_count"] == 1
    assert "unit_price" in (result.description or "")
    json.dumps(failures)  # plain JSON, no numpy or Timestamp left


def test_only_warning_failures_give_a_non_blocking_warn() -> None:
    rows = with_row("traffic", traffic_date="2025-06-03", sessions=10, page_views=5, add_to_cart=1, ordered_sessions=1)
    outcome = validate_frame("raw_traffic", raw_frame("traffic", rows))
    assert not outcome.success
    assert [f.severity for f in outcome.failures] == ["warning"]
    result = outcome_to_check_result(outcome)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN


def test_raw_check_spec() -> None:
    spec = raw_check_spec("orders")
    assert spec.name == "gx_raw_orders"
    assert spec.asset_key == dg.AssetKey(["raw", "orders"])
    assert spec.blocking
    assert spec.description
    with pytest.raises(ValueError, match="no raw table"):
        raw_check_spec("nope")


def test_definitions_hold_one_blocking_check_per_mart_and_a_load_check_per_raw_table() -> None:
    specs = [s for c in quality.defs.asset_checks for s in c.check_specs]
    marts = {(dg.AssetKey(["marts", m]), f"gx_mart_{m}") for m in MART_TABLES}
    loads = {(dg.AssetKey(["raw", t]), f"gx_load_{t}") for t in RAW_TABLES}
    assert {(s.asset_key, s.name) for s in specs} == marts | loads
    assert all(s.blocking for s in specs)


def test_importing_the_domain_does_not_import_gx() -> None:
    code = "import sys, orchestration.defs.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "False"


def run_python_file(script: Path, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``code`` run as the file ``script`` in a fresh interpreter from the project root.

    A file, not ``python -c``: with pyspark installed (the Spark test), GX imports pyspark's
    connect module, which takes a ``-c`` main module for a doctest run and exits 0 on the spot.
    """
    script.write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)


def test_validating_does_not_run_scipy_stats_until_an_expectation_uses_it(tmp_path: Path) -> None:
    # GX imports scipy.stats (~0.8 s) for the KL-divergence and KS-test expectations only; the
    # nightly's first ingest step waited for it. Deferred, the suites validate as before (every GX
    # test here loads the context this way), and code that uses scipy.stats (GX's module reference
    # included) gets the real module.
    code = f"""
import sys
from pathlib import Path
from orchestration.defs.quality.validation import DEFERRED_GX_IMPORT, load_context
assert DEFERRED_GX_IMPORT == "scipy.stats"
load_context(Path({str(tmp_path / "v")!r}), Path({str(tmp_path / "docs")!r}))
import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl
print("loaded", "scipy.stats._stats_py" in sys.modules)
print("entropy", kl.stats.entropy([0.5, 0.5], [0.5, 0.5]))
import scipy.stats
print("same", scipy.stats is kl.stats, "loaded", "scipy.stats._stats_py" in sys.modules)
print("kstest", round(scipy.stats.kstest([0.1, 0.5, 0.9], "uniform").statistic, 3))
"""
    out = run_python_file(tmp_path / "deferred.py", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == ["loaded False", "entropy 0.0", "same True loaded True", "kstest 0.233"], (
        out.stdout + out.stderr
    )


def test_defer_module_leaves_imported_and_missing_modules_alone() -> None:
    before = sys.modules["json"]
    defer_module("json")
    assert sys.modules["json"] is before
    defer_module("tradewinds_no_such_module")
    assert "tradewinds_no_such_module" not in sys.modules


def test_validation_writes_nothing_into_the_repository() -> None:
    before = sorted(p for p in EXPECTATIONS_DIR.rglob("*") if p.is_file())
    validate_frame("raw_fx_rates", raw_frame("fx_rates"))
    assert sorted(p for p in EXPECTATIONS_DIR.rglob("*") if p.is_file()) == before


def test_jsonable() -> None:
    import numpy as np

    assert jsonable(
        {"a": np.int64(3), "b": np.float64("nan"), "c": pd.Timestamp(T), "d": pd.NaT, "e": np.bool_(True)}
    ) == {
        "a": 3,
        "b": None,
        "c": "2025-06-02T10:00:00",
        "d": None,
        "e": True,
    }


# ---------------------------------------------------------------- blocking semantics in a run


def _materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


@pytest.mark.parametrize("blocking", [True, False])
def test_standalone_blocking_check_stops_downstream(blocking: bool) -> None:
    @dg.asset
    def a() -> int:
        return 1

    @dg.asset
    def b(a: int) -> int:
        return a + 1

    @dg.asset(deps=[a])
    def c() -> None:
        return None

    @dg.asset_check(asset=a, blocking=blocking)
    def a_is_good() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR)

    result = dg.materialize([a, b, c, a_is_good], raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    if blocking:
        assert not result.success
        assert _materialized(result) == {dg.AssetKey("a")}
    else:
        assert _materialized(result) == {dg.AssetKey("a"), dg.AssetKey("b"), dg.AssetKey("c")}


def test_warn_severity_does_not_block() -> None:
    @dg.asset
    def a() -> None:
        return None

    @dg.asset(deps=[a])
    def b() -> None:
        return None

    @dg.asset_check(asset=a, blocking=True)
    def a_is_good() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    result = dg.materialize([a, b, a_is_good], raise_on_error=False)
    assert result.success
    assert _materialized(result) == {dg.AssetKey("a"), dg.AssetKey("b")}


def test_inline_blocking_check_spec_stops_downstream() -> None:
    spec = dg.AssetCheckSpec(name="gx", asset="a", blocking=True)

    @dg.asset(check_specs=[spec])
    def a():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="gx", passed=False)

    @dg.asset(deps=[a])
    def b() -> None:
        return None

    result = dg.materialize([a, b], raise_on_error=False)
    assert not result.success
    # The asset's own materialization is recorded (its rows are already written); only
    # what is downstream of it is held back.
    assert _materialized(result) == {dg.AssetKey("a")}
    assert [e.passed for e in result.get_asset_check_evaluations()] == [False]


def test_standalone_check_on_a_multi_asset_blocks_other_steps_only() -> None:
    """A stand-in for @dbt_assets: one step producing two marts, a blocking check on one."""

    @dg.multi_asset(specs=[dg.AssetSpec(["marts", "m1"]), dg.AssetSpec(["marts", "m2"])])
    def dbt_like():
        yield dg.MaterializeResult(asset_key=["marts", "m1"])
        yield dg.MaterializeResult(asset_key=["marts", "m2"])

    @dg.asset_check(asset=dg.AssetKey(["marts", "m1"]), blocking=True)
    def m1_is_good() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False)

    @dg.asset(key=["forecast", "f"], deps=[dg.AssetKey(["marts", "m1"])])
    def forecast() -> None:
        return None

    @dg.asset(key=["alerts", "x"], deps=[dg.AssetKey(["marts", "m2"])])
    def alert() -> None:
        return None

    result = dg.materialize([dbt_like, m1_is_good, forecast, alert], raise_on_error=False)
    assert not result.success
    assert _materialized(result) == {
        dg.AssetKey(["marts", "m1"]),
        dg.AssetKey(["marts", "m2"]),
        dg.AssetKey(["alerts", "x"]),  # reads only m2, whose checks did not fail
    }


def test_mart_check_reads_the_warehouse_and_blocks(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    bad = [{**GOOD_MART_ROWS["risk_lane_weekly"][0], "rate_usd": -1.0}]

    @dg.asset(key=["marts", "risk_lane_weekly"])
    def risk_mart(warehouse: WarehouseResource) -> None:
        df = mart_frame("risk_lane_weekly", bad)
        with warehouse.connect() as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
            conn.register("df", df)
            conn.execute("CREATE OR REPLACE TABLE marts.risk_lane_weekly AS SELECT * FROM df")

    @dg.asset(key=["alerts", "freight_spike_alerts"], deps=[risk_mart])
    def spike_alerts() -> None:
        return None

    result = dg.materialize(
        [risk_mart, spike_alerts, build_mart_check("risk_lane_weekly")],
        resources={"warehouse": WarehouseResource(path=str(path))},
        raise_on_error=False,
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "gx_mart_risk_lane_weekly"
    assert not evaluation.passed
    assert "rate_usd" in evaluation.metadata["failed_expectations"].value
    assert _materialized(result) == {dg.AssetKey(["marts", "risk_lane_weekly"])}


def demand_rows(last_day: str) -> list[dict[str, Any]]:
    """Good ``demand_sku_market_daily`` rows: two SKUs in DE, one row a day from 2025-06-01 to ``last_day``."""
    return [
        dict(sku=sku, destination_country="DE", order_date=d.date().isoformat(), orders=1, units=1,
             revenue_usd=10.0, net_revenue_usd=9.0, avg_unit_price_usd=10.0)
        for d in pd.date_range("2025-06-01", last_day, freq="D") for sku in ("SKU-1", "SKU-2")
    ]  # fmt: skip


def write_demand_mart(warehouse: WarehouseResource, rows: list[dict[str, Any]]) -> None:
    df = mart_frame("demand_sku_market_daily", rows)
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.register("df", df)
        conn.execute("CREATE OR REPLACE TABLE marts.demand_sku_market_daily AS SELECT * FROM df")


def test_mart_check_compares_with_the_previous_night_and_judges_freshness(tmp_path: Path) -> None:
    """The real ``gx_mart_demand_sku_market_daily`` over three nights in one instance: a full mart, a mart that
    lost most of its rows and stops two days before the run's day, the full mart again."""
    path = tmp_path / "warehouse.duckdb"
    last_day = {"value": "2025-06-30"}

    @dg.asset(key=["marts", "demand_sku_market_daily"])
    def demand(warehouse: WarehouseResource) -> None:
        write_demand_mart(warehouse, demand_rows(last_day["value"]))

    check = build_mart_check("demand_sku_market_daily")
    with dg.DagsterInstance.ephemeral() as instance:

        def night(day: str) -> dg.AssetCheckEvaluation:
            result = dg.materialize(
                [demand, check],
                resources={"warehouse": WarehouseResource(path=str(path))},
                instance=instance,
                raise_on_error=False,
                tags={"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
            )
            [evaluation] = result.get_asset_check_evaluations()
            return evaluation

        first = night("2025-06-30")
        assert first.passed, first.description
        assert first.metadata["baseline"].value.startswith("none") and first.metadata["rows_validated"].value == 60

        last_day["value"] = "2025-06-05"  # a broken filter: 10 rows, the latest day five weeks old
        broken = night("2025-07-01")
        assert not broken.passed and broken.severity == dg.AssetCheckSeverity.ERROR
        failed = {(f["expectation_type"], tuple(f["columns"])) for f in broken.metadata["failures"].value}
        assert failed == {
            ("expect_table_row_count_to_be_between", ()),
            ("expect_column_max_to_be_between", ("order_date",)),
        }
        assert broken.metadata["baseline_rows"].value == 60
        assert (broken.metadata["rows_min"].value, broken.metadata["rows_max"].value) == (30, 90)
        assert broken.metadata["fresh_since_0d"].value == "2025-07-01"
        assert broken.metadata["band_low_ok"].value is False

        last_day["value"] = "2025-07-02"  # fixed: the broken night is not the baseline, the first one is
        fixed = night("2025-07-02")
        assert fixed.passed, fixed.description
        assert fixed.metadata["baseline_rows"].value == 60
        assert fixed.metadata["baseline"].value == "latest earlier evaluation whose lower band held"


def _nights_of_a_mart(sizes: list[int], band: float = 0.5) -> list[tuple[bool, int | None]]:
    """Judge a mart's row count night after night as its check does: (lower band held, baseline rows)."""
    history: list[tuple[int, bool]] = []  # newest first, as the instance returns them
    out = []
    for rows in sizes:
        baseline = mart_baseline(history[:MART_BASELINE_NIGHTS])
        held = baseline is None or rows >= row_band(baseline.rows, band)[0]
        out.append((held, baseline.rows if baseline else None))
        history.insert(0, (rows, held))
    return out


def test_mart_baseline_forgives_a_broken_night_and_accepts_a_lasting_drop() -> None:
    """A mart that loses most of its rows for one night is judged the next night against its size
    before; one that shrinks for good (a market dropped) blocks four nights, then its new size is
    the baseline, instead of blocking every night after (the baseline used to be the latest night
    whose lower band held, which a lasting drop never is again)."""
    assert mart_baseline([]) is None
    assert mart_baseline([(10, False)]) is None  # nothing held yet: no band

    broken_once = _nights_of_a_mart([1000] * 8 + [100] + [1000] * 3)
    assert [held for held, _ in broken_once] == [True] * 8 + [False] + [True] * 3
    assert broken_once[9] == (True, 1000)  # the night after the broken one: the size before it

    drop = _nights_of_a_mart([1000] * 8 + [400] * 8)
    assert [held for held, _ in drop] == [True] * 8 + [False] * 4 + [True] * 4
    assert [baseline for _, baseline in drop[8:]] == [1000] * 4 + [400] * 4
    assert "4 of them under their band" in mart_baseline([(400, False)] * 4 + [(1000, True)] * 3).source

    # A young mart: two broken nights in its first three are not a lasting drop.
    young = _nights_of_a_mart([1000, 100, 100, 100, 1000])
    assert [held for held, _ in young] == [True, False, False, False, True]
    assert young[4] == (True, 1000)


def test_incremental_marts_are_the_ones_dbt_builds_incrementally() -> None:
    """The gates check only the run's days of exactly the marts whose rows outside the window dbt keeps."""
    import re

    from orchestration.defs.quality.suites import MARTS_DIR

    incremental = {}
    for path in MARTS_DIR.glob("*/*.sql"):
        sql = path.read_text(encoding="utf-8")
        if found := re.search(r"incremental_by_day\('(\w+)'", sql):
            incremental[path.stem] = found.group(1)
        else:
            assert "'incremental'" not in sql, f"{path.stem}: incremental without incremental_by_day"
    assert incremental == INCREMENTAL_MART_DAYS
    assert mart_row_filter("traffic_sku_market_daily", ("2025-06-30", "2025-07-01")) == (
        "\"traffic_date\" BETWEEN DATE '2025-06-30' AND DATE '2025-07-01'"
    )
    assert mart_row_filter("traffic_sku_market_daily", None) is None
    assert mart_row_filter("risk_sku", ("2025-06-30", "2025-06-30")) is None  # rebuilt whole: checked whole
    with pytest.raises(ValueError):
        mart_row_filter("demand_sku_market_daily", ("2025-06-30'; DROP TABLE x; --", "2025-06-30"))


def test_incremental_mart_check_reads_the_runs_days_row_by_row_and_for_keys_with_the_day(tmp_path: Path) -> None:
    """``gx_mart_demand_sku_market_daily`` on a one-day run: a bad value or a duplicate key on an
    earlier day (rows the night did not rewrite; its key holds the day, so a duplicate can only
    sit within one day) is not read again, one on the run's day blocks; a run without a
    partition day reads every row."""
    path = tmp_path / "warehouse.duckdb"
    case: dict[str, Any] = {"bad_day": None, "duplicate": None}

    @dg.asset(key=["marts", "demand_sku_market_daily"])
    def demand(warehouse: WarehouseResource) -> None:
        rows = demand_rows("2025-06-30")
        for row in rows:
            if row["order_date"] == case["bad_day"] and row["sku"] == "SKU-1":
                row["units"] = -3
        if case["duplicate"]:
            rows.append(dict(next(r for r in rows if r["order_date"] == case["duplicate"])))
        write_demand_mart(warehouse, rows)

    check = build_mart_check("demand_sku_market_daily")
    day_tags = {"dagster/asset_partition_range_start": "2025-06-30", "dagster/asset_partition_range_end": "2025-06-30"}

    def night(
        tags: dict[str, str], bad_day: str | None = None, duplicate: str | None = None
    ) -> dg.AssetCheckEvaluation:
        case.update(bad_day=bad_day, duplicate=duplicate)
        result = dg.materialize(
            [demand, check],
            resources={"warehouse": WarehouseResource(path=str(path))},
            raise_on_error=False,
            tags=tags,
        )
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    old_bad = night(day_tags, bad_day="2025-06-10")
    assert old_bad.passed, old_bad.description
    assert old_bad.metadata["rows_validated"].value == 60  # the whole table, for the row-count band
    assert "2025-06-30" in old_bad.metadata["rows_checked_row_by_row"].value
    todays_bad = night(day_tags, bad_day="2025-06-30")
    assert not todays_bad.passed and "units" in todays_bad.metadata["failed_expectations"].value
    old_duplicate = night(day_tags, duplicate="2025-06-01")  # judged on the night that wrote that day
    assert old_duplicate.passed, old_duplicate.description
    duplicate = night(day_tags, duplicate="2025-06-30")
    assert not duplicate.passed
    [dup] = duplicate.metadata["failures"].value
    assert dup["expectation_type"] == "expect_compound_columns_to_be_unique" and dup["unexpected_count"] == 2
    whole = night({}, bad_day="2025-06-10")  # no partition day: every row is read
    assert not whole.passed and whole.metadata["rows_checked_row_by_row"].value == "all"
    whole_keys = night({}, duplicate="2025-06-01")
    assert not whole_keys.passed


def test_mart_check_on_a_missing_table_fails_with_a_message(tmp_path: Path) -> None:
    warehouse = WarehouseResource(path=str(tmp_path / "empty.duckdb"))
    duckdb.connect(warehouse.path).close()
    check = build_mart_check("selection_sku_market")
    result = dg.materialize(
        [dg.AssetSpec(["marts", "selection_sku_market"]), check],
        resources={"warehouse": warehouse},
        selection=dg.AssetSelection.checks(check),
        raise_on_error=False,
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "marts.selection_sku_market cannot be read" in (evaluation.description or "")


# ---------------------------------------------------------------- Data Docs


def test_build_data_docs(tmp_path: Path) -> None:
    validate_frame("raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0)))
    index = build_data_docs(tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "raw_orders" in html
    pages = list((tmp_path / "site" / "validations").rglob("*.html"))
    assert pages, "no validation result pages rendered"


def test_data_docs_render_each_result_once_and_drop_pruned_ones(tmp_path: Path) -> None:
    site = tmp_path / "site"

    def pages() -> set[Path]:
        return set((site / "validations").rglob("*.html"))

    validate_frame("raw_orders", raw_frame("orders"))
    build_data_docs(site)
    before = pages()
    first = max(before, key=lambda p: p.parent.name)  # the newest result (run-time folders sort by time)
    first.write_text("rendered on an earlier night", encoding="utf-8")

    validate_frame("raw_orders", raw_frame("orders", with_row("orders", order_line_id="OL-9", unit_price=-5.0)))
    build_data_docs(site)
    [second] = pages() - before  # only the new result was rendered ...
    assert first.read_text(encoding="utf-8") == "rendered on an earlier night"  # ... not the earlier ones again
    assert "unit_price" in second.read_text(encoding="utf-8")

    validations, _ = gx_dirs()
    [old_result] = [
        p for p in validations.rglob("*.json") if p.stem == first.stem and p.parent.name == first.parent.name
    ]
    stale = time.time() - 40 * 86_400
    os.utime(old_result, (stale, stale))
    build_data_docs(site)
    assert not first.exists() and not first.parent.exists()  # pruned with its result
    assert pages() == (before - {first}) | {second}


def test_data_docs_render_a_suite_page_again_only_when_its_suite_file_is_newer(tmp_path: Path) -> None:
    site = tmp_path / "site"
    validate_frame("raw_orders", raw_frame("orders"))
    index = build_data_docs(site)
    suites = sorted(p.stem for p in (CONTEXT_ROOT / "expectations").glob("*.json"))
    assert sorted(p.stem for p in (site / "expectations").glob("*.html")) == suites  # every suite, first time
    kept, stale = site / "expectations" / "raw_orders.html", site / "expectations" / "raw_catalog.html"
    for page in (kept, stale):
        page.write_text("rendered on an earlier night", encoding="utf-8")
    os.utime(stale, (0, 0))  # older than its suite file: rendered again
    build_data_docs(site)
    assert kept.read_text(encoding="utf-8") == "rendered on an earlier night"
    assert "raw_catalog" in stale.read_text(encoding="utf-8")
    html = index.read_text(encoding="utf-8")
    assert all(name in html for name in suites)  # the index still lists every suite


def test_old_validation_results_are_pruned(tmp_path: Path) -> None:
    root = tmp_path / "validations"
    old = root / "raw_orders" / "__none__" / "20240101T000000Z" / "r.json"
    new = root / "raw_orders" / "__none__" / "20250101T000000Z" / "r.json"
    for path in (old, new):
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    stale = time.time() - 40 * 86_400
    os.utime(old, (stale, stale))
    assert prune_validation_results(root, keep_days=30) == 1
    assert new.exists() and not old.exists() and not old.parent.exists()


# ---------------------------------------------------------------- against the real dbt marts


@pytest.mark.slow
def test_raw_tables_and_dbt_built_marts_pass(tmp_path: Path) -> None:
    """The dbt project's hand-made warehouse: its raw rows and the marts dbt builds pass."""
    dbt_tests = pytest.importorskip("tests.test_dbt_project")
    warehouse = tmp_path / "warehouse.duckdb"
    dbt_tests.build_raw_warehouse(warehouse, dbt_tests.raw_rows())
    built = dbt_tests.run_dbt(["build"], warehouse, tmp_path)
    assert built.returncode == 0, built.stdout[-4000:]
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        frames = {f"raw_{t}": conn.sql(f'SELECT * FROM raw."{t}"').df() for t in RAW_TABLES}
        frames |= {f"mart_{m}": conn.sql(f'SELECT * FROM marts."{m}"').df() for m in MART_TABLES}
    finally:
        conn.close()
    for suite, df in frames.items():
        outcome = validate(suite, df, store_result=False)
        assert outcome.success, outcome.summary()
    assert all(len(frames[f"mart_{m}"]) for m in HAND_WRITTEN_MARTS)


def test_gx_makes_no_network_connection(tmp_path: Path) -> None:
    """Importing GX, loading the context and validating open no socket (no analytics, no version check)."""
    code = """
import socket, datetime as dt
attempts = []
def refuse(self, address, *args, **kwargs):
    attempts.append(address)
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
import pandas as pd
from orchestration.defs.quality import validate_frame
df = pd.DataFrame({"rate_date": [pd.Timestamp("2025-06-02")], "currency": ["EUR"], "units_per_usd": [0.9]})
assert validate_frame("raw_fx_rates", df).success
print("attempts", attempts)
"""
    env = {**os.environ, "TRADEWINDS_DATA_DIR": str(tmp_path)}
    env.pop("GX_ANALYTICS_ENABLED", None)
    out = run_python_file(tmp_path / "gx_offline.py", code, env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "attempts []" in out.stdout


@pytest.mark.slow
def test_failing_mart_gate_on_dbt_assets_stops_the_forecast(sample_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real nightly job (ingest, @dbt_assets, gates, forecast, alerts) on the small sample,
    with the demand mart's suite made to fail: the forecast reading that mart does not run,
    the freight alert reading another mart of the same dbt step still does."""
    from orchestration.definitions import build_definitions
    from orchestration.defs.jobs import NIGHTLY_JOB
    from orchestration.defs.quality import checks
    from orchestration.defs.quality.validation import FailedExpectation
    from tests.conftest import SAMPLE_END

    real = checks.validate_mart

    def failing_demand(warehouse: WarehouseResource, mart: str, parameters=None, row_filter=None):
        outcome = real(warehouse, mart, parameters, row_filter)
        if mart != "demand_sku_market_daily" or isinstance(outcome, str):
            return outcome
        bad = FailedExpectation("expect_column_values_to_be_between", ("units",), "critical", 1, 0.1, [-1])
        return SuiteOutcome(
            outcome.suite_name, False, outcome.evaluated, outcome.evaluated - 1, outcome.rows, (bad,), 0.0,
            outcome.validated_at,
        )  # fmt: skip

    monkeypatch.setattr(checks, "validate_mart", failing_demand)
    settings = get_settings()
    start = min(settings.sample.freight_start, settings.sample.resolved_start_date())
    result = (
        build_definitions()
        .resolve_job_def(NIGHTLY_JOB)
        .execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": SAMPLE_END.isoformat(),
            },
        )
    )
    demand = dg.AssetKey(["marts", "demand_sku_market_daily"])
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key, e.check_name) for e in failed if e.check_name != "upstream_gates"] == [
        (demand, "gx_mart_demand_sku_market_daily")
    ]
    # The demand mart's upstream_gates repeats its suite's verdict when it runs after it (same run, any order).
    for repeat in (e for e in failed if e.check_name == "upstream_gates"):
        assert repeat.asset_key == demand and "gx_mart_demand_sku_market_daily" in (repeat.description or "")
    materialized = _materialized(result)
    assert {dg.AssetKey(["marts", m]) for m in MART_TABLES} <= materialized  # one dbt step built them all
    assert dg.AssetKey(["forecast", "demand_forecast"]) not in materialized
    assert dg.AssetKey(["alerts", "freight_spike_alerts"]) in materialized
    assert not result.success


def test_mart_models_read_with_libyaml_are_those_of_the_pure_python_loader() -> None:
    """``suites.mart_models`` parses the marts' YAML with libyaml's safe loader: the same documents."""
    import yaml

    from orchestration.defs.quality.suites import MARTS_DIR, mart_models

    expected: dict = {}
    for path in sorted(MARTS_DIR.glob("*/*.yml")):
        for model in (yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) or {}).get("models") or []:
            expected[model["name"]] = model
    assert mart_models() == dict(sorted(expected.items())) and len(expected) >= 12
