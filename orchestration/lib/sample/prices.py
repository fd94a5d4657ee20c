"""Daily reference series the platform tables price with: FX, VAT by market, carbon price.

Each is a pure function of (seed, day): the ``fx_rates`` table publishes exactly the values
the order prices were converted with, so a reader can reproduce every price.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from orchestration.lib.sample import curves
from orchestration.lib.sample._rand import normal, smooth_noise
from orchestration.lib.sample.markets import currencies, markets


def _round_sig(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < 10, np.round(x, 5), np.where(x < 1000, np.round(x, 3), np.round(x, 2)))


_BLOCK = 512  # days per cached block of a daily series


def fx_units_per_usd(seed: int, currency: str, ordinals: np.ndarray | int) -> np.ndarray:
    """Units of ``currency`` per USD on day ordinals (weekends carry Friday's fixing)."""
    o = np.atleast_1d(np.asarray(ordinals, dtype=np.int64))
    return _blocked(_fx_block, seed, currency, o)


def _blocked(fn, seed: int, key: str, o: np.ndarray) -> np.ndarray:
    out = np.empty(o.shape, dtype=np.float64)
    blocks = o // _BLOCK
    for b in np.unique(blocks):
        sel = blocks == b
        out[sel] = fn(seed, key, int(b))[o[sel] - b * _BLOCK]
    return out


@lru_cache(maxsize=512)
def _fx_block(seed: int, currency: str, block: int) -> np.ndarray:
    o = curves.weekday_fix(np.arange(block * _BLOCK, (block + 1) * _BLOCK))
    base = curves.curve(curves.FX[currency], o)
    vol = curves.FX_VOL.get(currency, curves.FX_VOL_DEFAULT)
    if vol == 0:
        return _round_sig(base)
    wiggle = 2.0 * smooth_noise(seed, "fx-" + currency, o) + 0.5 * normal(seed, "fx-day-" + currency, o)
    return _round_sig(base * np.exp(vol * wiggle))


@lru_cache(maxsize=4096)
def fx_table(seed: int, ordinal: int) -> dict[str, float]:
    """Every sample currency's units per USD on one day."""
    return {c: float(fx_units_per_usd(seed, c, ordinal)[0]) for c in currencies()}


def market_fx(seed: int, ordinal: int) -> np.ndarray:
    """Units of each market's currency per USD (market file order) on one day."""
    table = fx_table(seed, ordinal)
    return np.array([table[m.currency] for m in markets()])


@lru_cache(maxsize=1)
def _vat_steps() -> list[tuple[np.ndarray, np.ndarray]]:
    from orchestration.lib.reference import vat_rates

    df = vat_rates()
    out = []
    for m in markets():
        rows = df[df.country_code == m.code].sort_values("effective_from")
        starts = np.array([d.toordinal() for d in rows.effective_from], dtype=np.int64)
        out.append((starts, rows.standard_rate_pct.to_numpy(dtype=np.float64)))
    return out


@lru_cache(maxsize=4096)
def market_vat(ordinal: int) -> np.ndarray:
    """Standard VAT/GST rate (%) of each market on a day (0 before its first period)."""
    out = np.zeros(len(markets()))
    for i, (starts, rates) in enumerate(_vat_steps()):
        k = np.searchsorted(starts, ordinal, side="right") - 1
        out[i] = rates[k] if k >= 0 else 0.0
    return out


def eu_ets_price(seed: int, ordinals: np.ndarray | int) -> np.ndarray:
    """EU ETS allowance settlement price, EUR per tonne CO2e (weekends carry Friday's price)."""
    return _blocked(_ets_block, seed, "EU_ETS", np.atleast_1d(np.asarray(ordinals, dtype=np.int64)))


@lru_cache(maxsize=64)
def _ets_block(seed: int, _scheme: str, block: int) -> np.ndarray:
    o = curves.weekday_fix(np.arange(block * _BLOCK, (block + 1) * _BLOCK))
    base = curves.curve(curves.EU_ETS, o)
    return np.round(base * np.exp(0.05 * smooth_noise(seed, "ets", o) + 0.012 * normal(seed, "ets-day", o)), 2)


ZERO_DECIMAL = {"JPY", "KRW"}


def shelf_price(x: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """Round raw prices to the price points shops use (9.99, 2,980 JPY, 35,900 KRW, 299 THB)."""
    x = np.asarray(x, dtype=np.float64)
    cur = np.asarray(currency, dtype=object)
    out = np.where(x >= 10, np.floor(x) + 0.99, np.round(x, 2))
    whole = np.isin(cur, ["THB", "PHP", "MXN"]) & (x >= 100)
    out = np.where(whole, np.maximum(np.floor(x / 10) * 10 - 1, 9), out)
    out = np.where(cur == "JPY", np.maximum(np.round(x / 10) * 10 - 20, 10), out)
    out = np.where(cur == "KRW", np.maximum(np.round(x / 100) * 100 - 100, 100), out)
    return np.round(out, 2)
