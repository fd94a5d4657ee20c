"""Demand forecasting models: pure functions on ``(ds, y)`` frames, no Dagster and no warehouse.

Prophet is imported inside the functions that fit it, so that loading the Dagster definitions
stays fast and does not print Prophet's import-time chatter.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Interval width of every forecast we publish (Prophet's own default).
INTERVAL_WIDTH = 0.80
#: Forecast output columns.
FORECAST_COLUMNS = ["ds", "yhat", "yhat_lower", "yhat_upper"]
#: A yearly seasonality needs one full cycle in the history to be estimated at all.
MIN_DAYS_FOR_YEARLY = 365

# Third-party loggers that report every Stan run at INFO level.
_NOISY_LOGGERS = ("cmdstanpy", "prophet", "prophet.models", "prophet.plot")


def quiet_stan_logs() -> None:
    """Raise cmdstanpy's and Prophet's loggers to WARNING; our own loggers are untouched.

    cmdstanpy's ``get_logger()`` sets its logger to DEBUG and adds a handler the first time it
    is called, so it is called here first: a level set before that would be overwritten.
    """
    try:
        from cmdstanpy.utils import get_logger

        get_logger()
    except ImportError:  # pragma: no cover - cmdstanpy is a dependency of prophet
        pass
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def fill_daily(history: pd.DataFrame, end: dt.date | pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per day from the first day in ``history`` to ``end`` (default: its last day).

    The demand mart only has days with sales; a day without a row sold nothing, so it is
    filled with zero rather than left out (Prophet would otherwise interpolate demand that
    never happened). Duplicate days are summed.
    """
    if history.empty:
        return pd.DataFrame({"ds": pd.Series([], dtype="datetime64[ns]"), "y": pd.Series([], dtype=float)})
    frame = pd.DataFrame({"ds": pd.to_datetime(history["ds"]).dt.normalize(), "y": history["y"].astype(float)})
    daily = frame.groupby("ds", sort=True)["y"].sum()
    last = pd.Timestamp(end) if end is not None else daily.index.max()
    if last < daily.index.max():
        raise ValueError(f"fill_daily: end {last.date()} is before the last day with data {daily.index.max().date()}")
    index = pd.date_range(daily.index.min(), last, freq="D", name="ds")
    filled = daily.reindex(index, fill_value=0.0).astype(float)
    return filled.reset_index()[["ds", "y"]]


def _future_dates(history: pd.DataFrame, horizon_days: int) -> pd.DatetimeIndex:
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    last = pd.Timestamp(history["ds"].max())
    return pd.date_range(last + pd.Timedelta(days=1), periods=horizon_days, freq="D", name="ds")


def _residual_band(residuals: np.ndarray, width: float = INTERVAL_WIDTH) -> tuple[float, float]:
    """Lower and upper quantiles of in-sample residuals for a central interval of ``width``."""
    residuals = residuals[np.isfinite(residuals)]
    if residuals.size == 0:
        return 0.0, 0.0
    lo, hi = np.quantile(residuals, [(1 - width) / 2, (1 + width) / 2])
    return float(lo), float(hi)


def _floor(frame: pd.DataFrame) -> pd.DataFrame:
    """Demand cannot be negative: clip the point forecast and both bounds at zero."""
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        frame[col] = frame[col].clip(lower=0.0)
    return frame


def _validate_history(history: pd.DataFrame) -> pd.DataFrame:
    missing = {"ds", "y"} - set(history.columns)
    if missing:
        raise ValueError(f"history needs columns ds and y; missing {sorted(missing)}")
    if history.empty:
        raise ValueError("history is empty: nothing to forecast from")
    frame = history[["ds", "y"]].copy()
    frame["ds"] = pd.to_datetime(frame["ds"])
    frame["y"] = frame["y"].astype(float)
    return frame.sort_values("ds").reset_index(drop=True)


def seasonal_naive_forecast(history: pd.DataFrame, horizon_days: int, season_days: int = 7) -> pd.DataFrame:
    """Baseline: each future day repeats the same weekday of the last observed week.

    This is the baseline every forecast is judged against in backtests. The interval comes
    from the quantiles of the in-sample seasonal differences ``y[t] - y[t - 7]``, i.e. how far
    "same day last week" has historically been off. Histories shorter than a week are padded
    at the start with zeros (no sales before the first row).
    """
    frame = _validate_history(history)
    if len(frame) < season_days:
        pad_start = frame["ds"].max() - pd.Timedelta(days=season_days - 1)
        frame = fill_daily(pd.concat([pd.DataFrame({"ds": [pad_start], "y": [0.0]}), frame]))
    y = frame["y"].to_numpy()
    last_season = y[-season_days:]
    future = _future_dates(frame, horizon_days)
    steps = np.arange(horizon_days)
    yhat = last_season[steps % season_days]
    lo, hi = _residual_band(y[season_days:] - y[:-season_days])
    out = pd.DataFrame({"ds": future, "yhat": yhat, "yhat_lower": yhat + lo, "yhat_upper": yhat + hi})
    return _floor(out)[FORECAST_COLUMNS].reset_index(drop=True)


def forecast_demand(
    history: pd.DataFrame,
    country: str,
    horizon_days: int,
    seed: int,
    uncertainty_samples: int = 0,
) -> pd.DataFrame:
    """Daily demand forecast with Prophet, the destination's public holidays and seasonality.

    ``history`` is a gap-free daily ``(ds, y)`` frame (see :func:`fill_daily`). Returns
    ``(ds, yhat, yhat_lower, yhat_upper)`` for the ``horizon_days`` days after its last day,
    floored at zero.

    Model: linear trend, weekly seasonality, yearly seasonality when the history covers at
    least one full year (Prophet's ``auto`` rule wants two, which a two-year sample history of
    730 days misses by one day), and the public holidays of ``country`` (ISO code, through the
    ``holidays`` package).

    Determinism: the MAP fit starts from Prophet's deterministic initial values and Stan is
    given ``seed``, so the same history and seed give the same numbers.

    Interval (80%), two honest ways:

    - ``uncertainty_samples == 0`` (the default, fast): Prophet draws nothing, so the band is
      ``yhat`` plus the 10% and 90% quantiles of the in-sample residuals. It reflects the
      observed day-to-day noise but not trend uncertainty, so it does not widen with the
      horizon: read it as a noise band, not a full predictive interval.
    - ``uncertainty_samples > 0``: Prophet's own simulated interval (trend changes and noise).
      Prophet draws from NumPy's global generator, so it is seeded with ``seed`` for the
      prediction and its previous state restored afterwards.
    """
    quiet_stan_logs()
    from prophet import Prophet
    from prophet.make_holidays import get_country_holidays_class

    frame = _validate_history(history)
    if len(frame) < 2:
        raise ValueError(f"Prophet needs at least two days of history, got {len(frame)}")
    try:
        get_country_holidays_class(country)
    except AttributeError as exc:
        raise ValueError(
            f"No public-holiday calendar for country {country!r} in the holidays package: "
            "use an ISO 3166 alpha-2 code from dbt_project/seeds/markets.csv"
        ) from exc

    span_days = (frame["ds"].max() - frame["ds"].min()).days + 1
    model = Prophet(
        growth="linear",
        yearly_seasonality=span_days >= MIN_DAYS_FOR_YEARLY,
        weekly_seasonality=True,
        daily_seasonality=False,
        interval_width=INTERVAL_WIDTH,
        uncertainty_samples=max(int(uncertainty_samples), 0),
    )
    model.add_country_holidays(country_name=country)
    model.fit(frame, seed=int(seed))

    future = pd.DataFrame({"ds": _future_dates(frame, horizon_days)})
    if uncertainty_samples > 0:
        state = np.random.get_state()
        np.random.seed(int(seed) % 2**32)
        try:
            predicted = model.predict(future)
        finally:
            np.random.set_state(state)
        out = predicted[FORECAST_COLUMNS].copy()
    else:
        fitted = model.predict(frame[["ds"]])
        lo, hi = _residual_band(frame["y"].to_numpy() - fitted["yhat"].to_numpy())
        predicted = model.predict(future)
        out = pd.DataFrame(
            {
                "ds": predicted["ds"],
                "yhat": predicted["yhat"],
                "yhat_lower": predicted["yhat"] + lo,
                "yhat_upper": predicted["yhat"] + hi,
            }
        )
    out = _floor(out)
    if not np.isfinite(out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all():
        raise ValueError(f"Prophet produced non-finite values for a {country} series of {len(frame)} days")
    return out[FORECAST_COLUMNS].reset_index(drop=True)


def days_with_data(history: pd.DataFrame) -> int:
    """Days with a positive value: what 'enough history' is measured in (zeros are filled, not data)."""
    if history.empty:
        return 0
    return int((history["y"].astype(float) > 0).sum())
