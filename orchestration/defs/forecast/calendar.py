"""Demand calendar: destination public holidays and marketplace sales events.

Public holidays come from the ``holidays`` package (national holidays of the destination,
no subdivisions). They are pooled into one ``public holiday`` effect, with Christmas
(24-26 December, where 25 December is a public holiday) apart: two years of daily sales of
one SKU hold each holiday twice, too few to estimate one effect per holiday, while the pooled
effect is seen 20-40 times. Fewer holiday columns also make every Prophet fit cheaper.

Marketplace events are not in any package, so their dates are kept here:

- **Black Friday**: the Friday after the fourth Thursday of November (US Thanksgiving), run
  by Amazon, Shopify stores, TikTok Shop and Mercado Libre in every non-SE-Asian market we
  sell to (the Gulf calls it "White Friday"). The window starts on the Monday of
  Thanksgiving week (early deals) and runs through Sunday. **Cyber Monday** is the Monday
  after. Rule-based, so every year is known.
- **Amazon Prime Day**: announced by Amazon each year (press.aboutamazon.com, "Prime Day
  <year> dates"), 2 days in mid-July except 2020 (October, pandemic), 2021 (June) and 2025
  (4 days). Markets: those where Amazon runs Prime Day among ours. Years not in
  :data:`PRIME_DAYS` (not announced when this was written) are *projected* as the Tuesday
  in 10-16 July and the Wednesday after, which matches 2019 and 2022-2024 within a day;
  update the table when Amazon announces the dates.
- **Double-day sales**: 11.11 (Singles' Day; Shopee, Lazada, TikTok Shop, AliExpress) in
  every market; 9.9, 10.10 and 12.12 (Shopee and Lazada "mega sale" days) in the SE Asia
  markets. Fixed dates.

Event dates are market-wide: a SKU not sold on the marketplace running the event simply
gets an effect near zero from the fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

#: Amazon Prime Day dates by year (US/EU dates; Amazon announces them each June).
PRIME_DAYS: dict[int, tuple[str, ...]] = {
    2018: ("2018-07-16", "2018-07-17"),
    2019: ("2019-07-15", "2019-07-16"),
    2020: ("2020-10-13", "2020-10-14"),
    2021: ("2021-06-21", "2021-06-22"),
    2022: ("2022-07-12", "2022-07-13"),
    2023: ("2023-07-11", "2023-07-12"),
    2024: ("2024-07-16", "2024-07-17"),
    2025: ("2025-07-08", "2025-07-09", "2025-07-10", "2025-07-11"),
}
#: Markets (ISO codes) where Amazon runs Prime Day, among the markets Tradewinds sells to.
PRIME_DAY_MARKETS = frozenset(
    {"US", "CA", "MX", "BR", "GB", "DE", "FR", "IT", "ES", "NL", "PL", "SE", "JP", "AU", "AE", "SG"}
)
#: SE Asia markets: double-day sales instead of Black Friday.
SE_ASIA_MARKETS = frozenset({"SG", "MY", "TH", "PH", "ID", "VN"})
#: Shopee/Lazada double days in SE Asia (month == day); 11.11 is global.
SE_ASIA_DOUBLE_DAYS = (9, 10, 12)

PUBLIC_HOLIDAY = "public holiday"
CHRISTMAS = "Christmas"
BLACK_FRIDAY = "Black Friday"
CYBER_MONDAY = "Cyber Monday"
PRIME_DAY = "Prime Day"
PRIME_DAY_EVE = "Prime Day eve"
SINGLES_DAY = "Singles Day 11.11"
#: Columns of a Prophet holidays frame.
HOLIDAY_COLUMNS = ["holiday", "ds", "lower_window", "upper_window"]
#: Weekly regressors: days of each kind in a 7-day bucket.
WEEKLY_REGRESSORS = ("public_holiday_days", "black_friday_days", "prime_days", "double_days")


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November."""
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def prime_days(year: int) -> tuple[list[dt.date], bool]:
    """Prime Day dates of ``year`` and whether they are projected rather than announced."""
    if year in PRIME_DAYS:
        return [dt.date.fromisoformat(d) for d in PRIME_DAYS[year]], False
    tuesday = next(dt.date(year, 7, d) for d in range(10, 17) if dt.date(year, 7, d).weekday() == 1)
    return [tuesday, tuesday + dt.timedelta(days=1)], True


def marketplace_events(country: str, years: Iterable[int]) -> pd.DataFrame:
    """Marketplace events of ``country`` as Prophet holiday rows (see the module docstring)."""
    rows: list[tuple[str, dt.date, int, int]] = []
    sea = country in SE_ASIA_MARKETS
    for year in years:
        if not sea:
            bf = black_friday(year)
            rows.append((BLACK_FRIDAY, bf, -4, 2))
            rows.append((CYBER_MONDAY, bf + dt.timedelta(days=3), 0, 0))
        if country in PRIME_DAY_MARKETS:
            days, _ = prime_days(year)
            rows.extend((PRIME_DAY, d, 0, 0) for d in days)
            rows.append((PRIME_DAY_EVE, min(days) - dt.timedelta(days=1), 0, 0))
        rows.append((SINGLES_DAY, dt.date(year, 11, 11), 0, 0))
        if sea:
            rows.extend((f"Double {m}.{m}", dt.date(year, m, m), 0, 0) for m in SE_ASIA_DOUBLE_DAYS)
    frame = pd.DataFrame(rows, columns=HOLIDAY_COLUMNS)
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def public_holidays(country: str, years: Iterable[int]) -> pd.DataFrame:
    """National public holidays of ``country`` (``holidays`` package) as Prophet holiday rows.

    One pooled ``public holiday`` row per date, and a ``Christmas`` row (window 24-26
    December) in years where 25 December is a public holiday; Christmas days are not also
    counted as pooled holidays. Raises ValueError naming the country when the package has no
    calendar for it.
    """
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=list(years))
    except NotImplementedError as exc:
        raise ValueError(
            f"No public-holiday calendar for country {country!r} in the holidays package: "
            "use an ISO 3166 alpha-2 code from dbt_project/seeds/markets.csv"
        ) from exc
    rows: list[tuple[str, dt.date, int, int]] = []
    christmas_days: set[dt.date] = set()
    for year in sorted(set(years)):
        eve = dt.date(year, 12, 24)
        if dt.date(year, 12, 25) in calendar:
            rows.append((CHRISTMAS, eve, 0, 2))
            christmas_days.update(eve + dt.timedelta(days=o) for o in range(3))
    rows.extend((PUBLIC_HOLIDAY, d, 0, 0) for d in sorted(calendar) if d not in christmas_days)
    frame = pd.DataFrame(rows, columns=HOLIDAY_COLUMNS)
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


@lru_cache(maxsize=256)
def holiday_frame(country: str, first_year: int, last_year: int) -> pd.DataFrame:
    """Public holidays and marketplace events of ``country`` for Prophet's ``holidays=``.

    Cached per process: the frame is the same for every series of a market. Callers must
    not modify it.
    """
    years = range(first_year, last_year + 1)
    frame = pd.concat([public_holidays(country, years), marketplace_events(country, years)], ignore_index=True)
    return frame.sort_values(["ds", "holiday"], kind="stable").reset_index(drop=True)


@lru_cache(maxsize=256)
def _flagged_days(country: str, first_year: int, last_year: int) -> dict[str, np.ndarray]:
    """Per calendar kind, the sorted days (since 1970) it marks in ``country`` over the years."""
    frame = holiday_frame(country, first_year, last_year)
    kinds: dict[str, set[int]] = {name: set() for name in WEEKLY_REGRESSORS}
    for row in frame.itertuples(index=False):
        base = int(np.datetime64(row.ds, "D").astype(np.int64))
        window = range(base + int(row.lower_window), base + int(row.upper_window) + 1)
        if row.holiday in (PUBLIC_HOLIDAY, CHRISTMAS):
            kinds["public_holiday_days"].update(window)
        elif row.holiday in (BLACK_FRIDAY, CYBER_MONDAY):
            kinds["black_friday_days"].update(window)
        elif row.holiday == PRIME_DAY:
            kinds["prime_days"].add(base)
        elif row.holiday != PRIME_DAY_EVE:
            kinds["double_days"].add(base)
    return {name: np.array(sorted(days), dtype=np.int64) for name, days in kinds.items()}


def weekly_calendar_regressors(country: str, week_ends: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """For 7-day buckets ending on ``week_ends``: how many days of each calendar kind they hold.

    Used as Prophet regressors for weekly series, where a daily holiday indicator would only
    match when the holiday falls on the bucket's last day.
    """
    ends = pd.DatetimeIndex(pd.to_datetime(week_ends))
    if ends.empty:
        return pd.DataFrame({name: pd.Series([], dtype=float) for name in WEEKLY_REGRESSORS})
    end_days = ends.values.astype("datetime64[D]").astype(np.int64)
    flagged = _flagged_days(country, (ends.min() - pd.Timedelta(days=6)).year, ends.max().year)
    out = {}
    for name in WEEKLY_REGRESSORS:
        days = flagged[name]
        out[name] = (
            np.searchsorted(days, end_days, side="right") - np.searchsorted(days, end_days - 7, side="right")
        ).astype(float)
    return pd.DataFrame(out)
