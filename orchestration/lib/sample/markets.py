"""The 20 destination markets and their demand calendar.

Market facts (currency, language, voltage class, marketplaces, port) come from the dbt seed
``dbt_project/seeds/markets.csv``; this module adds what only the generator needs: relative
market size, a UTC offset for the time of day, and the demand calendar (trend, yearly
seasonality, weekdays, public holidays from the ``holidays`` package, Black Friday / Cyber
Monday, Prime Day, the double-day sales of South-East Asian marketplaces, Christmas).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from orchestration.lib.settings import PROJECT_ROOT

MARKETS_CSV = PROJECT_ROOT / "dbt_project" / "seeds" / "markets.csv"

MARKETPLACES: tuple[str, ...] = ("amazon", "shopee", "lazada", "mercado_libre", "tiktok_shop", "shopify")

# Relative order volume of each market for a China-based seller (US largest, then EU5, UK, JP).
MARKET_SIZE: dict[str, float] = {
    "US": 0.22, "CA": 0.045, "MX": 0.035, "BR": 0.04, "GB": 0.09, "DE": 0.09, "FR": 0.05, "IT": 0.04,
    "ES": 0.04, "NL": 0.025, "PL": 0.02, "SE": 0.015, "JP": 0.07, "KR": 0.02, "AU": 0.04, "SG": 0.02,
    "MY": 0.025, "TH": 0.03, "PH": 0.03, "AE": 0.02,
}  # fmt: skip
# Approximate UTC offset (hours) of most buyers, for the time of day of orders and tickets.
UTC_OFFSET: dict[str, float] = {
    "US": -6, "CA": -6, "MX": -6, "BR": -3, "GB": 0, "DE": 1, "FR": 1, "IT": 1, "ES": 1, "NL": 1, "PL": 1,
    "SE": 1, "JP": 9, "KR": 9, "AU": 10, "SG": 8, "MY": 8, "TH": 7, "PH": 8, "AE": 4,
}  # fmt: skip
# Price level of a market relative to the US (import costs, competition, purchasing power).
PRICE_LEVEL: dict[str, float] = {
    "US": 1.0, "CA": 1.02, "MX": 1.05, "BR": 1.3, "GB": 1.0, "DE": 1.0, "FR": 1.0, "IT": 0.98, "ES": 0.96,
    "NL": 1.0, "PL": 0.9, "SE": 1.05, "JP": 1.05, "KR": 0.95, "AU": 1.08, "SG": 0.92, "MY": 0.8, "TH": 0.78,
    "PH": 0.78, "AE": 1.05,
}  # fmt: skip


@dataclass(frozen=True)
class Market:
    code: str
    name: str
    region: str
    currency: str
    language: str
    voltage_class: str
    plug_types: tuple[str, ...]
    is_eu: bool
    prices_include_vat: bool
    marketplaces: tuple[str, ...]
    main_port: str
    sla_hours: float


@lru_cache(maxsize=1)
def markets() -> tuple[Market, ...]:
    """The markets of the seed file, in file order."""
    with MARKETS_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append(
            Market(
                code=r["country_code"],
                name=r["country_name"],
                region=r["region"],
                currency=r["currency"],
                language=r["language"],
                voltage_class=r["voltage_class"],
                plug_types=tuple(r["plug_types"].split(";")),
                is_eu=r["is_eu"].strip().lower() == "true",
                prices_include_vat=r["prices_include_vat"].strip().lower() == "true",
                marketplaces=tuple(r["marketplaces"].split(";")),
                main_port=r["main_port"],
                sla_hours=float(r.get("service_sla_hours") or 24),
            )
        )
    return tuple(out)


def market_codes() -> list[str]:
    return [m.code for m in markets()]


def currencies() -> list[str]:
    """Every currency the sample prices in, plus CNY (supplier costs); USD first."""
    cur = []
    for m in markets():
        if m.currency not in cur:
            cur.append(m.currency)
    if "USD" in cur:
        cur.remove("USD")
    return ["USD", *cur, "CNY"]


# ------------------------------------------------------------------ calendar

_WESTERN = {"US", "CA", "MX", "BR", "GB", "DE", "FR", "IT", "ES", "NL", "PL", "SE", "AU"}
_BLACK_FRIDAY = _WESTERN | {"AE"}  # 'White Friday' in the Gulf
_SEA = {"SG", "MY", "TH", "PH"}
_DOUBLE_DAY_MARKETPLACES = {"shopee", "lazada", "tiktok_shop"}

# Monthly demand factors (Jan..Dec), interpolated between mid-months.
_ANNUAL = {
    "western": [0.92, 0.86, 0.92, 0.93, 0.95, 0.94, 1.0, 0.96, 0.95, 1.0, 1.18, 1.3],
    "sea": [0.95, 0.9, 0.95, 0.97, 0.98, 0.98, 1.0, 0.98, 1.0, 1.02, 1.1, 1.12],
    "north_asia": [0.95, 0.9, 1.0, 0.95, 0.95, 0.97, 1.0, 0.98, 0.95, 0.98, 1.05, 1.2],
    "gulf": [1.0, 0.97, 1.0, 1.0, 0.98, 0.95, 0.95, 0.97, 1.0, 1.02, 1.12, 1.1],
}
_CATEGORY_ANNUAL = {
    "electronics": [0.95, 0.9, 0.95, 0.95, 0.95, 0.95, 1.05, 1.0, 1.0, 1.0, 1.15, 1.2],
    "home_kitchen": [1.0, 0.95, 0.95, 0.95, 0.95, 0.9, 0.95, 0.95, 1.0, 1.05, 1.15, 1.2],
    "apparel": [0.9, 0.9, 1.1, 1.15, 1.1, 1.0, 0.95, 0.95, 1.1, 1.1, 1.0, 1.0],
    "beauty": [1.0, 1.05, 1.0, 1.0, 1.05, 1.0, 1.0, 0.95, 0.95, 1.0, 1.05, 1.1],
    "toys": [0.7, 0.75, 0.8, 0.85, 0.85, 0.85, 0.9, 0.9, 0.95, 1.1, 1.5, 2.0],
    "sports": [1.3, 1.15, 1.05, 1.05, 1.1, 1.1, 1.1, 1.0, 0.95, 0.9, 0.9, 0.9],
    "tools": [0.9, 0.95, 1.1, 1.2, 1.2, 1.15, 1.05, 1.0, 0.95, 0.9, 0.95, 1.0],
    "pet": [1.0] * 12,
    "auto_parts": [1.0, 0.95, 1.0, 1.05, 1.05, 1.05, 1.05, 1.05, 1.0, 1.0, 0.95, 0.95],
    "furniture": [1.15, 1.05, 1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.0, 1.05, 1.05],
}
_WEEKDAY = np.array([1.04, 1.02, 1.0, 0.98, 0.95, 0.93, 1.08])  # Monday..Sunday

# Amazon Prime Day dates (the 2026 date is an assumption: second week of July).
PRIME_DAYS: dict[int, tuple[str, ...]] = {
    2019: ("2019-07-15", "2019-07-16"),
    2020: ("2020-10-13", "2020-10-14"),
    2021: ("2021-06-21", "2021-06-22"),
    2022: ("2022-07-12", "2022-07-13"),
    2023: ("2023-07-11", "2023-07-12"),
    2024: ("2024-07-16", "2024-07-17"),
    2025: ("2025-07-08", "2025-07-09", "2025-07-10", "2025-07-11"),
    2026: ("2026-07-14", "2026-07-15"),
}
TREND_ANCHOR = dt.date(2025, 6, 1)
TREND_PER_YEAR = 0.15  # the seller grows ~16%/year


def _group(code: str, region: str) -> str:
    if code in _WESTERN:
        return "western"
    if code in _SEA:
        return "sea"
    if region == "middle_east":
        return "gulf"
    return "north_asia"


def _month_interp(factors: list[float], day: dt.date) -> float:
    """Monthly factors interpolated linearly between mid-months (no step at month boundaries)."""
    x = day.month - 1 + (day.day - 15) / 30.5
    lo = int(np.floor(x))
    w = x - lo
    return float(factors[lo % 12] * (1 - w) + factors[(lo + 1) % 12] * w)


@lru_cache(maxsize=64)
def _holiday_ordinals(code: str) -> frozenset[int]:
    import holidays

    try:
        h = holidays.country_holidays(code, years=range(2016, 2031))
    except NotImplementedError:  # pragma: no cover - every market is supported today
        return frozenset()
    return frozenset(d.toordinal() for d in h)


def is_holiday(code: str, day: dt.date) -> bool:
    return day.toordinal() in _holiday_ordinals(code)


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November (US Thanksgiving)."""
    nov1 = dt.date(year, 11, 1)
    first_thu = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thu + dt.timedelta(days=22)


def prime_days(year: int) -> set[dt.date]:
    days = PRIME_DAYS.get(year)
    if days is None:  # assumed: Tuesday and Wednesday of the second full week of July
        jul1 = dt.date(year, 7, 1)
        tue = jul1 + dt.timedelta(days=(1 - jul1.weekday()) % 7 + 7)
        return {tue, tue + dt.timedelta(days=1)}
    return {dt.date.fromisoformat(d) for d in days}


def trend(day: dt.date | np.ndarray) -> float | np.ndarray:
    """Business growth multiplier, 1.0 on :data:`TREND_ANCHOR`."""
    if isinstance(day, dt.date):
        return float(np.exp(TREND_PER_YEAR * (day.toordinal() - TREND_ANCHOR.toordinal()) / 365.25))
    return np.exp(TREND_PER_YEAR * (np.asarray(day, dtype=float) - TREND_ANCHOR.toordinal()) / 365.25)


@lru_cache(maxsize=4096)
def market_day_factors(day: dt.date) -> np.ndarray:
    """Demand multiplier of each market (file order) on a day, before marketplace events."""
    out = np.empty(len(markets()))
    wd = _WEEKDAY[day.weekday()]
    bf = black_friday(day.year)
    for i, m in enumerate(markets()):
        f = _month_interp(_ANNUAL[_group(m.code, m.region)], day) * wd
        if is_holiday(m.code, day):
            f *= 0.85
        if m.code in _WESTERN or m.code in {"JP", "KR"}:
            if day.month == 12 and 24 <= day.day <= 26:
                f *= 0.55
            elif day.month == 12 and day.day <= 18:
                f *= 1.12
        if m.code in _BLACK_FRIDAY:
            delta = (day - bf).days
            f *= {-4: 1.3, -3: 1.3, -2: 1.35, -1: 1.2, 0: 2.6, 1: 1.6, 2: 1.5, 3: 2.2, 4: 1.2}.get(delta, 1.0)
        if m.code in {"SG", "MY"} and is_holiday("SG", day) and day.month in (1, 2):
            f *= 0.85  # Lunar New Year
        out[i] = f
    return out


@lru_cache(maxsize=4096)
def marketplace_event_factors(day: dt.date) -> np.ndarray:
    """Extra multiplier per (market, marketplace) from marketplace sales events, shape (markets, MARKETPLACES)."""
    ms = markets()
    out = np.ones((len(ms), len(MARKETPLACES)))
    prime = prime_days(day.year)
    amazon = MARKETPLACES.index("amazon")
    if day in prime:
        out[:, amazon] = 2.6
    elif day + dt.timedelta(days=1) in prime:
        out[:, amazon] = 0.85  # buyers wait for the deal
    double = day.month == day.day
    if double:
        boost = {11: 4.0, 12: 2.5, 9: 2.0, 10: 1.8}.get(day.month, 1.4)
        for i, m in enumerate(ms):
            for j, mp in enumerate(MARKETPLACES):
                if mp in _DOUBLE_DAY_MARKETPLACES:
                    if m.code in _SEA:
                        out[i, j] = boost
                    elif day.month == 11:
                        out[i, j] = 1.5
    return out


def category_factors(categories: tuple[str, ...], day: dt.date) -> np.ndarray:
    return np.array([_month_interp(_CATEGORY_ANNUAL[c], day) for c in categories])


def expected_factor_grid(day_ordinals: np.ndarray, market_idx: np.ndarray) -> np.ndarray:
    """Smooth expected demand multiplier (trend x monthly market seasonality) for planning.

    Replenishment planning in the sample uses this smooth curve (no holidays or events), so
    that fixed-cycle shipments miss event peaks the way real fixed-cycle planning does.
    """
    ms = markets()
    groups = np.array([list(_ANNUAL[_group(m.code, m.region)]) for m in ms])  # (M, 12)
    d = np.asarray(day_ordinals, dtype=np.int64)
    # fractional month index of each ordinal, vectorised via dates of a reference table
    months, days_ = _month_day_of(d)
    x = months - 1 + (days_ - 15) / 30.5
    lo = np.floor(x).astype(int)
    w = x - lo
    mi = np.asarray(market_idx)
    f = groups[mi, lo % 12] * (1 - w) + groups[mi, (lo + 1) % 12] * w
    return f * trend(d)


def category_factor_grid(day_ordinals: np.ndarray, category_idx: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    table = np.array([_CATEGORY_ANNUAL[c] for c in categories])
    months, days_ = _month_day_of(np.asarray(day_ordinals, dtype=np.int64))
    x = months - 1 + (days_ - 15) / 30.5
    lo = np.floor(x).astype(int)
    w = x - lo
    ci = np.asarray(category_idx)
    return table[ci, lo % 12] * (1 - w) + table[ci, (lo + 1) % 12] * w


_ORD0 = dt.date(2010, 1, 1).toordinal()


@lru_cache(maxsize=1)
def _month_day_table() -> tuple[np.ndarray, np.ndarray]:
    n = dt.date(2040, 1, 1).toordinal() - _ORD0
    base = np.datetime64("2010-01-01") + np.arange(n).astype("timedelta64[D]")
    months = base.astype("datetime64[M]").astype(int) % 12 + 1
    days_ = (base - base.astype("datetime64[M]")).astype(int) + 1
    return months, days_


def _month_day_of(ordinals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    months, days_ = _month_day_table()
    idx = np.clip(ordinals - _ORD0, 0, len(months) - 1)
    return months[idx], days_[idx]
