"""Mart tests the nightly dbt build leaves to the marts' GX gates (``orchestration/defs/quality/repeats.py``).

A mart test is left out only when a blocking expectation of the mart's own suite checks the same
rule at least as strictly; the hand-made manifest below holds one case of each kind, and the
real project's exclusions are checked against the committed suites and the gate checks the
Dagster definitions carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.defs.quality.repeats import MART_SUITE_PREFIX, load_suites, mart_tests_repeated_by_gates
from orchestration.defs.quality.suites import CONTEXT_DIRNAME, EXPECTATIONS_DIR

MART = "model.tradewinds.sales_daily"
SEED = "seed.tradewinds.markets"


def _test(
    name: str, kind: str, attached: str = MART, depends: list[str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    return {
        "resource_type": "test",
        "name": name,
        "attached_node": attached,
        "column_name": kwargs.get("column_name"),
        "depends_on": {"nodes": depends or [attached]},
        "test_metadata": {"name": kind, "kwargs": kwargs},
    }


def _to_markets(name: str, column: str, field: str) -> dict[str, Any]:
    """A relationships test of the mart's ``column`` to the markets seed's ``field``."""
    return _test(name, "relationships", depends=[SEED, MART], column_name=column, to="ref('markets')", field=field)


def _model(name: str, path: str) -> dict[str, Any]:
    return {"resource_type": "model", "name": name, "package_name": "tradewinds", "original_file_path": path}


def _expectation(kind: str, severity: str = "critical", **kwargs: Any) -> dict[str, Any]:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "severity": severity}


def test_a_mart_test_is_left_out_only_when_a_blocking_expectation_of_its_gate_repeats_it(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "markets.csv").write_text("country,name\nDE,Germany\nFR,France\nUS,United States\n")
    nodes: dict[str, Any] = {
        MART: _model("sales_daily", "models/marts/sales/sales_daily.sql"),
        "model.tradewinds.int_sales": _model("int_sales", "models/intermediate/int_sales.sql"),
        "model.tradewinds.stock_daily": _model("stock_daily", "models/marts/sales/stock_daily.sql"),
        "model.tradewinds.catalog": _model("catalog", "models/marts/catalog.sql"),
        SEED: {"resource_type": "seed", "name": "markets", "original_file_path": "seeds/markets.csv"},
    }
    tests = [
        # repeated: a range at least as tight, a value set within the test's, the key, a seed's codes
        _test("units_min0", "accepted_range", column_name="units", min_value=0),
        _test("price_0_100", "accepted_range", column_name="price", min_value=0, max_value=100),
        _test("tier_abc", "accepted_values", column_name="tier", values=["a", "b", "c"]),
        _test("key", "unique_combination_of_columns", combination_of_columns=["sku", "country", "day"]),
        _to_markets("country_market", "country", field="country"),
        # kept: the gate is looser, only warns, is conditional or partial, or cannot see the rule
        _test("units_min1", "accepted_range", column_name="units", min_value=1),
        _test("price_open_0", "accepted_range", column_name="price", min_value=0, inclusive=False),
        _test("margin_min0", "accepted_range", column_name="margin", min_value=0),
        _test("channel_ab", "accepted_values", column_name="channel", values=["a", "b"]),
        _test("region_x", "accepted_values", column_name="region", values=["x"]),
        _test("day_unique", "unique", column_name="day"),
        _to_markets("origin_market", "origin", field="name"),
        _test(
            "sku_catalog",
            "relationships",
            depends=["model.tradewinds.catalog", MART],
            column_name="sku",
            to="ref('catalog')",
            field="sku",
        ),
        _test("units_expr", "expression_is_true", expression="units >= 0"),
        # kept: not a mart, or a mart without a suite
        _test("int_units_min0", "accepted_range", "model.tradewinds.int_sales", column_name="units", min_value=0),
        _test("stock_min0", "accepted_range", "model.tradewinds.stock_daily", column_name="units", min_value=0),
    ]
    nodes |= {f"test.tradewinds.{t['name']}": t for t in tests}
    suites = {
        "sales_daily": [
            _expectation("column_values_to_be_between", column="units", min_value=0, max_value=1_000_000),
            _expectation("column_values_to_be_between", column="price", min_value=0, max_value=50, strict_min=False),
            _expectation("column_values_to_be_between", "warning", column="margin", min_value=0),
            _expectation("column_values_to_be_in_set", column="tier", value_set=["a", "b"]),
            _expectation("column_values_to_be_in_set", column="channel", value_set=["a", "b"], mostly=0.9),
            _expectation("column_values_to_be_in_set", column="region", value_set=["x"], row_condition='channel=="a"'),
            _expectation("compound_columns_to_be_unique", column_list=["sku", "country", "day"]),
            _expectation("column_values_to_be_in_set", column="country", value_set=["DE", "US"]),
            _expectation("column_values_to_be_in_set", column="origin", value_set=["DE"]),
            _expectation("column_values_to_not_be_null", column="sku"),
        ],
        "int_sales": [_expectation("column_values_to_be_between", column="units", min_value=0)],
    }

    left = mart_tests_repeated_by_gates({"nodes": nodes}, suites, tmp_path)

    assert sorted(t["name"] for t in left.values()) == [
        "country_market",
        "key",
        "price_0_100",
        "tier_abc",
        "units_min0",
    ]


def test_the_nightly_build_leaves_out_exactly_the_repeated_mart_tests_each_behind_a_blocking_gate() -> None:
    from orchestration.definitions import build_definitions
    from orchestration.defs.transform import dbt_project, tests_left_to_gates

    manifest = json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))
    suites = load_suites(EXPECTATIONS_DIR / CONTEXT_DIRNAME / "expectations", MART_SUITE_PREFIX)
    repeated = mart_tests_repeated_by_gates(manifest, suites, dbt_project().project_dir)
    left = tests_left_to_gates(manifest)
    assert left == sorted(t["name"] for t in repeated.values())
    kinds = {t["test_metadata"]["name"] for t in repeated.values()}
    assert {"accepted_range", "accepted_values", "unique_combination_of_columns", "relationships"} <= kinds

    defs = build_definitions()
    dbt_specs = [s for a in defs.assets if isinstance(a, dg.AssetsDefinition) for s in a.check_specs]
    names = {s.name for s in dbt_specs}
    assert not names & set(left), "a left-out test is still a check of the dbt asset"
    # What the gates do not repeat still runs in dbt (expressions, relationships to models).
    assert any(n.startswith("expression_is_true_") for n in names)
    assert "relationships_traffic_sku_market_daily_sku__sku__ref_stg_platform__catalog_" in names
    gates = [s for c in defs.asset_checks or [] for s in c.check_specs]
    blocking_gates = {(s.asset_key, s.name) for s in gates if s.blocking}
    for test in repeated.values():
        mart = manifest["nodes"][test["attached_node"]]["name"]
        assert (dg.AssetKey(["marts", mart]), f"gx_mart_{mart}") in blocking_gates, mart


def test_a_mart_test_configured_to_warn_gives_a_warning_expectation_and_keeps_running_in_dbt(tmp_path: Path) -> None:
    """From the yml to the exclusion: ``severity: warn`` derives a warning expectation, which
    does not block, so the test stays in the build; the same range configured as an error is
    left to the gate."""
    from orchestration.defs.quality.suites import contract_mart_suite, suite_json

    contract = {
        "name": "stock",
        "columns": [
            {"name": "sku", "data_type": "varchar", "constraints": [{"type": "not_null"}]},
            {
                "name": "units",
                "data_type": "bigint",
                "data_tests": [{"accepted_range": {"arguments": {"min_value": 0}}}],
            },
            {
                "name": "cover_days",
                "data_type": "double",
                "data_tests": [{"accepted_range": {"arguments": {"min_value": 0}, "config": {"severity": "warn"}}}],
            },
        ],
    }
    suite = suite_json(contract_mart_suite("stock", contract))["expectations"]
    ranges = {e["kwargs"]["column"]: e["severity"] for e in suite if e["type"] == "expect_column_values_to_be_between"}
    assert ranges == {"units": "critical", "cover_days": "warning"}

    mart = "model.tradewinds.stock"
    nodes = {
        mart: _model("stock", "models/marts/stock.sql"),
        "test.tradewinds.units_min0": _test("units_min0", "accepted_range", mart, column_name="units", min_value=0),
        "test.tradewinds.cover_min0": _test(
            "cover_min0", "accepted_range", mart, column_name="cover_days", min_value=0
        ),
    }
    left = mart_tests_repeated_by_gates({"nodes": nodes}, {"stock": suite}, tmp_path)
    assert [t["name"] for t in left.values()] == ["units_min0"]
