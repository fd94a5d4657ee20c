"""Reference lists the quality suites check codes against.

Market countries and currencies come from the dbt seed ``markets.csv`` (the one list of
markets Tradewinds serves); the ISO 3166-1 list is the officially assigned alpha-2 codes.
Only the suite generator (``suites.py``) reads these, never the Dagster definitions.
"""

from __future__ import annotations

import csv
from functools import lru_cache

from orchestration.lib.settings import PROJECT_ROOT

MARKETS_CSV = PROJECT_ROOT / "dbt_project" / "seeds" / "markets.csv"

#: ISO 3166-1 alpha-2: the 249 officially assigned codes.
ISO_COUNTRIES: tuple[str, ...] = tuple(
    ["AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW"]
)

#: Policy tables may also name the EU as a whole (CET, CBAM, EU-wide de-minimis): "EU" is an
#: exceptionally reserved ISO 3166-1 code.
POLICY_COUNTRIES: tuple[str, ...] = (*ISO_COUNTRIES, "EU")

#: Currencies that may appear besides the market currencies: Chinese suppliers (CNY) and the
#: two reference currencies of freight and carbon prices.
EXTRA_CURRENCIES: tuple[str, ...] = ("CNY", "EUR", "USD")

#: Currencies with more than ~100 units per USD: their prices get a wider upper bound.
HIGH_DENOMINATION_CURRENCIES: tuple[str, ...] = ("JPY", "KRW")

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
RATE_UNIT_BY_MODE: dict[str, str] = {
    "ocean_fcl_40ft": "per_container",
    "ocean_lcl": "per_cbm",
    "air": "per_kg",
    "rail": "per_kg",
    "truck": "per_kg",
}
REGULATORY_KINDS: tuple[str, ...] = (
    "duty_change",
    "vat_change",
    "dst",
    "cbam",
    "de_minimis_change",
    "product_rule",
)
EMISSION_CATEGORIES: tuple[str, ...] = ("Sea Freight", "Air Freight", "Rail Freight", "Road Freight")
EMISSION_ACTIVITY_UNITS: tuple[str, ...] = ("tonne-km", "ton-mile")
RISK_TIERS: tuple[str, ...] = ("high", "medium", "low")


@lru_cache(maxsize=1)
def _markets() -> tuple[dict[str, str], ...]:
    with MARKETS_CSV.open(newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def market_countries() -> tuple[str, ...]:
    """Destination markets (country codes) from the markets seed, in seed order."""
    return tuple(row["country_code"] for row in _markets())


def currencies() -> tuple[str, ...]:
    """Market currencies plus CNY, EUR and USD, sorted."""
    return tuple(sorted({row["currency"] for row in _markets()} | set(EXTRA_CURRENCIES)))


def marketplaces() -> tuple[str, ...]:
    """Every marketplace some market sells through, sorted."""
    return tuple(sorted({m for row in _markets() for m in row["marketplaces"].split(";") if m}))
