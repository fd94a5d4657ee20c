"""The raw-table contract: every source table Tradewinds lands and loads.

This module is the single place that says which raw tables exist, which columns they
carry (with DuckDB types), which family they belong to and how they are partitioned.
The sample-data generator writes exactly these columns, the ingest assets load them
into ``raw.<table>`` in the warehouse, the dbt sources declare them, and the Great
Expectations suites check them. Change a table here and in those three places together.

Landing layout (what a file-drop connector reads and the sample generator writes)::

    <landing>/<family>/<table>/<YYYY-MM-DD>.csv    partitioned tables, one file per day
    <landing>/<family>/<table>/snapshot.csv        unpartitioned reference tables

CSV files have a header row, comma separator, ISO-8601 dates and timestamps (UTC, no
offset), ``.`` as decimal point and empty fields for NULL. Weekly tables (freight rates,
competitor snapshots) land on the Monday of their week only; other days have no file.

Columns added by the loader (not in landing files): ``_partition_date`` (DATE, partitioned
tables only), ``_source_file`` (VARCHAR) and ``_loaded_at`` (TIMESTAMP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Cadence = Literal["daily", "weekly", "snapshot"]


@dataclass(frozen=True)
class RawTable:
    """One raw source table: its family, columns, key and partitioning."""

    name: str
    family: Literal["platform", "freight", "policy", "carbon"]
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    cadence: Cadence
    # Column whose date is the partition of a row (None for snapshot tables).
    partition_column: str | None = None
    description: str = ""
    # Columns that must never be NULL besides the primary key.
    required: tuple[str, ...] = field(default_factory=tuple)
    # The source restates its last N days (shipments arrive, tickets get answered): every load
    # of a day range also refetches and replaces the N days before it.
    restatement_days: int = 0
    # A published index series (freight rates, FX, carbon price): small, restated by its
    # publisher, and needed back to 2019. All its day files are kept in landing and the table
    # holds their union, instead of thousands of daily Dagster partitions; a night reads only
    # the files that are new or changed (raw._landing_files).
    series: bool = False

    @property
    def partitioned(self) -> bool:
        """Time-based: lands one file per day (or per Monday for weekly tables)."""
        return self.cadence != "snapshot"

    @property
    def daily_partitioned(self) -> bool:
        """Tracked as daily Dagster partitions (a run loads only its days)."""
        return self.partitioned and not self.series


RAW_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        # ---------------------------------------------------------------- platform
        RawTable(
            name="catalog",
            family="platform",
            cadence="snapshot",
            primary_key=("sku",),
            description="Product catalog: one row per SKU, as exported from the seller's ERP/PIM.",
            columns={
                "sku": "VARCHAR",
                "title": "VARCHAR",
                "category": "VARCHAR",  # electronics, home_kitchen, apparel, beauty, toys, sports, tools, pet, auto_parts, furniture
                "unit_cost": "DOUBLE",  # purchase cost per unit in cost_currency
                "cost_currency": "VARCHAR",  # ISO 4217, CNY for Chinese suppliers
                "weight_kg": "DOUBLE",
                "length_cm": "DOUBLE",
                "width_cm": "DOUBLE",
                "height_cm": "DOUBLE",
                "hs_code": "VARCHAR",  # 6-digit HS subheading, zero-padded (from the bundled HS list)
                "origin_country": "VARCHAR",  # ISO 3166-1 alpha-2
                "supplier_id": "VARCHAR",
                "supplier_country": "VARCHAR",
                "voltage": "VARCHAR",  # '110V', '220V', 'universal' or 'none'
                "plug_type": "VARCHAR",  # IEC letter (A, C, G, I, ...) or 'none'
                "has_battery": "BOOLEAN",
                "doc_languages": "VARCHAR",  # ';'-separated ISO 639-1 codes of the manual/listing docs
                "launched_on": "DATE",
            },
            required=(
                "category",
                "unit_cost",
                "cost_currency",
                "weight_kg",
                "hs_code",
                "origin_country",
                "supplier_id",
            ),
        ),
        RawTable(
            name="orders",
            family="platform",
            cadence="daily",
            partition_column="ordered_at",
            primary_key=("order_line_id",),
            description="Order lines from marketplaces and the seller's own shop.",
            columns={
                "order_line_id": "VARCHAR",
                "order_id": "VARCHAR",
                "ordered_at": "TIMESTAMP",
                "marketplace": "VARCHAR",  # amazon, shopee, lazada, mercado_libre, tiktok_shop, shopify
                "destination_country": "VARCHAR",
                "sku": "VARCHAR",
                "quantity": "INTEGER",
                "unit_price": "DOUBLE",  # gross price paid per unit, in currency, incl. VAT where the market shows VAT-inclusive prices
                "currency": "VARCHAR",
            },
            required=(
                "order_id",
                "ordered_at",
                "marketplace",
                "destination_country",
                "sku",
                "quantity",
                "unit_price",
                "currency",
            ),
        ),
        RawTable(
            name="inventory",
            family="platform",
            cadence="daily",
            partition_column="snapshot_date",
            primary_key=("snapshot_date", "sku", "warehouse_id"),
            description="End-of-day inventory snapshot per SKU and destination warehouse.",
            columns={
                "snapshot_date": "DATE",
                "sku": "VARCHAR",
                "warehouse_id": "VARCHAR",
                "destination_country": "VARCHAR",  # market the warehouse serves
                "on_hand_units": "INTEGER",
                "inbound_units": "INTEGER",  # shipped, not yet received
                "replenishment_lead_time_days": "INTEGER",
            },
            required=("destination_country", "on_hand_units", "inbound_units", "replenishment_lead_time_days"),
        ),
        RawTable(
            name="shipments",
            family="platform",
            cadence="daily",
            restatement_days=120,
            partition_column="departed_at",
            primary_key=("shipment_id",),
            description="Replenishment shipments from origin to destination warehouses.",
            columns={
                "shipment_id": "VARCHAR",
                "sku": "VARCHAR",
                "lane_id": "VARCHAR",  # matches freight_rates.lane_id
                "mode": "VARCHAR",  # ocean_fcl_40ft, ocean_lcl, air, rail, truck
                "origin_country": "VARCHAR",
                "destination_country": "VARCHAR",
                "units": "INTEGER",
                "gross_weight_kg": "DOUBLE",
                "volume_cbm": "DOUBLE",
                "departed_at": "TIMESTAMP",
                "arrived_at": "TIMESTAMP",  # NULL while in transit
                "planned_transit_days": "DOUBLE",
                "freight_cost": "DOUBLE",
                "currency": "VARCHAR",
            },
            required=("sku", "lane_id", "mode", "destination_country", "units", "departed_at", "planned_transit_days"),
        ),
        RawTable(
            name="traffic",
            family="platform",
            cadence="daily",
            partition_column="traffic_date",
            primary_key=("traffic_date", "sku", "marketplace", "destination_country"),
            description="Daily listing traffic per SKU, marketplace and market.",
            columns={
                "traffic_date": "DATE",
                "sku": "VARCHAR",
                "marketplace": "VARCHAR",
                "destination_country": "VARCHAR",
                "sessions": "INTEGER",
                "page_views": "INTEGER",
                "add_to_cart": "INTEGER",  # sessions with an add-to-cart
                "ordered_sessions": "INTEGER",  # sessions that ordered (conversion = ordered_sessions / sessions)
            },
            required=("sessions", "page_views", "add_to_cart", "ordered_sessions"),
        ),
        RawTable(
            name="competitors",
            family="platform",
            cadence="weekly",
            partition_column="snapshot_date",
            primary_key=("snapshot_date", "sku", "marketplace", "destination_country"),
            description="Weekly competitor snapshot of each listing (lands on Mondays).",
            columns={
                "snapshot_date": "DATE",
                "sku": "VARCHAR",
                "marketplace": "VARCHAR",
                "destination_country": "VARCHAR",
                "sellers_on_listing": "INTEGER",
                "competitor_median_price": "DOUBLE",
                "currency": "VARCHAR",
                "competitor_review_count": "INTEGER",
                "own_review_count": "INTEGER",
            },
            required=("sellers_on_listing", "competitor_median_price", "currency"),
        ),
        RawTable(
            name="reviews",
            family="platform",
            cadence="daily",
            partition_column="reviewed_at",
            primary_key=("review_id",),
            description="Product reviews with a classified topic.",
            columns={
                "review_id": "VARCHAR",
                "sku": "VARCHAR",
                "marketplace": "VARCHAR",
                "destination_country": "VARCHAR",
                "reviewed_at": "TIMESTAMP",
                "rating": "INTEGER",  # 1..5
                "topic": "VARCHAR",  # see COMPLAINT_TOPICS, or 'praise'
                "language": "VARCHAR",
            },
            required=("sku", "destination_country", "reviewed_at", "rating", "topic"),
        ),
        RawTable(
            name="returns",
            family="platform",
            cadence="daily",
            partition_column="returned_at",
            primary_key=("return_id",),
            description="Customer returns of order lines with the stated reason.",
            columns={
                "return_id": "VARCHAR",
                "order_line_id": "VARCHAR",
                "sku": "VARCHAR",
                "destination_country": "VARCHAR",
                "returned_at": "TIMESTAMP",
                "quantity": "INTEGER",
                "reason": "VARCHAR",  # see RETURN_REASONS
            },
            required=("order_line_id", "sku", "destination_country", "returned_at", "quantity", "reason"),
        ),
        RawTable(
            name="tickets",
            family="platform",
            cadence="daily",
            restatement_days=45,
            partition_column="created_at",
            primary_key=("ticket_id",),
            description="Customer-service tickets across channels, bot or human handled.",
            columns={
                "ticket_id": "VARCHAR",
                "order_id": "VARCHAR",  # NULL for pre-sale questions
                "sku": "VARCHAR",
                "marketplace": "VARCHAR",
                "destination_country": "VARCHAR",
                "channel": "VARCHAR",  # email, chat, marketplace_message, phone, social
                "buyer_language": "VARCHAR",
                "response_language": "VARCHAR",
                "created_at": "TIMESTAMP",
                "first_response_at": "TIMESTAMP",  # NULL if never answered
                "resolved_at": "TIMESTAMP",  # NULL while open
                "topic": "VARCHAR",  # see COMPLAINT_TOPICS plus 'pre_sale_question', 'order_status'
                "handled_by": "VARCHAR",  # 'bot' or 'human'
                "contacts": "INTEGER",  # buyer contacts until resolution (1 = first-contact resolution)
                "reopened": "BOOLEAN",
                "csat": "INTEGER",  # 1..5, NULL if the buyer did not rate
            },
            required=("destination_country", "channel", "created_at", "topic", "handled_by", "contacts", "reopened"),
        ),
        # ---------------------------------------------------------------- freight
        RawTable(
            name="freight_rates",
            series=True,
            family="freight",
            cadence="weekly",
            partition_column="rate_week",
            primary_key=("rate_week", "lane_id", "mode"),
            description="Weekly freight rate index per lane and mode (lands on the Monday of the week).",
            columns={
                "rate_week": "DATE",  # Monday of the week
                "lane_id": "VARCHAR",  # e.g. CNSHA-DEHAM
                "origin_country": "VARCHAR",
                "origin_port": "VARCHAR",  # UN/LOCODE
                "destination_country": "VARCHAR",
                "destination_port": "VARCHAR",
                "mode": "VARCHAR",  # ocean_fcl_40ft, ocean_lcl, air, rail, truck
                "rate": "DOUBLE",
                "rate_unit": "VARCHAR",  # per_container (FCL 40ft), per_cbm (LCL), per_kg (air, rail, truck)
                "currency": "VARCHAR",
                "transit_days": "DOUBLE",
                "distance_km": "DOUBLE",
            },
            required=(
                "origin_country",
                "destination_country",
                "rate",
                "rate_unit",
                "currency",
                "transit_days",
                "distance_km",
            ),
        ),
        # ---------------------------------------------------------------- policy
        RawTable(
            name="vat_rates",
            family="policy",
            cadence="snapshot",
            primary_key=("country_code", "effective_from"),
            description="VAT/GST standard and reduced rates per country with validity periods.",
            columns={
                "country_code": "VARCHAR",
                "effective_from": "DATE",
                "effective_to": "DATE",  # exclusive; NULL = open-ended
                "standard_rate_pct": "DOUBLE",
                "reduced_rate_pct": "DOUBLE",
                "source": "VARCHAR",
            },
            required=("standard_rate_pct", "source"),
        ),
        RawTable(
            name="duty_rates",
            family="policy",
            cadence="snapshot",
            primary_key=("destination_country", "commodity_code", "effective_from"),
            description="MFN import duty per destination and commodity code with validity periods.",
            columns={
                "destination_country": "VARCHAR",  # GB, or each EU member for the EU CET
                "commodity_code": "VARCHAR",  # 8 or 10 digits, zero-padded
                "hs6": "VARCHAR",  # first 6 digits
                "description": "VARCHAR",
                "rate_text": "VARCHAR",  # as published, e.g. '12.0%', '41.20 EUR / 100 kg', '8.0% + 12 GBP / 100 kg'
                "ad_valorem_pct": "DOUBLE",
                "specific_amount": "DOUBLE",  # per specific_per units of specific_unit
                "specific_currency": "VARCHAR",
                "specific_per": "DOUBLE",
                "specific_unit": "VARCHAR",  # kg, l, item, ...
                "effective_from": "DATE",
                "effective_to": "DATE",  # exclusive; NULL = open-ended
                "source": "VARCHAR",
            },
            required=("hs6", "rate_text", "effective_from", "source"),
        ),
        RawTable(
            name="de_minimis",
            family="policy",
            cadence="snapshot",
            primary_key=("country_code", "applies_to", "effective_from"),
            description="De-minimis thresholds under which duty (or VAT) is not collected.",
            columns={
                "country_code": "VARCHAR",
                "applies_to": "VARCHAR",  # 'duty' or 'vat'
                "threshold_amount": "DOUBLE",
                "currency": "VARCHAR",
                "effective_from": "DATE",
                "effective_to": "DATE",
                "source": "VARCHAR",
            },
            required=("threshold_amount", "currency", "source"),
        ),
        RawTable(
            name="digital_services_taxes",
            family="policy",
            cadence="snapshot",
            primary_key=("country_code", "effective_from"),
            description="Digital-services taxes and marketplace levies by country.",
            columns={
                "country_code": "VARCHAR",
                "rate_pct": "DOUBLE",
                "scope": "VARCHAR",
                "effective_from": "DATE",
                "effective_to": "DATE",
                "source": "VARCHAR",
            },
            required=("rate_pct", "source"),
        ),
        RawTable(
            name="regulatory_events",
            family="policy",
            cadence="snapshot",
            primary_key=("event_id",),
            description="Announced regulatory changes (duty, VAT, DST, CBAM, product rules).",
            columns={
                "event_id": "VARCHAR",
                "country_code": "VARCHAR",
                "hs_scope": "VARCHAR",  # HS prefix the event touches ('' = all goods)
                "kind": "VARCHAR",  # duty_change, vat_change, dst, cbam, de_minimis_change, product_rule
                "announced_on": "DATE",
                "effective_on": "DATE",
                "new_rate_pct": "DOUBLE",  # for rate changes, NULL otherwise
                "summary": "VARCHAR",
            },
            required=("country_code", "kind", "announced_on", "effective_on", "summary"),
        ),
        RawTable(
            name="fx_rates",
            series=True,
            family="policy",
            cadence="daily",
            partition_column="rate_date",
            primary_key=("rate_date", "currency"),
            description="Daily reference FX rates: units of currency per 1 USD.",
            columns={
                "rate_date": "DATE",
                "currency": "VARCHAR",
                "units_per_usd": "DOUBLE",
            },
            required=("units_per_usd",),
        ),
        # ---------------------------------------------------------------- carbon
        RawTable(
            name="emission_factors",
            family="carbon",
            cadence="snapshot",
            primary_key=("activity_id",),
            description="Freight emission factors per tonne-km (Climatiq Open Emission Factors DB, mostly BEIS/DEFRA 2021).",
            columns={
                "activity_id": "VARCHAR",
                "category": "VARCHAR",  # Sea Freight, Air Freight, Rail Freight, Road Freight
                "name": "VARCHAR",
                "activity_unit": "VARCHAR",
                "kg_co2e_per_unit": "DOUBLE",
                "lca_activity": "VARCHAR",  # fuel_combustion or well_to_tank
                "source": "VARCHAR",
                "year_released": "INTEGER",
                "region": "VARCHAR",
            },
            required=("category", "activity_unit", "kg_co2e_per_unit", "source"),
        ),
        RawTable(
            name="cbam_scope",
            family="carbon",
            cadence="snapshot",
            primary_key=("hs_prefix",),
            description="HS prefixes in scope of the EU Carbon Border Adjustment Mechanism.",
            columns={
                "hs_prefix": "VARCHAR",
                "sector": "VARCHAR",
                "default_kg_co2e_per_kg": "DOUBLE",  # embedded-emission default per kg of product
                "source": "VARCHAR",
            },
            required=("sector", "source"),
        ),
        RawTable(
            name="carbon_prices",
            series=True,
            family="carbon",
            cadence="daily",
            partition_column="price_date",
            primary_key=("price_date", "scheme"),
            description="Carbon price series (EU ETS, EUR per tonne CO2e).",
            columns={
                "price_date": "DATE",
                "scheme": "VARCHAR",
                "price": "DOUBLE",
                "currency": "VARCHAR",
            },
            required=("price", "currency"),
        ),
    ]
}

FAMILIES: tuple[str, ...] = ("platform", "freight", "policy", "carbon")

MODES: tuple[str, ...] = ("ocean_fcl_40ft", "ocean_lcl", "air", "rail", "truck")

#: How each mode is quoted in freight_rates.rate_unit.
RATE_UNIT_BY_MODE: dict[str, str] = {
    "ocean_fcl_40ft": "per_container",
    "ocean_lcl": "per_cbm",
    "air": "per_kg",
    "rail": "per_kg",
    "truck": "per_kg",
}

CATEGORIES: tuple[str, ...] = (
    "electronics",
    "home_kitchen",
    "apparel",
    "beauty",
    "toys",
    "sports",
    "tools",
    "pet",
    "auto_parts",
    "furniture",
)
CHANNELS: tuple[str, ...] = ("email", "chat", "marketplace_message", "phone", "social")
HANDLED_BY: tuple[str, ...] = ("bot", "human")
VOLTAGES: tuple[str, ...] = ("110V", "220V", "universal", "none")
REGULATORY_KINDS: tuple[str, ...] = (
    "duty_change",
    "vat_change",
    "dst",
    "cbam",
    "de_minimis_change",
    "product_rule",
)

COMPLAINT_TOPICS: tuple[str, ...] = (
    "installation",
    "sizing",
    "voltage",
    "damaged_packaging",
    "late_delivery",
    "not_as_described",
    "quality",
    "missing_parts",
)

RETURN_REASONS: tuple[str, ...] = (
    "voltage_mismatch",
    "sizing",
    "damaged",
    "not_as_described",
    "defective",
    "changed_mind",
    "late_delivery",
)


def tables_of(family: str) -> list[RawTable]:
    """The raw tables of one source family, in declaration order."""
    return [t for t in RAW_TABLES.values() if t.family == family]
