"""Forecast models, calendar, metrics and the per-series engine, on small synthetic series.

No warehouse and no Dagster here (see test_forecast_assets.py). Prophet fits take about 0.1 s
each, so every series is short and there are few of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math

import holidays
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.forecast import metrics
from orchestration.defs.forecast.calendar import (
    BLACK_FRIDAY,
    CHRISTMAS,
    PRIME_DAY,
    PUBLIC_HOLIDAY,
    SINGLES_DAY,
    black_friday,
    holiday_frame,
    prime_days,
    weekly_calendar_regressors,
)
from orchestration.defs.forecast.engine import (
    PROPHET,
    SEASONAL_NAIVE,
    DemandConfig,
    FreightConfig,
    PriorBacktest,
    SeriesTask,
    forecast_series,
    run_tasks,
)
from orchestration.defs.forecast.models import (
    ProphetConfig,
    daily_demand_config,
    fill_daily,
    fit_prophet,
    fit_prophet_direct,
    forecast_demand,
    seasonal_naive_forecast,
    spread_weekly,
    to_weekly,
    weekday_profile,
    weekly_demand_config,
)

HISTORY_START = dt.date(2022, 7, 1)
HISTORY_END = dt.date(2024, 6, 30)  # 2024-07-04 (US Independence Day) falls in the horizon


def synthetic_series(
    start: dt.date = HISTORY_START,
    end: dt.date = HISTORY_END,
    level: float = 20.0,
    holiday_lift: float = 0.0,
    country: str = "US",
    seed: int = 0,
) -> pd.DataFrame:
    """Daily demand: level + weekly pattern + noise, plus ``holiday_lift`` on the country's holidays."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, end, freq="D")
    y = level + 4.0 * np.sin(2 * np.pi * ds.day_of_week / 7) + rng.normal(0.0, 1.5, len(ds))
    if holiday_lift:
        days = holidays.country_holidays(country, years=range(start.year, end.year + 1))
        y = y + np.where(np.isin(ds.date, list(days.keys())), holiday_lift, 0.0)
    return pd.DataFrame({"ds": ds, "y": np.clip(y, 0.0, None)})


def random_walk_series(seed: int = 1, start: str = "2024-01-01", end: str = "2025-06-30") -> pd.DataFrame:
    """A strong weekday pattern on a level that jumps every week: "same day last week" wins."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, end, freq="D")
    pattern = np.array([0.6, 0.8, 1.0, 1.0, 1.4, 1.8, 0.4])
    weeks = len(ds) // 7 + 1
    level = np.repeat(50 * np.exp(np.cumsum(rng.normal(0, 0.25, weeks))), 7)[: len(ds)]
    return pd.DataFrame({"ds": ds, "y": np.round(level * pattern[ds.day_of_week], 1)})


def task(series_id: str, frame: pd.DataFrame, country: str = "US", **config: object) -> SeriesTask:
    return SeriesTask(
        series_id=series_id,
        kind="demand",
        ds=frame["ds"].to_numpy(),
        y=frame["y"].to_numpy(dtype=float),
        config=DemandConfig(**config),
        country=country,
    )


# ---------------------------------------------------------------- metrics, hand-computed


def test_naive_scale_and_mase_by_hand() -> None:
    train = np.arange(1.0, 10.0)  # 1..9: every lag-7 difference is 7
    assert metrics.naive_scale(train, 7) == 7.0
    assert metrics.naive_scale(train, 1) == 1.0
    # Errors 2 and 4: MAE 3, over a scale of 7.
    assert metrics.mase([10.0, 12.0], [8.0, 8.0], scale=7.0) == pytest.approx(3 / 7)
    assert math.isnan(metrics.mase([1.0], [1.0], scale=0.0))  # a flat history has no scale
    assert math.isnan(metrics.naive_scale([1.0, 2.0], 7))  # too short for one season


def test_smape_by_hand_counts_zero_against_zero_as_perfect() -> None:
    # 2*10/210, 0 (both zero), 2*5/5 = 2  ->  mean 0.698413 -> 69.84%
    assert metrics.smape([100.0, 0.0, 0.0], [110.0, 0.0, 5.0]) == pytest.approx(100 * (20 / 210 + 0 + 2) / 3)
    assert metrics.smape([0.0, 0.0], [0.0, 0.0]) == 0.0


def test_coverage_by_hand_includes_the_bounds() -> None:
    # 1 in [0, 1] yes; 2 in [2, 2] yes; 3 in [4, 5] no; 4 in [0, 3] no
    assert metrics.coverage([1, 2, 3, 4], [0, 2, 4, 0], [1, 2, 5, 3]) == 0.5


def test_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.mae([1.0, 2.0], [1.0])


# ---------------------------------------------------------------- frames and baselines


def test_fill_daily_fills_missing_days_with_zero_up_to_end() -> None:
    history = pd.DataFrame({"ds": ["2024-01-01", "2024-01-03", "2024-01-03"], "y": [5, 2, 1]})
    filled = fill_daily(history, end=dt.date(2024, 1, 5))
    assert filled["ds"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    assert filled["y"].tolist() == [5.0, 0.0, 3.0, 0.0, 0.0]


def _fill_daily_by_pandas(history: pd.DataFrame, end: dt.date | None) -> pd.DataFrame:
    """fill_daily as it was written with pandas' groupby and reindex (the reference)."""
    frame = pd.DataFrame({"ds": pd.to_datetime(history["ds"]).dt.normalize(), "y": history["y"].astype(float)})
    daily = frame.groupby("ds", sort=True)["y"].sum()
    last = pd.Timestamp(end) if end is not None else daily.index.max()
    index = pd.date_range(daily.index.min(), last, freq="D", name="ds")
    return daily.reindex(index, fill_value=0.0).astype(float).reset_index()[["ds", "y"]]


def test_fill_daily_equals_pandas_groupby_and_reindex() -> None:
    """Same frame (values, dtypes) as the groupby/reindex it replaced, whatever the input's date type,
    order, duplicates and times of day."""
    rng = np.random.default_rng(0)
    for i in range(120):
        n = int(rng.integers(1, 300))
        days = np.datetime64("2023-01-01") + rng.choice(500, size=n, replace=i % 5 == 0).astype("timedelta64[D]")
        if i % 3 == 0:
            days = np.sort(days)
        ds = [
            pd.Series(days.astype("datetime64[us]")),
            pd.Series([d.item() for d in days]),  # datetime.date objects
            pd.Series(days.astype("datetime64[s]") + np.timedelta64(5 * 3600, "s")),
            pd.Series(days.astype(str)),
        ][i % 4]
        y = rng.integers(0, 50, size=n) if i % 2 else rng.random(n) * 10
        history = pd.DataFrame({"ds": ds, "y": y})
        end = None if i % 6 == 0 else dt.date(2024, 6, 30)
        pd.testing.assert_frame_equal(fill_daily(history, end), _fill_daily_by_pandas(history, end), check_exact=True)


def test_fill_daily_rejects_an_end_before_the_data() -> None:
    with pytest.raises(ValueError, match="before the last day"):
        fill_daily(pd.DataFrame({"ds": ["2024-01-05"], "y": [1]}), end=dt.date(2024, 1, 1))


def test_seasonal_naive_repeats_the_same_weekday_of_last_week() -> None:
    history = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=14, freq="D"), "y": np.arange(14.0)})
    fc = seasonal_naive_forecast(history, horizon_days=10)
    assert fc["ds"].iloc[0] == pd.Timestamp("2024-01-15")
    # Day 15 is a Monday like day 8 (value 7); day 22 is a Monday again.
    assert fc["yhat"].tolist() == [7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 7.0, 8.0, 9.0]
    # The last two weeks differ by exactly 7 every day, so the band is [yhat + 7, yhat + 7]
    # (the history is too short for a 14-day lag, so the second week keeps the 7-day band).
    assert (fc["yhat_lower"] == fc["yhat"] + 7).all() and (fc["yhat_upper"] == fc["yhat"] + 7).all()


def test_seasonal_naive_band_widens_with_the_lag_it_reaches_back() -> None:
    history = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=21, freq="D"), "y": np.arange(21.0)})
    fc = seasonal_naive_forecast(history, horizon_days=14)
    # Week 1 repeats values 7 days old (lag-7 differences are all 7), week 2 values 14 days old (all 14).
    assert (fc["yhat_upper"] - fc["yhat"]).tolist() == [7.0] * 7 + [14.0] * 7


def test_weekly_naive_repeats_last_week() -> None:
    weekly = pd.DataFrame({"ds": pd.date_range("2024-01-07", periods=4, freq="7D"), "y": [3.0, 5.0, 4.0, 6.0]})
    fc = seasonal_naive_forecast(weekly, horizon_days=3, season_days=1, step_days=7)
    assert fc["yhat"].tolist() == [6.0, 6.0, 6.0]
    assert fc["ds"].tolist() == [pd.Timestamp("2024-02-04"), pd.Timestamp("2024-02-11"), pd.Timestamp("2024-02-18")]


def test_weekly_buckets_end_on_the_last_day_and_spread_back_to_the_same_totals() -> None:
    daily = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=16, freq="D"), "y": np.arange(16.0)})
    weekly = to_weekly(daily)
    # 16 days -> two full weeks ending on day 16; the two oldest days are dropped.
    assert weekly["ds"].tolist() == [pd.Timestamp("2024-01-09"), pd.Timestamp("2024-01-16")]
    assert weekly["y"].tolist() == [sum(range(2, 9)), sum(range(9, 16))]

    profile = weekday_profile(daily)
    assert profile.sum() == pytest.approx(1.0) and (profile > 0).all()
    fc = pd.DataFrame({"ds": [pd.Timestamp("2024-01-23"), pd.Timestamp("2024-01-30")], "yhat": [70.0, 35.0]}).assign(
        yhat_lower=lambda f: f["yhat"] / 2, yhat_upper=lambda f: f["yhat"] * 2
    )
    days = spread_weekly(fc, profile, horizon_days=10)
    assert days["ds"].iloc[0] == pd.Timestamp("2024-01-17") and len(days) == 10
    assert days["yhat"].head(7).sum() == pytest.approx(70.0)
    assert days["yhat_upper"].head(7).sum() == pytest.approx(140.0)


# ---------------------------------------------------------------- calendar


def test_marketplace_event_dates() -> None:
    assert black_friday(2023) == dt.date(2023, 11, 24)
    assert black_friday(2024) == dt.date(2024, 11, 29)
    assert prime_days(2024) == ([dt.date(2024, 7, 16), dt.date(2024, 7, 17)], False)
    # Not announced: projected as the Tuesday in 10-16 July and the Wednesday after.
    assert prime_days(2026) == ([dt.date(2026, 7, 14), dt.date(2026, 7, 15)], True)


def test_holiday_frame_has_public_holidays_and_the_market_s_events() -> None:
    us = holiday_frame("US", 2024, 2024)
    us_names = set(us["holiday"])
    assert {PUBLIC_HOLIDAY, CHRISTMAS, BLACK_FRIDAY, PRIME_DAY, SINGLES_DAY} <= us_names
    assert pd.Timestamp("2024-07-04") in set(us.loc[us["holiday"] == PUBLIC_HOLIDAY, "ds"])
    assert not any(name.startswith("Double") for name in us_names)
    sg = holiday_frame("SG", 2024, 2024)
    assert {"Double 9.9", "Double 10.10", "Double 12.12", SINGLES_DAY} <= set(sg["holiday"])
    assert BLACK_FRIDAY not in set(sg["holiday"])  # SE Asia: double days instead
    with pytest.raises(ValueError, match="No public-holiday calendar"):
        holiday_frame("XX", 2024, 2024)


def test_weekly_regressors_count_calendar_days_per_bucket() -> None:
    ends = pd.to_datetime(["2024-11-24", "2024-12-01", "2024-12-08"])
    regs = weekly_calendar_regressors("US", ends)
    # Black Friday window: Mon 25 Nov .. Sun 1 Dec (7 days) and Cyber Monday on 2 Dec.
    assert regs["black_friday_days"].tolist() == [0.0, 7.0, 1.0]
    assert regs["public_holiday_days"].tolist() == [0.0, 1.0, 0.0]  # Thanksgiving, 28 Nov


# ---------------------------------------------------------------- Prophet


def test_forecast_is_non_negative_even_when_the_trend_heads_below_zero() -> None:
    ds = pd.date_range("2023-01-01", "2023-12-31", freq="D")
    y = np.linspace(60.0, 3.0, len(ds)) + np.random.default_rng(1).normal(0, 1.0, len(ds))
    fc = forecast_demand(pd.DataFrame({"ds": ds, "y": y}), country="DE", horizon_days=90, seed=7)
    assert len(fc) == 90
    assert (fc[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    # The floor did something: an unfloored linear trend would be negative at the end.
    assert (fc["yhat"] == 0).any()
    assert (fc["yhat_lower"] <= fc["yhat"]).all() and (fc["yhat"] <= fc["yhat_upper"]).all()


def test_forecast_is_deterministic_for_the_same_input_and_seed() -> None:
    history = synthetic_series(seed=3)
    first = forecast_demand(history, country="US", horizon_days=30, seed=11)
    second = forecast_demand(history, country="US", horizon_days=30, seed=11)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def _weekly_case() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    rng = np.random.default_rng(9)
    ds = pd.date_range("2022-10-01", "2024-10-31", freq="D")
    y = rng.poisson(0.4, len(ds)).astype(float)
    y[ds == pd.Timestamp(black_friday(2023))] += 30.0
    weekly = to_weekly(pd.DataFrame({"ds": ds, "y": y}))
    return weekly, pd.date_range(weekly["ds"].iloc[-1] + pd.Timedelta(days=7), periods=13, freq="7D")


def _freight_case() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    weeks = pd.date_range("2022-07-04", periods=156, freq="7D")
    rate = 2000 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.04, len(weeks))))
    return pd.DataFrame({"ds": weeks, "y": rate}), pd.date_range(
        weeks[-1] + pd.Timedelta(days=7), periods=12, freq="7D"
    )


def _daily_case(days: int = 730) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    history = synthetic_series(start=HISTORY_END - dt.timedelta(days=days - 1), holiday_lift=10.0, seed=8)
    return history, pd.date_range("2024-07-01", periods=30, freq="D")


FREIGHT = {"yearly_order": 5, "weekly_seasonality": False, "log_scale": True, "floor_zero": False}


@pytest.mark.parametrize(
    ("case", "config"),
    [
        ("daily", daily_demand_config("US", 730)),
        ("daily", daily_demand_config("GB", 730, uncertainty_samples=60)),
        ("daily_short", daily_demand_config("DE", 200)),
        ("weekly", weekly_demand_config("US", 108)),
        ("freight", ProphetConfig(**FREIGHT, changepoint_range=0.95)),
        ("freight", ProphetConfig(**FREIGHT, uncertainty_samples=40)),
        ("flat", daily_demand_config("FR", 120)),
    ],
    ids=["daily", "daily-sampled", "daily-short", "weekly-regressors", "freight-log", "freight-sampled", "flat"],
)
def test_direct_fit_equals_prophet(case: str, config: ProphetConfig) -> None:
    """The pipeline's NumPy preparation of Prophet's model gives the prophet package's forecasts."""
    if case == "daily":
        train, future = _daily_case()
    elif case == "daily_short":
        train, future = _daily_case(200)
    elif case == "weekly":
        train, future = _weekly_case()
    elif case == "freight":
        train, future = _freight_case()
    else:
        train = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=120, freq="D"), "y": 3.0})
        future = pd.date_range("2024-04-30", periods=10, freq="D")
    reference = fit_prophet(train, future, config, seed=5)
    direct = fit_prophet_direct(train, future, config, seed=5)
    pd.testing.assert_frame_equal(direct.forecast, reference.forecast, check_exact=False, rtol=1e-12, atol=1e-9)
    for name in ("k", "m", "sigma_obs"):
        assert direct.params[name] == pytest.approx(reference.params[name], rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(direct.params["beta"], reference.params["beta"], rtol=1e-12, atol=1e-12)


def test_warm_start_reaches_the_same_optimum() -> None:
    train, future = _daily_case()
    config = daily_demand_config("US", 730)
    cold = fit_prophet_direct(train, future, config, seed=1)
    shorter = fit_prophet_direct(train.iloc[:-90], future, config, seed=1)
    warm = fit_prophet_direct(train, future, config, seed=1, init=shorter.params)
    # Same optimum within L-BFGS's tolerance (the fits differ by well under 1%).
    np.testing.assert_allclose(warm.forecast["yhat"], cold.forecast["yhat"], rtol=1e-2)


def test_sampled_interval_is_deterministic_and_leaves_numpy_state_alone() -> None:
    history = synthetic_series(start=dt.date(2023, 7, 1), seed=4)
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = forecast_demand(history, country="GB", horizon_days=14, seed=5, uncertainty_samples=50)
    assert np.random.random() == expected_next
    second = forecast_demand(history, country="GB", horizon_days=14, seed=5, uncertainty_samples=50)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert (first["yhat_upper"] > first["yhat_lower"]).all()


def test_holiday_effect_is_learned_from_the_country_calendar() -> None:
    independence_day = pd.Timestamp("2024-07-04")
    with_lift = forecast_demand(synthetic_series(holiday_lift=30.0), country="US", horizon_days=60, seed=7)
    without = forecast_demand(synthetic_series(), country="US", horizon_days=60, seed=7)
    on_day = with_lift.set_index("ds")["yhat"]
    assert on_day[independence_day] > without.set_index("ds")["yhat"][independence_day] + 15
    # ... and on the holiday only, not on the days around it.
    assert on_day[independence_day] > on_day[pd.Timestamp("2024-07-03")] + 15
    assert on_day[independence_day] > on_day[pd.Timestamp("2024-07-11")] + 15


def test_black_friday_lift_is_learned_and_forecast() -> None:
    history = synthetic_series(end=dt.date(2024, 10, 31), seed=6)
    for year in (2022, 2023):
        history.loc[history["ds"] == pd.Timestamp(black_friday(year)), "y"] += 40.0
    fc = forecast_demand(history, country="DE", horizon_days=60, seed=7).set_index("ds")["yhat"]
    bf = pd.Timestamp(black_friday(2024))
    assert fc[bf] > fc[bf - pd.Timedelta(days=7)] + 25


def test_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="No public-holiday calendar"):
        forecast_demand(synthetic_series(start=dt.date(2024, 1, 1)), country="XX", horizon_days=7, seed=1)


def test_stan_logs_are_silenced_but_ours_are_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # Undo what earlier tests did, so this one fails if forecast_demand stops quieting them.
    logging.getLogger("cmdstanpy").setLevel(logging.DEBUG)
    logging.getLogger("prophet").setLevel(logging.INFO)
    forecast_demand(synthetic_series(start=dt.date(2024, 1, 1)), country="FR", horizon_days=7, seed=1)
    logging.getLogger("orchestration.defs.forecast").info("ours")
    assert not [
        r for r in caplog.records if r.name.startswith(("cmdstanpy", "prophet")) and r.levelno < logging.WARNING
    ]
    assert any(r.getMessage() == "ours" for r in caplog.records)


# ---------------------------------------------------------------- engine: backtest and decision


def test_model_that_loses_the_backtest_falls_back_to_the_baseline() -> None:
    history = random_walk_series(seed=1)
    result = forecast_series(task("rw|DE", history, "DE", horizon_days=28))
    assert result.candidate_model == PROPHET and result.granularity == "daily"
    assert result.beat_baseline is False and not result.is_trusted
    assert result.model == SEASONAL_NAIVE
    assert result.summary["prophet_mase"] > result.summary["baseline_mase"]
    assert "seasonal naive kept" in result.decision
    # The published rows are exactly the seasonal naive on the full history, and no final fit was made.
    expected = seasonal_naive_forecast(history, 28)
    pd.testing.assert_frame_equal(result.forecast, expected, check_exact=True)
    assert result.fits == 2
    # Both models were scored at both origins, on the same 28 days each.
    assert {(r["model"], r["n_points"]) for r in result.metrics} == {(PROPHET, 28), (SEASONAL_NAIVE, 28)}
    assert len({r["origin_date"] for r in result.metrics}) == 2


def test_model_that_wins_the_backtest_is_published_and_trusted() -> None:
    history = synthetic_series(start=dt.date(2023, 7, 1), holiday_lift=20.0, seed=2)
    result = forecast_series(task("win|US", history, "US", horizon_days=28))
    assert result.beat_baseline is True and result.is_trusted and result.model == PROPHET
    assert result.summary["prophet_mase"] < result.summary["baseline_mase"]
    assert result.fits == 3  # two origins and the full history
    assert len(result.forecast) == 28 and (result.forecast[["yhat", "yhat_lower"]] >= 0).all().all()


def test_intermittent_series_is_modelled_weekly_and_never_negative() -> None:
    rng = np.random.default_rng(4)
    ds = pd.date_range("2023-07-01", "2025-06-30", freq="D")
    y = rng.poisson(0.35, len(ds)).astype(float)
    for year in (2023, 2024):
        y[ds == pd.Timestamp(black_friday(year))] += 25.0
    history = pd.DataFrame({"ds": ds, "y": y})
    result = forecast_series(task("slow|US", history, "US"))
    assert result.granularity == "weekly" and "ADI" in result.decision
    assert len(result.forecast) == 90
    assert result.forecast["ds"].iloc[0] == pd.Timestamp("2025-07-01")
    assert (result.forecast[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    # Backtests scored 13 weekly buckets per origin, not 90 days.
    assert {r["n_points"] for r in result.metrics} == {13}


def test_weekly_model_uses_the_event_regressors() -> None:
    rng = np.random.default_rng(9)
    ds = pd.date_range("2022-10-01", "2024-10-31", freq="D")
    y = rng.poisson(0.4, len(ds)).astype(float)
    for year in (2022, 2023):
        y[ds == pd.Timestamp(black_friday(year))] += 30.0
    weekly = to_weekly(pd.DataFrame({"ds": ds, "y": y}))
    future = pd.date_range(weekly["ds"].iloc[-1] + pd.Timedelta(days=7), periods=8, freq="7D")
    config = ProphetConfig(yearly_order=0, weekly_seasonality=False, country="US", weekly_calendar=True)
    fc = fit_prophet(weekly, future, config, seed=1).forecast.set_index("ds")["yhat"]
    bf_week = next(d for d in fc.index if d - pd.Timedelta(days=6) <= pd.Timestamp(black_friday(2024)) <= d)
    # About 2.7 units a week otherwise; the bucket with Black Friday gets the learned lift.
    assert fc[bf_week] > fc.drop(bf_week).median() + 10


def test_too_few_sales_get_the_baseline_without_a_model() -> None:
    ds = pd.date_range("2024-07-01", "2025-06-30", freq="D")
    y = np.where(np.arange(len(ds)) % 30 == 0, 2.0, 0.0)  # 13 days with sales
    result = forecast_series(task("rare|FR", pd.DataFrame({"ds": ds, "y": y}), "FR"))
    assert result.candidate_model is None and result.beat_baseline is None and result.fits == 0
    assert result.model == SEASONAL_NAIVE and "no model fitted" in result.decision
    assert (result.forecast["yhat"] >= 0).all() and len(result.forecast) == 90


def test_short_history_is_not_backtested_and_not_trusted() -> None:
    history = synthetic_series(start=dt.date(2024, 4, 1), seed=5)  # 91 days
    result = forecast_series(task("new|US", history, "US"))
    assert result.beat_baseline is None and not result.is_trusted and result.fits == 0
    assert "too short to backtest" in result.decision and result.metrics == []


def test_freight_forecast_shape_and_naive_baseline() -> None:
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2022-07-04", "2025-06-30", freq="7D")
    rate = 2000 * np.exp(np.cumsum(rng.normal(0, 0.04, len(weeks))))
    result = forecast_series(
        SeriesTask("CNSHA-DEHAM|ocean_fcl_40ft", "freight", weeks.to_numpy(), rate, FreightConfig())
    )
    assert result.granularity == "weekly" and len(result.forecast) == 12
    assert result.forecast["ds"].iloc[0] == weeks[-1] + pd.Timedelta(days=7)
    assert (result.forecast[["yhat", "yhat_lower", "yhat_upper"]] > 0).all().all()
    assert len({r["origin_date"] for r in result.metrics}) == 3
    assert {r["model"] for r in result.metrics} == {PROPHET, "naive"}
    assert {r["n_points"] for r in result.metrics} == {12}
    if not result.is_trusted:
        assert result.model == "naive" and (result.forecast["yhat"] == rate[-1]).all()


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_same_series_same_result_in_one_process_or_two(start_method: str) -> None:
    tasks = [
        task("a|US", synthetic_series(start=dt.date(2024, 1, 1), seed=1), "US", horizon_days=28),
        task("b|DE", random_walk_series(seed=2, start="2024-06-01"), "DE", horizon_days=28),
        task("c|SG", synthetic_series(start=dt.date(2023, 9, 1), level=0.6, seed=3), "SG", horizon_days=28),
    ]
    one = run_tasks(tasks, workers=1)
    two = run_tasks(tasks, workers=2, start_method=start_method)
    again = run_tasks(tasks, workers=1)
    for a, b, c in zip(one, two, again, strict=True):
        assert (a.series_id, a.model, a.decision, a.granularity) == (b.series_id, b.model, b.decision, b.granularity)
        pd.testing.assert_frame_equal(a.forecast, b.forecast, check_exact=True)
        pd.testing.assert_frame_equal(a.forecast, c.forecast, check_exact=True)
        assert a.metrics == b.metrics == c.metrics
    assert [r.series_id for r in two] == ["a|US", "b|DE", "c|SG"]


def _head_start_tasks() -> list[SeriesTask]:
    return [
        task("a|US", synthetic_series(start=dt.date(2024, 1, 1), seed=1), "US", horizon_days=28),
        task("b|DE", random_walk_series(seed=2, start="2024-06-01"), "DE", horizon_days=28),
        task("c|SG", synthetic_series(start=dt.date(2023, 9, 1), level=0.6, seed=3), "SG", horizon_days=28),
        task("d|FR", synthetic_series(start=dt.date(2023, 3, 1), level=2.0, seed=4), "FR", horizon_days=28),
    ]


def _same_results(got: list, expected: list) -> None:
    assert [r.series_id for r in got] == [r.series_id for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert (a.model, a.decision, a.granularity, a.metrics) == (b.model, b.decision, b.granularity, b.metrics)
        pd.testing.assert_frame_equal(a.forecast, b.forecast, check_exact=True)


def test_head_start_gives_only_identical_tasks_and_the_same_results(monkeypatch) -> None:
    """The forecast step takes from the head start only what it computed for the very same task (a
    series whose history changed since is forecast again), and results come back in task order."""
    from orchestration.defs.forecast import engine

    tasks = _head_start_tasks()
    changed = dataclasses.replace(tasks[1], y=tasks[1].y * 1.5)  # b's history as the head start read it
    begun = engine.begin_head_start({"demand": [tasks[0], changed, tasks[2]]}, "forkserver", workers=1)
    assert begun.groups() == ["demand"]
    import concurrent.futures

    concurrent.futures.wait(list(begun._groups["demand"].values()), timeout=120)
    taken = engine.take_head_start("demand", tasks)
    assert sorted(taken) == [0, 2]  # a and c; not b (other values), not d (never begun)
    assert engine.take_head_start("demand", tasks) == {}  # taken once
    expected = run_tasks(tasks, workers=1)
    _same_results([taken[0].result(), taken[2].result()], [expected[0], expected[2]])

    # Through run_tasks: the same results with a head start as without.
    begun = engine.begin_head_start({"demand": tasks[:3], "freight": tasks[3:]}, "forkserver", workers=1)
    concurrent.futures.wait(list(begun._groups["demand"].values()), timeout=120)
    computed: list[str] = []
    real = engine.forecast_series
    monkeypatch.setattr(engine, "forecast_series", lambda t: computed.append(t.series_id) or real(t))
    done = [0]
    got = run_tasks(tasks, 1, "forkserver", lambda n, total: done.append(n), head_start_group="demand")
    _same_results(got, expected)
    assert computed == ["d|FR"]  # a, b and c came from the head start
    assert done[-1] == 4
    assert engine._head_start is not None and engine._head_start.groups() == ["freight"]  # not taken yet
    assert engine.cancel_head_start() and engine._head_start is None


def test_head_start_is_cancelled_when_the_run_ends() -> None:
    """A run whose forecast steps never run (a gate failed) does not wait for its head start."""
    from orchestration.defs.forecast import engine
    from orchestration.lib import run_scope

    tasks = _head_start_tasks() * 3  # repeated tasks are forecast once
    begun = engine.begin_head_start({"demand": tasks}, "forkserver", workers=1)
    futures = list(begun._groups["demand"].values())
    assert len(futures) == 4
    assert run_scope.end() >= 1
    assert engine._head_start is None and engine.take_head_start("demand", tasks) == {}
    assert any(f.cancelled() for f in futures)  # those not started yet never run


def test_a_forkserver_booted_ahead_forks_workers_with_prophet_imported(monkeypatch) -> None:
    """The nightly boots the forkserver as its dbt build starts (``transform.boot_forecast_workers``),
    so the head start's worker forks with Prophet imported instead of waiting for the imports."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import forkserver

    from orchestration.defs.forecast import engine
    from orchestration.defs.transform import boot_forecast_workers
    from orchestration.lib.settings import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings.forecast, "workers", 1)  # no head start: nothing to boot for
    assert not boot_forecast_workers(settings)
    monkeypatch.setattr(settings.forecast, "workers", 2)
    monkeypatch.setattr(settings.forecast, "mp_start_method", "spawn")
    assert not boot_forecast_workers(settings)
    monkeypatch.setattr(settings.forecast, "mp_start_method", "forkserver")
    assert boot_forecast_workers(settings)
    assert forkserver._forkserver._forkserver_pid is not None
    # A worker forked from it (no initializer, a builtin as the task: nothing of ours imports Prophet).
    with ProcessPoolExecutor(max_workers=1, mp_context=engine.worker_context("forkserver")) as pool:
        assert pool.submit(eval, "'prophet' in __import__('sys').modules").result(timeout=120)


def test_run_tasks_rejects_fork() -> None:
    tasks = [task(f"x{i}|US", synthetic_series(start=dt.date(2024, 5, 1)), "US") for i in range(2)]
    with pytest.raises(ValueError, match="spawn"):
        run_tasks(tasks, workers=2, start_method="fork")


# ---------------------------------------------------------------- backtest reuse


def _prior(result) -> PriorBacktest:
    return PriorBacktest(
        result.granularity, result.beat_baseline, result.decision, tuple(result.metrics), result.backtested_through
    )


def test_a_reused_trusted_verdict_fits_once_and_keeps_the_backtest() -> None:
    history = synthetic_series(start=dt.date(2023, 7, 1), holiday_lift=20.0, seed=2)
    fresh = forecast_series(task("win|US", history, "US", horizon_days=28))
    assert fresh.is_trusted and fresh.fits == 3 and not fresh.backtest_reused
    assert fresh.backtested_through == history["ds"].iloc[-1].date()

    # The next night: one more day of history, yesterday's verdict.
    more = pd.concat([history, pd.DataFrame({"ds": [history["ds"].iloc[-1] + pd.Timedelta(days=1)], "y": [40.0]})])
    reused = forecast_series(dataclasses.replace(task("win|US", more, "US", horizon_days=28), prior=_prior(fresh)))
    assert reused.backtest_reused and reused.fits == 1 and reused.model == PROPHET
    assert reused.metrics == fresh.metrics and reused.decision == fresh.decision
    assert reused.summary["prophet_mase"] == fresh.summary["prophet_mase"]
    assert reused.backtested_through == fresh.backtested_through  # the verdict's date, not tonight's
    assert reused.forecast["ds"].iloc[0] == more["ds"].iloc[-1] + pd.Timedelta(days=1)  # fitted on tonight's history
    assert len(reused.forecast) == 28 and (reused.forecast["yhat"] >= 0).all()


def test_a_reused_losing_verdict_publishes_the_baseline_without_a_fit() -> None:
    history = random_walk_series(seed=1)
    fresh = forecast_series(task("rw|DE", history, "DE", horizon_days=28))
    assert fresh.beat_baseline is False
    reused = forecast_series(dataclasses.replace(task("rw|DE", history, "DE", horizon_days=28), prior=_prior(fresh)))
    assert reused.backtest_reused and reused.fits == 0 and reused.model == SEASONAL_NAIVE
    pd.testing.assert_frame_equal(reused.forecast, fresh.forecast, check_exact=True)


def test_a_verdict_of_another_granularity_is_not_reused() -> None:
    history = synthetic_series(start=dt.date(2023, 7, 1), holiday_lift=20.0, seed=2)
    fresh = forecast_series(task("win|US", history, "US", horizon_days=28))
    weekly_verdict = dataclasses.replace(_prior(fresh), granularity="weekly")
    again = forecast_series(dataclasses.replace(task("win|US", history, "US", horizon_days=28), prior=weekly_verdict))
    assert not again.backtest_reused and again.fits == 3 and again.metrics == fresh.metrics


def test_stan_inputs_hold_the_same_doubles_and_refuse_nan() -> None:
    """Stan reads back exactly the doubles Python's json would have written; NaN is an error naming the input."""
    import json

    from orchestration.defs.forecast.prophet_direct import _stan_json

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50, 7)) * 10.0 ** rng.integers(-12, 12, size=(50, 7))
    values = {"T": 50, "X": matrix[:, ::2], "y": matrix[:, 0], "s_a": [1, 1], "tau": 0.05}
    written = json.loads(_stan_json(values, "data"))
    assert written["T"] == 50 and written["s_a"] == [1, 1] and written["tau"] == 0.05
    assert np.array_equal(np.array(written["X"]), matrix[:, ::2])  # a strided view, written row by row
    assert np.array_equal(np.array(written["y"]), matrix[:, 0])
    assert written == json.loads(json.dumps({**values, "X": matrix[:, ::2].tolist(), "y": matrix[:, 0].tolist()}))
    with pytest.raises(ValueError, match="Stan data 'y' holds NaN"):
        _stan_json({"T": 2, "y": np.array([1.0, np.nan])}, "data")
