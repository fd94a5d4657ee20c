"""The Great Expectations suites of Tradewinds, as code, and the writer of the GX file context.

Raw suites are derived from the raw-table contract (``orchestration/lib/schemas.py``):
schema, types, primary key, required columns and code lists follow from it, and a short
list of hand-written rules per table adds the domain bounds (prices positive and plausible,
rates per mode, percentages 0..100, timestamps in order). Load suites (``load_<table>``)
judge a load as a whole on its *load profile* (rows per partition day): row count within a
band of the median of the previous loads and freshness of the latest partition. Mart suites are
hand-written for the columns the marts document.

The suites are committed as JSON under ``expectations/gx/`` so that GX, Data Docs and code
review all see the same thing. After changing a rule here or the contract, rewrite them::

    python -m orchestration.defs.quality

``tests/test_quality.py`` fails when the committed files differ from what this module
writes. Ids are derived from names (uuid5) so that a rewrite only changes what changed.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestration.defs.quality.reference import (
    CATEGORIES,
    CHANNELS,
    EMISSION_ACTIVITY_UNITS,
    EMISSION_CATEGORIES,
    HANDLED_BY,
    HIGH_DENOMINATION_CURRENCIES,
    ISO_COUNTRIES,
    POLICY_COUNTRIES,
    RATE_UNIT_BY_MODE,
    REGULATORY_KINDS,
    RISK_TIERS,
    VOLTAGES,
    currencies,
    market_countries,
    marketplaces,
)
from orchestration.lib.schemas import COMPLAINT_TOPICS, MODES, RAW_TABLES, RETURN_REASONS, RawTable
from orchestration.lib.settings import PROJECT_ROOT

GX_VERSION = "1.24.1"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
CONTEXT_DIRNAME = "gx"
DATASOURCE_NAME = "tradewinds_frames"
BATCH_DEFINITION_NAME = "whole_dataframe"
#: Suite parameter holding the validation time (naive UTC); passed by ``validate_frame``.
NOW_PARAMETER = "now_utc"
#: Suite parameters of the load suites, computed per load by ``checks.load_parameters``:
#: the row-count band around the median of the previous loads and, per allowed lag, the oldest acceptable
#: latest partition (``fresh_since_<n>d`` = the run's last partition day minus n days).
ROWS_MIN_PARAMETER = "rows_min"
ROWS_MAX_PARAMETER = "rows_max"
FRESH_SINCE_PREFIX = "fresh_since_"
#: Columns of a load profile: one row per partition day of the table (one row in all for a
#: snapshot table, ``day`` NULL), its rows and how many of them the latest load wrote.
LOAD_PROFILE_COLUMNS: dict[str, str] = {"day": "DATE", "rows": "BIGINT", "rows_in_load": "BIGINT"}
#: Config variables of the file context: where results and Data Docs go (never committed).
VALIDATIONS_DIR_VARIABLE = "tradewinds_gx_validations_dir"
DATA_DOCS_DIR_VARIABLE = "tradewinds_gx_data_docs_dir"

#: Marts whose suites are hand-written below (documented columns, cross-column rules).
HAND_WRITTEN_MARTS: tuple[str, ...] = (
    "demand_sku_market_daily",
    "risk_lane_weekly",
    "selection_sku_market",
    "service_market_daily",
)
#: The dbt marts (``dbt_project/models/marts/<area>/<mart>.yml``): every other mart gets a suite
#: derived from its contract (``contract_mart_suite``).
MARTS_DIR = PROJECT_ROOT / "dbt_project" / "models" / "marts"


def mart_models() -> dict[str, dict[str, Any]]:
    """Every mart documented under ``MARTS_DIR``: name -> its model entry of the YAML file.

    Read with libyaml's safe loader where PyYAML has it (the same documents, ~10x faster: this
    runs when the definitions are imported, and the pure-Python loader took ~0.45 s of every
    process start for the 12 files)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    models: dict[str, dict[str, Any]] = {}
    for path in sorted(MARTS_DIR.glob("*/*.yml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506 (a safe loader)
        for model in doc.get("models") or []:
            models[model["name"]] = model
    return dict(sorted(models.items()))


#: Every mart forecasts, alerts and BI read, each gated by a suite ``mart_<name>``.
MART_TABLES: tuple[str, ...] = tuple(sorted(set(HAND_WRITTEN_MARTS) | set(mart_models())))

_ID_NAMESPACE = uuid.UUID("6f1f8f1e-3c55-4a43-9d0e-7d1b7a1e0c11")

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class Expectation:
    """One GX expectation: its snake_case type, kwargs, why it exists and its severity.

    ``critical`` failures fail the gate (and block downstream); ``warning`` failures alone
    report a failed check with WARN severity, which does not block.
    """

    type: str
    kwargs: dict[str, Any]
    notes: str = ""
    severity: Severity = "critical"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    expectations: list[Expectation]
    # Columns that identify a row: failing rows are reported by these values.
    key_columns: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- expectation builders


Condition = dict[str, Any]


def where(column: str, operator: Literal["==", "!=", "IN", "NOT_IN"], parameter: Any) -> Condition:
    """A GX 1.x row condition (``Column(column) <operator> parameter``) as stored in JSON."""
    return {"column": {"name": column}, "operator": operator, "parameter": parameter, "type": "comparison"}


def _when(row_condition: Condition | None) -> dict[str, Any]:
    return {"row_condition": row_condition} if row_condition else {}


def columns_exactly(columns: Iterable[str]) -> Expectation:
    return Expectation(
        "expect_table_columns_to_match_set",
        {"column_set": sorted(columns), "exact_match": True},
        "Schema: every contract column present and no other column.",
    )


def columns_include(columns: Iterable[str]) -> Expectation:
    return Expectation(
        "expect_table_columns_to_match_set",
        {"column_set": sorted(columns), "exact_match": False},
        "Schema: every documented column present (other columns allowed).",
    )


def not_null(column: str, notes: str = "Required: never NULL.") -> Expectation:
    return Expectation("expect_column_values_to_not_be_null", {"column": column}, notes)


def unique(column: str, severity: Severity = "critical") -> Expectation:
    return Expectation("expect_column_values_to_be_unique", {"column": column}, "Primary key: unique.", severity)


def compound_unique(columns: Sequence[str]) -> Expectation:
    return Expectation(
        "expect_compound_columns_to_be_unique",
        {"column_list": list(columns)},
        "Compound primary key: unique.",
    )


def between(
    column: str,
    min_value: Any = None,
    max_value: Any = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
    when: Condition | None = None,
    notes: str = "",
    severity: Severity = "critical",
) -> Expectation:
    kwargs: dict[str, Any] = {"column": column}
    if min_value is not None:
        kwargs["min_value"] = min_value
        if strict_min:
            kwargs["strict_min"] = True
    if max_value is not None:
        kwargs["max_value"] = max_value
        if strict_max:
            kwargs["strict_max"] = True
    return Expectation("expect_column_values_to_be_between", {**kwargs, **_when(when)}, notes, severity)


def positive(column: str, max_value: float, notes: str = "") -> Expectation:
    """0 < value <= max_value: positive and below an implausible magnitude."""
    return between(column, 0, max_value, strict_min=True, notes=notes or f"Positive and at most {max_value:g}.")


def in_set(
    column: str,
    values: Iterable[str],
    *,
    when: Condition | None = None,
    notes: str = "",
    severity: Severity = "critical",
) -> Expectation:
    return Expectation(
        "expect_column_values_to_be_in_set",
        {"column": column, "value_set": list(values), **_when(when)},
        notes,
        severity,
    )


def matches(column: str, regex: str, notes: str = "") -> Expectation:
    return Expectation("expect_column_values_to_match_regex", {"column": column, "regex": regex}, notes)


def not_in_future(column: str) -> Expectation:
    return between(
        column,
        max_value={"$PARAMETER": NOW_PARAMETER},
        notes=f"Not in the future: at most the validation time (suite parameter {NOW_PARAMETER}, UTC).",
    )


def a_at_least_b(column_a: str, column_b: str, *, strict: bool = False, severity: Severity = "critical") -> Expectation:
    op = ">" if strict else ">="
    return Expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {
            "column_A": column_a,
            "column_B": column_b,
            "or_equal": not strict,
            "ignore_row_if": "either_value_is_missing",
        },
        f"{column_a} {op} {column_b} where both are set.",
        severity,
    )


# pandas dtype names GX matches exactly (pandas 3; nullable extension dtypes by class name).
_INT_DTYPES = ["int8", "int16", "int32", "int64", "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype"]
_FLOAT_DTYPES = ["float32", "float64", "Float32Dtype", "Float64Dtype"]
_TEMPORAL_DTYPES = ["datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]"]
_BOOL_DTYPES = ["bool", "BooleanDtype"]
DTYPES_BY_DUCKDB_TYPE: dict[str, list[str]] = {
    "INTEGER": _INT_DTYPES,
    "BIGINT": _INT_DTYPES,
    "DOUBLE": _FLOAT_DTYPES,
    "DATE": _TEMPORAL_DTYPES,
    "TIMESTAMP": _TEMPORAL_DTYPES,
    "BOOLEAN": _BOOL_DTYPES,
}


def dtype(column: str, duckdb_type: str) -> Expectation | None:
    """The pandas dtypes a DuckDB column of this type arrives as (``.df()``), or None.

    VARCHAR is not checked: GX 1.24 cannot match pandas 3's ``str`` dtype by name, and
    string columns are covered by set and pattern expectations instead.
    """
    dtypes = DTYPES_BY_DUCKDB_TYPE.get(duckdb_type)
    if dtypes is None:
        return None
    return Expectation(
        "expect_column_values_to_be_in_type_list",
        {"column": column, "type_list": dtypes},
        f"Type: {duckdb_type} in the contract.",
    )


def price(
    column: str, currency_column: str, max_low: float = 100_000, max_high: float = 100_000_000
) -> list[Expectation]:
    """Positive, below ``max_low`` in ordinary currencies and ``max_high`` in JPY/KRW."""
    high = list(HIGH_DENOMINATION_CURRENCIES)
    return [
        positive(column, max_high, f"Positive; below {max_high:g} in any currency."),
        between(
            column,
            max_value=max_low,
            strict_max=True,
            when=where(currency_column, "NOT_IN", high),
            notes=f"Plausible: below {max_low:g} except in high-denomination currencies ({', '.join(high)}).",
        ),
    ]


def count(column: str, min_value: int = 0, max_value: int = 10_000_000) -> Expectation:
    return between(column, min_value, max_value, notes=f"Count between {min_value} and {max_value}.")


def pct(column: str, min_value: float = 0, max_value: float = 100) -> Expectation:
    return between(column, min_value, max_value, notes=f"Percentage between {min_value:g} and {max_value:g}.")


# ---------------------------------------------------------------- raw suites

LANGUAGE = r"^[a-z]{2}$"
LOCODE = r"^[A-Z]{2}[A-Z2-9]{3}$"
LANE_ID = r"^[A-Z]{2}[A-Z2-9]{3}-[A-Z]{2}[A-Z2-9]{3}$"
#: Event time columns besides the partition column: they cannot lie in the future either.
EVENT_COLUMNS = ("arrived_at", "first_response_at", "resolved_at", "announced_on")


def _code_rules(table: RawTable) -> list[Expectation]:
    """Code columns, by name: countries, currencies, marketplaces, modes."""
    rules: list[Expectation] = []
    for column in table.columns:
        if column == "destination_country":
            if table.family == "policy":  # duty_rates: GB and every EU member
                rules.append(in_set(column, POLICY_COUNTRIES, notes="ISO 3166-1 alpha-2 (or EU)."))
            else:
                rules.append(in_set(column, market_countries(), notes="A market of the markets seed."))
        elif column in ("origin_country", "supplier_country"):
            rules.append(in_set(column, ISO_COUNTRIES, notes="ISO 3166-1 alpha-2."))
        elif column == "country_code":
            rules.append(in_set(column, POLICY_COUNTRIES, notes="ISO 3166-1 alpha-2 (or EU)."))
        elif column in ("currency", "cost_currency", "specific_currency"):
            rules.append(in_set(column, currencies(), notes="A market currency, CNY, EUR or USD."))
        elif column == "marketplace":
            rules.append(in_set(column, marketplaces(), notes="A marketplace of the markets seed."))
        elif column == "mode":
            rules.append(in_set(column, MODES, notes="A transport mode of the contract (MODES)."))
    return rules


def _time_rules(table: RawTable) -> list[Expectation]:
    columns = [c for c in table.columns if c == table.partition_column or c in EVENT_COLUMNS]
    return [not_in_future(c) for c in columns]


def _rate_by_mode() -> list[Expectation]:
    """Freight rate bounds per mode (rates are USD-ish: most indices quote USD)."""
    bounds = {
        "ocean_fcl_40ft": (100, 30_000, "per 40ft container"),
        "ocean_lcl": (1, 3_000, "per cbm"),
        "air": (0.5, 30, "per kg"),
        "rail": (0.05, 30, "per kg"),
        "truck": (0.01, 30, "per kg"),
    }
    rules = [positive("rate", 1_000_000)]
    for mode, (lo, hi, unit) in bounds.items():
        is_mode = where("mode", "==", mode)
        rules.append(between("rate", lo, hi, when=is_mode, notes=f"{mode}: {lo:g}..{hi:g} {unit}."))
        rules.append(in_set("rate_unit", [RATE_UNIT_BY_MODE[mode]], when=is_mode, notes=f"{mode} is quoted {unit}."))
    return rules


TABLE_RULES: dict[str, list[Expectation]] = {
    "catalog": [
        in_set("category", CATEGORIES),
        *price("unit_cost", "cost_currency"),
        positive("weight_kg", 2_000, "Packed unit weight: positive, at most 2 t."),
        *(positive(c, 500, "Packed dimension: positive, at most 5 m.") for c in ("length_cm", "width_cm", "height_cm")),
        matches("hs_code", r"^\d{6}$", "6-digit HS subheading, zero-padded."),
        in_set("voltage", VOLTAGES),
        matches("plug_type", r"^(?:[A-O]|none)$", "IEC plug type letter or none."),
        matches("doc_languages", r"^[a-z]{2}(?:;[a-z]{2})*$", "';'-separated ISO 639-1 codes."),
    ],
    "orders": [
        count("quantity", 1, 10_000),
        *price("unit_price", "currency"),
    ],
    "inventory": [
        count("on_hand_units"),
        count("inbound_units"),
        count("replenishment_lead_time_days", 0, 365),
    ],
    "shipments": [
        matches("lane_id", LANE_ID, "Lane id: origin-destination UN/LOCODEs, e.g. CNSHA-DEHAM."),
        count("units", 1),
        # Non-negative rather than positive: small parcels round to 0.0 cbm / kg.
        between("gross_weight_kg", 0, 100_000, notes="Gross weight: 0..100 t (small parcels may round to 0)."),
        between("volume_cbm", 0, 500, notes="Volume: 0..500 cbm (small parcels may round to 0)."),
        between("planned_transit_days", 0, 120, notes="Transit days between 0 and 120."),
        *price("freight_cost", "currency", max_low=10_000_000, max_high=10_000_000_000),
        a_at_least_b("arrived_at", "departed_at"),
    ],
    "traffic": [
        count("sessions"),
        count("page_views"),
        count("add_to_cart"),
        count("ordered_sessions"),
        a_at_least_b("sessions", "add_to_cart"),
        a_at_least_b("sessions", "ordered_sessions"),
        a_at_least_b("page_views", "sessions", severity="warning"),
    ],
    "competitors": [
        count("sellers_on_listing", 1, 10_000),
        *price("competitor_median_price", "currency"),
        count("competitor_review_count"),
        count("own_review_count"),
    ],
    "reviews": [
        between("rating", 1, 5, notes="Star rating 1..5."),
        in_set("topic", (*COMPLAINT_TOPICS, "praise")),
        matches("language", LANGUAGE, "ISO 639-1."),
    ],
    "returns": [
        count("quantity", 1, 10_000),
        in_set("reason", RETURN_REASONS),
    ],
    "tickets": [
        in_set("channel", CHANNELS),
        in_set("handled_by", HANDLED_BY),
        in_set("topic", (*COMPLAINT_TOPICS, "pre_sale_question", "order_status")),
        matches("buyer_language", LANGUAGE, "ISO 639-1."),
        matches("response_language", LANGUAGE, "ISO 639-1."),
        count("contacts", 1, 100),
        between("csat", 1, 5, notes="CSAT 1..5 where rated."),
        a_at_least_b("first_response_at", "created_at"),
        a_at_least_b("resolved_at", "created_at"),
    ],
    "freight_rates": [
        matches("lane_id", LANE_ID, "Lane id: origin-destination UN/LOCODEs, e.g. CNSHA-DEHAM."),
        matches("origin_port", LOCODE, "UN/LOCODE."),
        matches("destination_port", LOCODE, "UN/LOCODE."),
        *_rate_by_mode(),
        between("transit_days", 0, 120, notes="Transit days between 0 and 120."),
        positive("distance_km", 40_000, "Lane distance: positive, at most 40000 km."),
    ],
    "vat_rates": [
        pct("standard_rate_pct"),
        pct("reduced_rate_pct"),
        a_at_least_b("standard_rate_pct", "reduced_rate_pct", severity="warning"),
        a_at_least_b("effective_to", "effective_from", strict=True),
    ],
    "duty_rates": [
        matches("commodity_code", r"^\d{8}(?:\d{2})?$", "8 or 10 digits, zero-padded."),
        matches("hs6", r"^\d{6}$", "6-digit HS subheading."),
        pct("ad_valorem_pct", 0, 1_000),
        between("specific_amount", 0, 1_000_000, notes="Specific duty amount: 0..1e6."),
        positive("specific_per", 1_000_000),
        a_at_least_b("effective_to", "effective_from", strict=True),
    ],
    "de_minimis": [
        in_set("applies_to", ["duty", "vat"]),
        between("threshold_amount", 0, 100_000_000, notes="Threshold: non-negative, local currency."),
        a_at_least_b("effective_to", "effective_from", strict=True),
    ],
    "digital_services_taxes": [
        pct("rate_pct"),
        a_at_least_b("effective_to", "effective_from", strict=True),
    ],
    "regulatory_events": [
        in_set("kind", REGULATORY_KINDS),
        pct("new_rate_pct", 0, 1_000),
        matches("hs_scope", r"^\d{0,10}$", "HS prefix of the scope ('' = all goods)."),
        # No order between announced_on and effective_on: changes can be retroactive (the
        # French DST of July 2019 applied from 2019-01-01).
    ],
    "fx_rates": [
        positive("units_per_usd", 100_000, "Units per USD: positive, at most 100000."),
    ],
    "emission_factors": [
        in_set("category", EMISSION_CATEGORIES),
        in_set("activity_unit", EMISSION_ACTIVITY_UNITS),
        between("kg_co2e_per_unit", 0, 50, notes="kg CO2e per tonne-km: 0..50."),
        between("year_released", 1990, 2100, notes="Release year."),
    ],
    "cbam_scope": [
        matches("hs_prefix", r"^\d{2,10}$", "HS prefix (2 to 10 digits)."),
        between("default_kg_co2e_per_kg", 0, 100, notes="Embedded emissions per kg: 0..100."),
    ],
    "carbon_prices": [
        positive("price", 1_000, "Carbon price per tonne CO2e: positive, at most 1000."),
    ],
}


def raw_suite(table: RawTable) -> SuiteSpec:
    """The suite of one raw table: contract-derived expectations plus its domain rules."""
    exps: list[Expectation] = [columns_exactly(table.columns)]
    exps += [e for c, t in table.columns.items() if (e := dtype(c, t)) is not None]
    for column in table.primary_key:
        exps.append(not_null(column, "Primary key: never NULL."))
    if len(table.primary_key) == 1:
        exps.append(unique(table.primary_key[0]))
    else:
        exps.append(compound_unique(table.primary_key))
    exps += [not_null(c) for c in table.required if c not in table.primary_key]
    exps += _code_rules(table)
    exps += _time_rules(table)
    exps += TABLE_RULES.get(table.name, [])
    unknown = {c for e in exps for c in _columns_of(e)} - set(table.columns)
    if unknown:
        raise ValueError(f"suite raw_{table.name} names columns not in the contract: {sorted(unknown)}")
    return SuiteSpec(
        name=f"raw_{table.name}",
        description=f"raw.{table.name}: {table.description}",
        expectations=exps,
        key_columns=table.primary_key,
    )


# ---------------------------------------------------------------- mart suites


def _mart_suite(name: str, description: str, key: Sequence[str], rules: list[Expectation]) -> SuiteSpec:
    """A mart suite: the columns it checks must exist, the key is unique and set, then ``rules``."""
    key_rules = [not_null(c, "Primary key: never NULL.") for c in key]
    key_rules.append(compound_unique(key) if len(key) > 1 else unique(key[0]))
    columns = dict.fromkeys([*key, *(c for e in rules for c in _columns_of(e))])
    # Types of the checked columns, from the mart's dbt contract (as for the derived suites).
    model = mart_models().get(name) or {}
    declared = {c["name"]: _DBT_TYPES.get(str(c.get("data_type", "")).lower()) for c in model.get("columns") or []}
    undocumented = sorted(set(columns) - set(declared)) if declared else []
    if undocumented:
        raise ValueError(f"suite mart_{name} checks columns its dbt contract does not document: {undocumented}")
    types = [e for c in columns if declared.get(c) and (e := dtype(c, declared[c] or "")) is not None]
    return SuiteSpec(
        name=f"mart_{name}",
        description=description,
        expectations=[columns_include(columns), *types, *key_rules, *rules],
        key_columns=tuple(key),
    )


def share(column: str, severity: Severity = "critical") -> Expectation:
    return between(column, 0, 100, notes="A share of a whole: 0..100%.", severity=severity)


# ---------------------------------------------------------------- load suites

#: Freshness of the latest partition, per time-based table: (allowed lag in days, severity).
#: The latest partition day of the table must be at least the run's last partition day minus
#: the lag. Core daily feeds (orders, traffic, inventory) must hold the run's own day: a
#: missing export stops forecasts and publication. Sparse event tables (a small seller may
#: have no review for days) and weekly feeds only warn; index series warn after a skipped
#: publication and block when they are weeks behind.
FRESHNESS: dict[str, list[tuple[int, Severity]]] = {
    "orders": [(0, "critical")],
    "traffic": [(0, "critical")],
    "inventory": [(0, "critical")],
    "shipments": [(7, "warning")],
    "reviews": [(7, "warning")],
    "returns": [(7, "warning")],
    "tickets": [(7, "warning")],
    "competitors": [(8, "warning")],
    "freight_rates": [(8, "warning"), (21, "critical")],
    "fx_rates": [(4, "warning"), (10, "critical")],
    "carbon_prices": [(7, "warning")],
}


def fresh_since_parameter(lag_days: int) -> str:
    return f"{FRESH_SINCE_PREFIX}{lag_days}d"


def load_suite_name(table_name: str) -> str:
    return f"load_{table_name}"


def load_suite(table: RawTable) -> SuiteSpec:
    """The load suite of one raw table, validated on its load profile (``LOAD_PROFILE_COLUMNS``).

    The band: rows of the latest load at least ``rows_min`` (critical: a load well below the
    previous one is a truncated or missing export) and at most ``rows_max`` (warning: peaks
    such as Black Friday are real; duplicates are caught by the key expectations).
    """
    band = (
        "the median of the previous loads' rows per expected day (up to 7 loads) times this load's expected days, "
        "+/- the band"
    )
    exps = [
        columns_exactly(LOAD_PROFILE_COLUMNS),
        Expectation(
            "expect_column_sum_to_be_between",
            {"column": "rows_in_load", "min_value": {"$PARAMETER": ROWS_MIN_PARAMETER}},
            f"Row count of the load not below the band ({band}; thresholds.row_count_band).",
            "critical",
        ),
        Expectation(
            "expect_column_sum_to_be_between",
            {"column": "rows_in_load", "max_value": {"$PARAMETER": ROWS_MAX_PARAMETER}},
            f"Row count of the load not above the band ({band}): a warning, peaks are real.",
            "warning",
        ),
    ]
    if table.partitioned:
        rules = FRESHNESS.get(table.name)
        if not rules:
            raise ValueError(f"time-based table {table.name} has no freshness rule in FRESHNESS")
        for lag, severity in rules:
            exps.append(
                Expectation(
                    "expect_column_max_to_be_between",
                    {"column": "day", "min_value": {"$PARAMETER": fresh_since_parameter(lag)}},
                    f"Freshness: the latest partition ({table.partition_column}) at most {lag} day(s) before "
                    "the run's last partition day.",
                    severity,
                )
            )
    return SuiteSpec(
        name=load_suite_name(table.name),
        description=f"raw.{table.name} as a whole after a load: row count within a band of the previous loads"
        + (", freshness of the latest partition." if table.partitioned else "."),
        expectations=exps,
        key_columns=("day",),
    )


def mart_suites() -> list[SuiteSpec]:
    """Suites of the marts read by forecasts, alerts and BI, on their documented columns
    (``dbt_project/models/marts/*/*.yml``)."""
    markets = market_countries()
    return [
        _mart_suite(
            "demand_sku_market_daily",
            "marts.demand_sku_market_daily: daily demand per SKU and market (read by the demand forecast).",
            ["sku", "destination_country", "order_date"],
            [
                in_set("destination_country", markets),
                not_in_future("order_date"),
                *(not_null(c) for c in ("orders", "units", "revenue_usd")),
                count("orders"),
                count("units"),
                between("revenue_usd", 0, 1_000_000_000, notes="Revenue in USD: non-negative."),
                between("net_revenue_usd", 0, 1_000_000_000, notes="Net revenue in USD: non-negative."),
                a_at_least_b("revenue_usd", "net_revenue_usd"),
                positive("avg_unit_price_usd", 1_000_000, "Average unit price in USD: positive, at most 1e6."),
            ],
        ),
        _mart_suite(
            "risk_lane_weekly",
            "marts.risk_lane_weekly: weekly lane rates, changes, volatility and spike flags "
            "(read by freight alerts and the freight forecast).",
            ["lane_id", "mode", "rate_week"],
            [
                in_set("mode", MODES),
                in_set("origin_country", ISO_COUNTRIES),
                in_set("destination_country", markets),
                in_set("rate_unit", sorted(set(RATE_UNIT_BY_MODE.values()))),
                in_set("currency", currencies()),
                not_in_future("rate_week"),
                not_null("rate_usd"),
                positive("rate_local", 1_000_000_000),
                positive("rate_usd", 1_000_000),
                positive("prev_week_rate_usd", 1_000_000),
                positive("mean_12w_usd", 1_000_000),
                between("stddev_12w_usd", 0, notes="A standard deviation is non-negative."),
                between("volatility_cv_12w", 0, notes="A coefficient of variation is non-negative."),
                between("wow_change_pct", -100, notes="A positive rate cannot fall by more than 100%."),
                between("change_4w_pct", -100, notes="A positive rate cannot fall by more than 100%."),
                between("transit_days", 0, 120, notes="Transit days between 0 and 120."),
                share("on_time_rate_12w_pct"),
                not_null("is_spike"),
                in_set("spike_severity", ["critical", "warning"]),
                Expectation(
                    "expect_column_values_to_not_be_null",
                    {"column": "spike_severity", **_when(where("is_spike", "==", True))},
                    "A spike has a severity.",
                ),
                Expectation(
                    "expect_column_values_to_be_null",
                    {"column": "spike_severity", **_when(where("is_spike", "==", False))},
                    "No severity without a spike.",
                ),
                not_null("risk_tier"),
                in_set("risk_tier", RISK_TIERS),
            ],
        ),
        _mart_suite(
            "selection_sku_market",
            "marts.selection_sku_market: SKU x market demand, landed cost, margin, quality and compliance "
            "(read by BI and the selection recommendations).",
            ["sku", "destination_country"],
            [
                in_set("destination_country", markets),
                not_null("as_of_date"),
                not_in_future("as_of_date"),
                not_null("net_price_usd"),
                positive("net_price_usd", 1_000_000),
                positive("landed_cost_usd", 1_000_000),
                between("landed_margin_pct", max_value=100, notes="A margin on net price is at most 100%."),
                count("units_28d"),
                count("units_90d"),
                between("revenue_28d_usd", 0, notes="Revenue: non-negative."),
                between("revenue_90d_usd", 0, notes="Revenue: non-negative."),
                a_at_least_b("units_90d", "units_28d"),
                between("return_rate_pct", 0, notes="A return rate is non-negative."),
                between(
                    "return_rate_pct",
                    max_value=100,
                    notes="Returns above units sold in the window: possible (late returns), suspicious.",
                    severity="warning",
                ),
                share("bad_review_rate_pct"),
                share("add_to_cart_rate_28d_pct"),
                share("conversion_rate_28d_pct"),
                share("logistics_cost_share_pct", severity="warning"),
                between("avg_rating_90d", 1, 5, notes="Average star rating 1..5."),
                in_set("cheapest_mode", MODES),
                positive("gross_price_usd", 1_000_000),
                pct("vat_rate_pct"),
                positive("unit_cost_usd", 1_000_000),
                *(
                    between(c, 0, 1_000_000, notes="A cost per unit in USD: 0..1e6.")
                    for c in (
                        "freight_per_unit_usd",
                        "duty_per_unit_usd",
                        "vat_per_unit_usd",
                        "fees_per_unit_usd",
                        "carbon_cost_per_unit_usd",
                    )
                ),
                positive("landed_cost_ex_vat_usd", 1_000_000),
                between("customs_value_usd", 0, 1_000_000, notes="Customs value per unit in USD: 0..1e6."),
                positive("cheapest_mode_chargeable_kg", 2_000, "Chargeable weight per unit: positive, at most 2 t."),
                positive("competitor_median_price_usd", 1_000_000),
                between("top_return_reason_rate_pct", 0, notes="A return rate is non-negative."),
                between("shipping_kg_co2e_per_unit", 0, notes="Emissions: non-negative."),
                between("embedded_kg_co2e_per_unit", 0, notes="Emissions: non-negative."),
            ],
        ),
        _mart_suite(
            "service_market_daily",
            "marts.service_market_daily: service KPIs per market, channel and day (read by service alerts).",
            ["destination_country", "channel", "ticket_date"],
            [
                in_set("destination_country", markets),
                in_set("channel", CHANNELS),
                not_in_future("ticket_date"),
                not_null("tickets"),
                count("tickets", 0),
                a_at_least_b("tickets", "answered_tickets"),
                a_at_least_b("tickets", "resolved_tickets"),
                a_at_least_b("tickets", "sla_breaches"),
                a_at_least_b("tickets", "rated_tickets"),
                between("first_response_p50_hours", 0, 24 * 365, notes="Response time >= 0 hours."),
                between("first_response_p90_hours", 0, 24 * 365, notes="Response time >= 0 hours."),
                a_at_least_b("first_response_p90_hours", "first_response_p50_hours"),
                between("resolution_p50_hours", 0, notes="Resolution time >= 0 hours."),
                a_at_least_b("resolution_p90_hours", "resolution_p50_hours"),
                between("csat_avg", 1, 5, notes="Average CSAT 1..5."),
                *(
                    share(c)
                    for c in (
                        "csat_satisfied_pct",
                        "first_contact_resolution_pct",
                        "bot_share_pct",
                        "bot_resolution_pct",
                        "reopen_rate_pct",
                        "answered_in_buyer_language_pct",
                    )
                ),
            ],
        ),
    ]


# dbt data types of mart contracts -> the DuckDB type names ``dtype`` knows.
_DBT_TYPES = {"bigint": "BIGINT", "integer": "INTEGER", "int": "INTEGER", "double": "DOUBLE", "date": "DATE"}
_DBT_TYPES |= {"timestamp": "TIMESTAMP", "boolean": "BOOLEAN"}


def _test_name_args_severity(test: Any) -> tuple[str, dict[str, Any], Severity]:
    """A yml data test's name, arguments and the severity of the expectation it derives:
    ``warning`` when the test is configured ``severity: warn``, else ``critical`` (dbt's error)."""
    if isinstance(test, str):
        return test, {}, "critical"
    name, body = next(iter(test.items()))
    body = body or {}
    args = dict(body.get("arguments") or {k: v for k, v in body.items() if k != "config"})
    warn = str((body.get("config") or {}).get("severity", "error")).lower() == "warn"
    return name, args, "warning" if warn else "critical"


#: Date and time columns of marts that may lie after the validation time by design: a policy
#: change's effective date, upcoming events, a shipment's planned arrival, and ``as_of_at``
#: (the end of the as-of day, midnight after it). Every other DATE/TIMESTAMP column of a
#: contract-derived mart suite gets "not in the future".
FORWARD_LOOKING_COLUMNS = frozenset(
    {"effective_on", "next_event_on", "next_policy_event_on", "next_policy_change_on", "planned_arrival_at", "as_of_at"}
)


def _contract_code_rule(column: str) -> list[Expectation]:
    """Code lists by column name, for a mart column whose dbt tests declare no value list."""
    if column == "currency" or column.endswith("_currency"):
        return [in_set(column, currencies(), notes="A market currency, CNY, EUR or USD.")]
    if column == "mode" or column.endswith("_mode"):
        return [in_set(column, MODES, notes="A transport mode of the contract (MODES).")]
    if column.endswith("_country"):
        return [in_set(column, POLICY_COUNTRIES, notes="ISO 3166-1 alpha-2 (or EU).")]
    return []


def contract_mart_rules(name: str) -> list[Expectation]:
    """Hand-written domain rules of a contract-derived mart suite, beyond its dbt tests:
    plausible bounds of prices, amounts, rates and percentages, and cross-column order."""
    non_negative_usd = "An amount in USD: non-negative."
    rules: dict[str, list[Expectation]] = {
        "inventory_position": [
            count("warehouse_count", 0, 10_000),
            count("units_28d"),
            between("avg_daily_units_28d", 0, notes="Average daily units: non-negative."),
            between("replenishment_lead_time_days", 0, 365, notes="Lead time: 0..365 days."),
            between("days_of_cover", 0, notes="Days of cover: non-negative."),
            a_at_least_b("days_of_cover_incl_inbound", "days_of_cover"),
        ],
        "risk_market_policy": [
            pct("reduced_vat_rate_pct"),
            pct("dst_rate_pct"),
            a_at_least_b("vat_rate_pct", "reduced_vat_rate_pct", severity="warning"),
            between("duty_de_minimis_local", 0, notes="A threshold: non-negative."),
            between("vat_de_minimis_local", 0, notes="A threshold: non-negative."),
            between("duty_de_minimis_usd", 0, 100_000, notes="A de-minimis threshold in USD: 0..100000."),
            between("vat_de_minimis_usd", 0, 100_000, notes="A de-minimis threshold in USD: 0..100000."),
            between("revenue_90d_usd", 0, notes=non_negative_usd),
            between("cbam_revenue_90d_usd", 0, notes=non_negative_usd),
            between("revenue_90d_usd_touched", 0, notes=non_negative_usd),
            between("revenue_90d_usd_touched_30d", 0, notes=non_negative_usd),
            a_at_least_b("active_skus", "cbam_skus"),
            a_at_least_b("revenue_90d_usd", "cbam_revenue_90d_usd"),
        ],
        "risk_policy_events": [
            pct("new_rate_pct", 0, 1_000),
            count("skus_touched"),
            count("units_90d_touched"),
            between("revenue_90d_usd_touched", 0, notes=non_negative_usd),
        ],
        "risk_sku": [
            in_set("destination_country", market_countries(), notes="A market of the markets seed."),
            between("revenue_90d_usd", 0, notes=non_negative_usd),
            count("recent_shipments"),
            a_at_least_b("recent_shipments", "delayed_shipments"),
            between("category_hhi", 0, 10_000, notes="HHI: 0..10000."),
            between("replenishment_lead_time_days", 0, 365, notes="Lead time: 0..365 days."),
        ],
        "risk_supplier_concentration": [
            in_set("supplier_country", ISO_COUNTRIES, notes="ISO 3166-1 alpha-2."),
            count("skus", 1),
            a_at_least_b("category_units_90d", "units_90d"),
            count("category_suppliers", 1),
            a_at_least_b("category_suppliers", "supplier_rank"),
        ],
        "service_sku_topic": [
            count("markets", 0, 1_000),
            a_at_least_b("reviews", "bad_reviews"),
            count("units_90d"),
        ],
        "shipment_transit": [
            in_set("origin_country", ISO_COUNTRIES, notes="ISO 3166-1 alpha-2."),
            matches("lane_id", LANE_ID, "Lane id: origin-destination UN/LOCODEs, e.g. CNSHA-DEHAM."),
            count("units", 1),
            between("planned_transit_days", 0, 120, notes="Transit days between 0 and 120."),
            between("freight_cost_usd", 0, 10_000_000, notes="Freight cost of a shipment in USD: 0..1e7."),
            between("freight_cost_per_unit_usd", 0, 1_000_000, notes="Freight cost per unit in USD: 0..1e6."),
            a_at_least_b("arrived_at", "departed_at"),
            a_at_least_b("as_of_at", "departed_at"),
        ],
        "traffic_sku_market_daily": [
            count("listings", 0, 1_000),
            count("page_views"),
            count("ordered_sessions"),
            a_at_least_b("sessions", "add_to_cart"),
            a_at_least_b("sessions", "ordered_sessions"),
        ],
    }
    return rules.get(name, [])


def model_primary_key(model: dict[str, Any]) -> list[str]:
    """A dbt model's key: its ``primary_key`` constraint, else ``meta.primary_key`` (declared,
    not enforced: the large day-grain marts, where DuckDB's index would cost more than the build)."""
    for constraint in model.get("constraints") or []:
        if constraint.get("type") == "primary_key":
            return list(constraint.get("columns") or [])
    meta = {**(model.get("meta") or {}), **((model.get("config") or {}).get("meta") or {})}
    return list(meta.get("primary_key") or [])


def contract_mart_suite(name: str, model: dict[str, Any]) -> SuiteSpec:
    """The suite of a mart from its dbt contract: columns, types, key, not-null columns, and the
    ranges, value lists and market codes its dbt tests declare.

    It repeats the dbt tests on purpose: the GX gate names the failing rows in the check's
    metadata and Data Docs, where a failing dbt test only fails the dbt step.
    """
    columns = model.get("columns") or []
    pk = model_primary_key(model)
    exps: list[Expectation] = [columns_include(c["name"] for c in columns)]
    domain = contract_mart_rules(name)
    hand_coded = {e.kwargs["column"] for e in domain if e.type == "expect_column_values_to_be_in_set"}
    for column in columns:
        duck = _DBT_TYPES.get(str(column.get("data_type", "")).lower())
        if duck and (e := dtype(column["name"], duck)):
            exps.append(e)
    exps += [not_null(c, "Primary key: never NULL.") for c in pk]
    if pk:
        exps.append(compound_unique(pk) if len(pk) > 1 else unique(pk[0]))
    for column in columns:
        col = column["name"]
        constraints = {c.get("type") for c in column.get("constraints") or []}
        tests = [_test_name_args_severity(t) for t in column.get("data_tests") or []]
        if col not in pk and ("not_null" in constraints or any(t == "not_null" for t, _, _ in tests)):
            exps.append(not_null(col, "Not NULL (dbt contract or test)."))
        # A test configured severity: warn gives a warning expectation (it does not block).
        for test, args, severity in tests:
            if test == "unique" and col not in pk:
                exps.append(unique(col, severity))
            elif test == "accepted_range":
                strict = args.get("inclusive") is False
                exps.append(
                    between(
                        col,
                        args.get("min_value"),
                        args.get("max_value"),
                        strict_min=strict,
                        strict_max=strict,
                        notes="Range declared by the mart's dbt test.",
                        severity=severity,
                    )
                )
            elif test == "accepted_values":
                values = args.get("values") or []
                exps.append(in_set(col, values, notes="Values declared by the mart's dbt test.", severity=severity))
            elif test == "relationships" and "markets" in str(args.get("to")):
                exps.append(in_set(col, market_countries(), notes="A market of the markets seed.", severity=severity))
        declared = any(
            t == "accepted_values" or (t == "relationships" and "markets" in str(a.get("to"))) for t, a, _ in tests
        )
        if not declared and col not in hand_coded:
            exps += _contract_code_rule(col)
    for column in columns:
        duck = _DBT_TYPES.get(str(column.get("data_type", "")).lower())
        if duck in ("DATE", "TIMESTAMP") and column["name"] not in FORWARD_LOOKING_COLUMNS:
            exps.append(not_in_future(column["name"]))
    exps += domain
    unknown = {c for e in exps for c in _columns_of(e)} - {c["name"] for c in columns}
    if unknown:
        raise ValueError(f"suite mart_{name} names columns not in its dbt contract: {sorted(unknown)}")
    description = " ".join(str(model.get("description") or "").split())
    return SuiteSpec(
        name=f"mart_{name}",
        description=f"marts.{name} (from its dbt contract): {description}",
        expectations=exps,
        key_columns=tuple(pk),
    )


#: Freshness of a mart after the night's dbt build: (date column, [(allowed lag in days, severity)]).
#: The column's latest value must be at least the run's last partition day minus the lag. The
#: as-of marts resolve their as-of date to the latest order date, and the orders load must hold
#: the run's day (``FRESHNESS``): lag 0. Daily marts follow their feed; the weekly freight mart
#: follows the freight index (warn after a skipped week, block when weeks behind); sparse ones
#: (tickets, shipments, policy events, SKU x topic) only warn. ``risk_supplier_concentration``
#: has no date column: its row-count band still applies.
MART_FRESHNESS: dict[str, tuple[str, list[tuple[int, Severity]]]] = {
    "demand_sku_market_daily": ("order_date", [(0, "critical")]),
    "traffic_sku_market_daily": ("traffic_date", [(0, "critical")]),
    "selection_sku_market": ("as_of_date", [(0, "critical")]),
    "inventory_position": ("as_of_date", [(0, "critical")]),
    "risk_sku": ("as_of_date", [(0, "critical")]),
    "risk_market_policy": ("as_of_date", [(0, "critical")]),
    "risk_policy_events": ("as_of_date", [(0, "warning")]),
    "service_sku_topic": ("as_of_date", [(0, "warning")]),
    "service_market_daily": ("ticket_date", [(7, "warning")]),
    "shipment_transit": ("as_of_at", [(0, "warning")]),
    "risk_lane_weekly": ("rate_week", [(8, "warning"), (21, "critical")]),
}


def mart_load_rules(mart: str) -> list[Expectation]:
    """Row count within a band of the previous night's mart, and freshness of its latest day.

    Suite parameters computed per night by the mart check (``checks.mart_parameters``): the
    band around ``checks.mart_baseline`` (the rows at the latest evaluation whose lower band held,
    or after a lasting drop the median of the last nights; fewer blocks: a broken join or filter;
    more only warns) and ``fresh_since_<n>d``.
    """
    band = "the previous night's rows of the mart +/- thresholds.row_count_band"
    rules = [
        Expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": {"$PARAMETER": ROWS_MIN_PARAMETER}},
            f"Row count not below the band ({band}).",
            "critical",
        ),
        Expectation(
            "expect_table_row_count_to_be_between",
            {"max_value": {"$PARAMETER": ROWS_MAX_PARAMETER}},
            f"Row count not above the band ({band}): a warning, growth is real.",
            "warning",
        ),
    ]
    column, lags = MART_FRESHNESS.get(mart, (None, []))
    for lag, severity in lags:
        rules.append(
            Expectation(
                "expect_column_max_to_be_between",
                {"column": column, "min_value": {"$PARAMETER": fresh_since_parameter(lag)}},
                f"Freshness: the latest {column} at most {lag} day(s) before the run's last partition day.",
                severity,
            )
        )
    return rules


def _with_load_rules(spec: SuiteSpec) -> SuiteSpec:
    mart = spec.name.removeprefix("mart_")
    return SuiteSpec(spec.name, spec.description, [*spec.expectations, *mart_load_rules(mart)], spec.key_columns)


def all_suites() -> list[SuiteSpec]:
    """Every suite: ``raw_<table>`` and ``load_<table>`` per table of the contract, ``mart_<mart>`` per mart."""
    models = mart_models()
    unknown = set(MART_FRESHNESS) - set(MART_TABLES)
    if unknown:
        raise ValueError(f"MART_FRESHNESS names marts that do not exist: {sorted(unknown)}")
    derived = [contract_mart_suite(m, models[m]) for m in MART_TABLES if m not in HAND_WRITTEN_MARTS]
    raw = [raw_suite(t) for t in RAW_TABLES.values()]
    marts = [_with_load_rules(s) for s in mart_suites() + derived]
    return raw + [load_suite(t) for t in RAW_TABLES.values()] + marts


def _columns_of(exp: Expectation) -> list[str]:
    kw = exp.kwargs
    cols = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    cols += list(kw.get("column_list", []))
    return cols


# ---------------------------------------------------------------- writing the file context


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


def suite_json(spec: SuiteSpec) -> dict[str, Any]:
    """The suite as GX 1.x stores it (``gx/expectations/<name>.json``)."""
    expectations = []
    seen: set[str] = set()
    for exp in spec.expectations:
        key = json.dumps([exp.type, exp.kwargs], sort_keys=True)
        if key in seen:
            raise ValueError(f"suite {spec.name} declares {exp.type} {exp.kwargs} twice")
        seen.add(key)
        expectations.append(
            {
                "id": _id("expectation", spec.name, key),
                "kwargs": exp.kwargs,
                "meta": {},
                "notes": exp.notes or None,
                "severity": exp.severity,
                "type": exp.type,
            }
        )
    return {
        "expectations": expectations,
        "id": _id("suite", spec.name),
        "meta": {
            "great_expectations_version": GX_VERSION,
            "generated_by": "python -m orchestration.defs.quality",
            "key_columns": list(spec.key_columns),
        },
        "name": spec.name,
        "notes": spec.description,
    }


def validation_definition_json(spec: SuiteSpec) -> dict[str, Any]:
    """Binds the suite to its dataframe asset (``gx/validation_definitions/<name>.json``)."""
    return {
        "data": {
            "asset": {"id": _id("asset", spec.name), "name": spec.name},
            "batch_definition": {"id": _id("batch_definition", spec.name), "name": BATCH_DEFINITION_NAME},
            "datasource": {"id": _id("datasource", DATASOURCE_NAME), "name": DATASOURCE_NAME},
        },
        "id": _id("validation_definition", spec.name),
        "name": spec.name,
        "suite": {"id": _id("suite", spec.name), "name": spec.name},
    }


_YML_HEAD = f"""\
# Great Expectations 1.x file context of Tradewinds.
# GENERATED by `python -m orchestration.defs.quality` from orchestration/defs/quality/suites.py:
# edit the generator, not this file.
# Suites (expectations/) and validation definitions are committed; validation results and
# Data Docs go under the data dir (see config_variables.yml; Tradewinds passes the real
# paths from its settings at run time).
config_version: 4
config_variables_file_path: config_variables.yml
plugins_directory:
analytics_enabled: false
data_context_id: {_id("data_context")}
progress_bars:
  globally: false
  metric_calculations: false

stores:
  expectations_store:
    class_name: ExpectationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: expectations/
  validation_definition_store:
    class_name: ValidationDefinitionStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: validation_definitions/
  checkpoint_store:
    class_name: CheckpointStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: checkpoints/
  validation_results_store:
    class_name: ValidationResultsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: ${{{VALIDATIONS_DIR_VARIABLE}}}

expectations_store_name: expectations_store
validation_results_store_name: validation_results_store
checkpoint_store_name: checkpoint_store

data_docs_sites:
  local_site:
    class_name: SiteBuilder
    show_how_to_buttons: false
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: ${{{DATA_DOCS_DIR_VARIABLE}}}
    site_index_builder:
      class_name: DefaultSiteIndexBuilder

fluent_datasources:
  {DATASOURCE_NAME}:
    type: pandas
    id: {_id("datasource", DATASOURCE_NAME)}
    assets:
"""

_CONFIG_VARIABLES = f"""\
# Paths only, never secrets. Defaults for using this context by hand from the repository
# (relative to expectations/gx/, i.e. <repo>/data/gx/...); Tradewinds overrides both at run
# time with folders under its configured data_dir.
{VALIDATIONS_DIR_VARIABLE}: ../../data/gx/validations/
{DATA_DOCS_DIR_VARIABLE}: ../../data/gx/data_docs/
"""


def context_yml(specs: Sequence[SuiteSpec]) -> str:
    lines = [_YML_HEAD.rstrip("\n")]
    for spec in specs:
        lines += [
            f"      {spec.name}:",
            "        type: dataframe",
            f"        id: {_id('asset', spec.name)}",
            "        batch_metadata: {}",
            "        batch_definitions:",
            f"          {BATCH_DEFINITION_NAME}:",
            f"            id: {_id('batch_definition', spec.name)}",
            "            partitioner:",
        ]
    return "\n".join(lines) + "\n"


def render_context(specs: Sequence[SuiteSpec] | None = None) -> dict[str, str]:
    """Every generated file of the context: relative path under ``expectations/`` -> text."""
    specs = list(specs if specs is not None else all_suites())
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate suite names: {names}")
    gx = CONTEXT_DIRNAME
    files = {
        f"{gx}/great_expectations.yml": context_yml(specs),
        f"{gx}/config_variables.yml": _CONFIG_VARIABLES,
        f"{gx}/.gitignore": "uncommitted/\n",
    }
    for spec in specs:
        files[f"{gx}/expectations/{spec.name}.json"] = json.dumps(suite_json(spec), indent=2, sort_keys=True) + "\n"
        files[f"{gx}/validation_definitions/{spec.name}.json"] = (
            json.dumps(validation_definition_json(spec), indent=2, sort_keys=True) + "\n"
        )
    return files


def write_context(root: Path = EXPECTATIONS_DIR) -> list[Path]:
    """(Re)write the file context under ``root``; removes suites no longer declared."""
    files = render_context()
    gx_dir = root / CONTEXT_DIRNAME
    for sub in ("expectations", "validation_definitions"):
        folder = gx_dir / sub
        if folder.is_dir():
            for stale in folder.glob("*.json"):
                if f"{CONTEXT_DIRNAME}/{sub}/{stale.name}" not in files:
                    stale.unlink()
    (gx_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    keep = gx_dir / "checkpoints" / ".gitkeep"
    keep.touch()
    # A GX scaffold may have left a plugins folder behind; this context has none.
    shutil.rmtree(gx_dir / "plugins", ignore_errors=True)
    return written
