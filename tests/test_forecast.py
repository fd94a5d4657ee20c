"""Demand forecast: pure model functions on synthetic series, then the asset against a tmp warehouse."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import dagster as dg
import duckdb
import holidays
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.forecast.assets import demand_forecast, select_top_series
from orchestration.defs.forecast.models import fill_daily, forecast_demand, seasonal_naive_forecast
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource

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


# ---------------------------------------------------------------- pure functions


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


def test_fill_daily_rejects_an_end_before_the_data() -> None:
    with pytest.raises(ValueError, match="before the last day"):
        fill_daily(pd.DataFrame({"ds": ["2024-01-05"], "y": [1]}), end=dt.date(2024, 1, 1))


def test_seasonal_naive_repeats_the_same_weekday_of_last_week() -> None:
    history = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=14, freq="D"), "y": np.arange(14.0)})
    fc = seasonal_naive_forecast(history, horizon_days=10)
    assert fc["ds"].iloc[0] == pd.Timestamp("2024-01-15")
    # Day 15 is a Monday like day 8 (value 7); day 22 is a Monday again.
    assert fc["yhat"].tolist() == [7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 7.0, 8.0, 9.0]
    # The last two weeks differ by exactly 7 every day, so the band is [yhat + 7, yhat + 7].
    assert (fc["yhat_lower"] == fc["yhat"] + 7).all() and (fc["yhat_upper"] == fc["yhat"] + 7).all()


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


# ---------------------------------------------------------------- warehouse and asset


def create_demand_mart(path: Path, series: dict[tuple[str, str], pd.DataFrame]) -> None:
    """A ``marts.demand_sku_market_daily`` with rows only on days with sales, like the dbt mart."""
    frames = []
    for (sku, country), history in series.items():
        sold = history[history["y"] > 0]
        frames.append(
            pd.DataFrame(
                {
                    "sku": sku,
                    "destination_country": country,
                    "order_date": pd.to_datetime(sold["ds"]).dt.date,
                    "orders": np.ceil(sold["y"] / 2).astype(int),
                    "units": sold["y"].round().astype(int),
                    "revenue_usd": sold["y"].round() * 10.0,
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA marts")
        conn.execute(
            "CREATE TABLE marts.demand_sku_market_daily (sku VARCHAR, destination_country VARCHAR, "
            "order_date DATE, orders INTEGER, units INTEGER, revenue_usd DOUBLE)"
        )
        conn.register("rows_df", rows)
        conn.execute("INSERT INTO marts.demand_sku_market_daily SELECT * FROM rows_df")
    finally:
        conn.close()


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at tmp paths, read fresh (get_settings is cached)."""
    monkeypatch.chdir(tmp_path)  # no tradewinds.toml from the repository
    monkeypatch.delenv("TRADEWINDS_SETTINGS", raising=False)
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_FORECAST__TOP_SERIES", "3")
    monkeypatch.setenv("TRADEWINDS_FORECAST__HORIZON_DAYS", "30")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_select_top_series_ranks_by_revenue_of_the_last_90_days(tmp_path: Path) -> None:
    end = dt.date(2024, 6, 30)
    create_demand_mart(
        tmp_path / "w.duckdb",
        {
            ("OLD-BIG", "US"): synthetic_series(dt.date(2023, 1, 1), dt.date(2024, 1, 31), level=500.0),
            ("A", "DE"): synthetic_series(dt.date(2024, 1, 1), end, level=30.0),
            ("B", "US"): synthetic_series(dt.date(2024, 1, 1), end, level=60.0),
            ("B", "JP"): synthetic_series(dt.date(2024, 5, 1), end, level=10.0),
        },
    )
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        assert select_top_series(conn, 2) == [("B", "US"), ("A", "DE")]
        assert select_top_series(conn, 10) == [("B", "US"), ("A", "DE"), ("B", "JP")]
        assert select_top_series(conn, 0) == []
    finally:
        conn.close()


def test_demand_forecast_asset_materializes_and_replaces_its_rows(settings_env: Path) -> None:
    end = dt.date(2024, 6, 30)
    warehouse = settings_env / "warehouse.duckdb"
    create_demand_mart(
        warehouse,
        {
            ("SKU-1", "US"): synthetic_series(dt.date(2023, 7, 1), end, level=40.0, seed=1),
            ("SKU-2", "DE"): synthetic_series(dt.date(2023, 9, 1), end, level=25.0, seed=2),
            # Ten days of sales: too little for Prophet, gets the baseline.
            ("SKU-3", "JP"): synthetic_series(dt.date(2024, 6, 21), end, level=80.0, seed=3),
            # Smallest revenue: outside top_series=3.
            ("SKU-4", "FR"): synthetic_series(dt.date(2024, 1, 1), end, level=2.0, seed=4),
        },
    )
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}

    result = dg.materialize([demand_forecast], resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("forecast__demand_forecast")[0].metadata
    assert meta["series"].value == 3
    assert meta["rows"].value == 90
    assert meta["models"].value == {"prophet": 2, "seasonal_naive": 1}
    assert "SKU-1" in meta["preview"].value

    # A second night replaces the rows instead of appending.
    assert dg.materialize([demand_forecast], resources=resources).success
    conn = duckdb.connect(str(warehouse))
    try:
        frame = conn.execute("SELECT * FROM forecast.demand_forecast").df()
    finally:
        conn.close()
    assert len(frame) == 90
    by_series = frame.groupby(["sku", "destination_country"])["model"].agg(["first", "count"])
    assert by_series.to_dict("index") == {
        ("SKU-1", "US"): {"first": "prophet", "count": 30},
        ("SKU-2", "DE"): {"first": "prophet", "count": 30},
        ("SKU-3", "JP"): {"first": "seasonal_naive", "count": 30},
    }
    assert set(frame["trained_through"].dt.date) == {end}
    assert frame["forecast_date"].min().date() == end + dt.timedelta(days=1)
    assert (frame[["yhat_units", "yhat_lower_units", "yhat_upper_units"]] >= 0).all().all()
    assert frame["generated_at"].nunique() == 1
