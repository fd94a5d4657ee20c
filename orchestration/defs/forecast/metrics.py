"""Backtest metrics: pure functions on arrays, the same for demand and freight.

- MASE (Hyndman & Koehler 2006): mean absolute error over the test window, divided by the
  in-sample mean absolute error of the seasonal-naive forecast of period ``m`` on the
  training data. Below 1: better than "same as one season ago" was in-sample.
- sMAPE, in percent (0..200): mean of ``2 |F - A| / (|A| + |F|)``; a point where both are
  zero counts as a perfect 0 (intermittent demand has many such days).
- Interval coverage: share of actuals inside ``[lower, upper]`` (bounds included); an 80%
  interval should cover about 0.8.
"""

from __future__ import annotations

import numpy as np


def _arrays(*values: object) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"metric inputs differ in shape: {[a.shape for a in arrays]}")
    return arrays


def mae(actual: object, forecast: object) -> float:
    a, f = _arrays(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else float("nan")


def naive_scale(train: object, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast ``y[t] = y[t - season]`` (NaN if too short)."""
    (y,) = _arrays(train)
    if season < 1:
        raise ValueError(f"season must be >= 1, got {season}")
    if y.size <= season:
        return float("nan")
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: object, forecast: object, scale: float) -> float:
    """MAE / ``scale``; NaN when the scale is 0 or undefined (a flat training series)."""
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return mae(actual, forecast) / scale


def smape(actual: object, forecast: object) -> float:
    """Symmetric MAPE in percent, 0 where actual and forecast are both 0."""
    a, f = _arrays(actual, forecast)
    if not a.size:
        return float("nan")
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(f - a), denominator, out=np.zeros_like(a), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def coverage(actual: object, lower: object, upper: object) -> float:
    """Share of actuals within ``[lower, upper]``."""
    a, lo, hi = _arrays(actual, lower, upper)
    if not a.size:
        return float("nan")
    return float(np.mean((a >= lo) & (a <= hi)))
