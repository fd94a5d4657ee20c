"""Forecast assets against a temporary warehouse: tables, columns, replacement, plots."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.forecast.assets import (
    backtest_due,
    demand_forecast,
    freight_rate_forecast,
    select_top_series,
    weekly_gap_free,
)
from orchestration.defs.forecast.engine import PriorBacktest
from orchestration.defs.forecast.tables import DEMAND_COLUMNS, FREIGHT_COLUMNS
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource
from tests.test_forecast import random_walk_series, synthetic_series

END = dt.date(2024, 6, 30)
#: The stock-out alert's contract on forecast.demand_forecast.
ALERT_COLUMNS = [
    "sku",
    "destination_country",
    "forecast_date",
    "yhat_units",
    "yhat_lower_units",
    "yhat_upper_units",
    "model",
    "trained_through",
    "generated_at",
]


def create_demand_mart(path: Path, series: dict[tuple[str, str], pd.DataFrame], categories: dict[str, str]) -> None:
    """A ``marts.demand_sku_market_daily`` with rows only on days with sales, like the dbt mart, and a catalog."""
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
    catalog = pd.DataFrame(list(categories.items()), columns=["sku", "category"])
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE SCHEMA raw")
        conn.execute(
            "CREATE TABLE marts.demand_sku_market_daily (sku VARCHAR, destination_country VARCHAR, "
            "order_date DATE, orders INTEGER, units INTEGER, revenue_usd DOUBLE)"
        )
        conn.register("rows_df", rows)
        conn.execute("INSERT INTO marts.demand_sku_market_daily SELECT * FROM rows_df")
        conn.register("catalog_df", catalog)
        conn.execute("CREATE TABLE raw.catalog AS SELECT * FROM catalog_df")
    finally:
        conn.close()


def create_lane_mart(path: Path, lanes: dict[tuple[str, str], np.ndarray], weeks: pd.DatetimeIndex) -> None:
    frames = [
        pd.DataFrame(
            {
                "lane_id": lane,
                "mode": mode,
                "origin_country": "CN",
                "destination_country": lane[-5:-3],
                "rate_unit": "per_container",
                "rate_week": weeks.date,
                "rate_usd": rates,
            }
        )
        for (lane, mode), rates in lanes.items()
    ]
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.register("lanes_df", pd.concat(frames, ignore_index=True))
        conn.execute("CREATE TABLE marts.risk_lane_weekly AS SELECT * FROM lanes_df")
    finally:
        conn.close()


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at tmp paths, read fresh (get_settings is cached)."""
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWINDS_FORECAST__TOP_SERIES", "3")
    monkeypatch.setenv("TRADEWINDS_FORECAST__HORIZON_DAYS", "30")
    monkeypatch.setenv("TRADEWINDS_FORECAST__WORKERS", "1")
    monkeypatch.setenv("TRADEWINDS_FORECAST__PLOT_SERIES", "2")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def read(path: Path, sql: str) -> pd.DataFrame:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql).df()
    finally:
        conn.close()


def test_select_top_series_by_count_or_revenue_share(tmp_path: Path) -> None:
    create_demand_mart(
        tmp_path / "w.duckdb",
        {
            ("OLD-BIG", "US"): synthetic_series(dt.date(2023, 1, 1), dt.date(2024, 1, 31), level=500.0),
            ("A", "DE"): synthetic_series(dt.date(2024, 1, 1), END, level=30.0),
            ("B", "US"): synthetic_series(dt.date(2024, 1, 1), END, level=60.0),
            ("B", "JP"): synthetic_series(dt.date(2024, 5, 1), END, level=10.0),
        },
        {},
    )
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        assert select_top_series(conn, 2) == [("B", "US"), ("A", "DE")]
        assert select_top_series(conn, 10) == [("B", "US"), ("A", "DE"), ("B", "JP")]
        assert select_top_series(conn, 0) == []
        # Revenue shares over the last 90 days: B/US ~0.6, A/DE ~0.3, B/JP ~0.1.
        assert select_top_series(conn, 0, revenue_share=0.5) == [("B", "US")]
        assert select_top_series(conn, 0, revenue_share=0.85) == [("B", "US"), ("A", "DE")]
        assert select_top_series(conn, 3, revenue_share=0.5) == [("B", "US"), ("A", "DE"), ("B", "JP")]
    finally:
        conn.close()


def test_demand_forecast_writes_sku_category_and_backtest_tables(settings_env: Path) -> None:
    warehouse = settings_env / "warehouse.duckdb"
    create_demand_mart(
        warehouse,
        {
            ("SKU-1", "US"): synthetic_series(dt.date(2023, 7, 1), END, level=40.0, holiday_lift=15.0, seed=1),
            # Loses to "same day last week": published as the baseline, flagged not trusted.
            ("SKU-2", "DE"): random_walk_series(seed=1, start="2023-10-01", end=END.isoformat()),
            # Ten days of sales: too little for a model.
            ("SKU-3", "JP"): synthetic_series(dt.date(2024, 6, 21), END, level=80.0, seed=3),
            # Outside top_series=3: forecast in its category, with SKU-5.
            ("SKU-4", "US"): synthetic_series(dt.date(2023, 9, 1), END, level=2.0, seed=4),
            ("SKU-5", "US"): synthetic_series(dt.date(2023, 9, 1), END, level=3.0, seed=5),
        },
        {"SKU-1": "toys", "SKU-2": "tools", "SKU-3": "toys", "SKU-4": "pet", "SKU-5": "pet"},
    )
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}

    result = dg.materialize([demand_forecast], resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("forecast__demand_forecast")[0].metadata
    assert meta["series"].value == {"sku": 3, "category": 1}
    assert meta["rows"].value == 90 and meta["category_rows"].value == 30
    png = meta["actual_vs_forecast"].value.split("base64,", 1)[1].rstrip(")")
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert (settings_env / "data" / "forecast" / "plots" / "demand_forecast.png").stat().st_size > 1000
    assert "median_mase_prophet" in meta["accuracy"].value

    # A second night replaces the rows instead of appending.
    assert dg.materialize([demand_forecast], resources=resources).success
    frame = read(warehouse, "SELECT * FROM forecast.demand_forecast")
    assert list(frame.columns[: len(ALERT_COLUMNS)]) == ALERT_COLUMNS
    assert list(frame.columns) == list(DEMAND_COLUMNS)
    assert len(frame) == 90
    by_series = frame.groupby(["sku", "destination_country"]).agg(
        model=("model", "first"), trusted=("is_trusted", "first"), beat=("beat_baseline", "first"), n=("model", "size")
    )
    assert by_series.loc[("SKU-1", "US")].to_dict() == {"model": "prophet", "trusted": True, "beat": True, "n": 30}
    assert by_series.loc[("SKU-2", "DE")].to_dict() == {
        "model": "seasonal_naive",
        "trusted": False,
        "beat": False,
        "n": 30,
    }
    sku3 = by_series.loc[("SKU-3", "JP")]
    assert sku3["model"] == "seasonal_naive" and not sku3["trusted"] and pd.isna(sku3["beat"])
    assert set(frame["trained_through"].dt.date) == {END}
    assert frame["forecast_date"].min().date() == END + dt.timedelta(days=1)
    assert (frame[["yhat_units", "yhat_lower_units", "yhat_upper_units"]] >= 0).all().all()
    assert frame["generated_at"].nunique() == 1
    sku1 = frame[frame["sku"] == "SKU-1"].iloc[0]
    assert sku1["prophet_mase"] < sku1["baseline_mase"] and sku1["backtest_origins"] == 2
    assert sku1["category"] == "toys"
    assert sorted(frame.groupby("sku")["revenue_rank"].first()) == [1, 2, 3]

    category = read(warehouse, "SELECT * FROM forecast.demand_category_forecast")
    assert set(zip(category["category"], category["destination_country"], strict=True)) == {("pet", "US")}
    assert set(category["skus"]) == {2} and len(category) == 30

    metrics = read(warehouse, "SELECT * FROM forecast.backtest_metrics")
    assert set(metrics["series_level"]) == {"sku", "category"}
    sku1_metrics = metrics[metrics["series_id"] == "SKU-1|US"]
    assert len(sku1_metrics) == 4  # 2 origins x (prophet, seasonal naive)
    assert set(sku1_metrics["n_points"]) == {30}


def test_freight_forecast_writes_lanes_and_keeps_demand_metrics(settings_env: Path) -> None:
    warehouse = settings_env / "warehouse.duckdb"
    create_demand_mart(warehouse, {("SKU-1", "US"): synthetic_series(dt.date(2024, 1, 1), END, seed=1)}, {})
    weeks = pd.date_range("2022-01-03", "2024-06-24", freq="7D")
    rng = np.random.default_rng(2)
    lanes = {
        ("CNSHA-USLAX", "ocean_fcl_40ft"): 2000 * np.exp(np.cumsum(rng.normal(0, 0.05, len(weeks)))),
        ("CNSHA-DEHAM", "air"): 4 + np.sin(np.arange(len(weeks)) / 8) + rng.normal(0, 0.05, len(weeks)),
    }
    create_lane_mart(warehouse, lanes, weeks)
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}
    assert dg.materialize([demand_forecast], resources=resources).success
    result = dg.materialize([freight_rate_forecast], resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("forecast__freight_rate_forecast")[0].metadata
    assert meta["series"].value == 2 and meta["rows"].value == 24

    frame = read(warehouse, "SELECT * FROM forecast.freight_rate_forecast ORDER BY lane_id, mode, forecast_week")
    assert list(frame.columns) == list(FREIGHT_COLUMNS)
    assert frame.groupby(["lane_id", "mode"]).size().to_dict() == {
        ("CNSHA-DEHAM", "air"): 12,
        ("CNSHA-USLAX", "ocean_fcl_40ft"): 12,
    }
    assert frame["forecast_week"].min().date() == dt.date(2024, 7, 1)
    assert (frame[["yhat_rate_usd", "yhat_lower_rate_usd", "yhat_upper_rate_usd"]] > 0).all().all()
    assert set(frame["model"]) <= {"prophet", "naive"}
    assert (frame["is_trusted"] == (frame["model"] == "prophet")).all()

    metrics = read(warehouse, "SELECT series_level, count(*) AS n FROM forecast.backtest_metrics GROUP BY 1")
    counts = dict(zip(metrics["series_level"], metrics["n"], strict=True))
    assert counts["lane"] == 2 * 3 * 2  # lanes x origins x models
    assert counts["sku"] > 0  # the demand asset's rows are left alone


def test_freight_forecast_is_kept_while_the_rates_are_unchanged(settings_env: Path) -> None:
    """Rates are weekly: a night without a new week keeps the fit; a changed rate refits."""
    warehouse = settings_env / "warehouse.duckdb"
    weeks = pd.date_range("2022-01-03", "2024-06-24", freq="7D")
    rng = np.random.default_rng(3)
    lanes = {("CNSHA-USLAX", "ocean_fcl_40ft"): 2000 * np.exp(np.cumsum(rng.normal(0, 0.05, len(weeks))))}
    create_lane_mart(warehouse, lanes, weeks)
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}

    def run() -> tuple[dict, pd.DataFrame]:
        result = dg.materialize([freight_rate_forecast], resources=resources)
        assert result.success
        meta = result.asset_materializations_for_node("forecast__freight_rate_forecast")[0].metadata
        return meta, read(warehouse, "SELECT * FROM forecast.freight_rate_forecast ORDER BY forecast_week")

    first_meta, first = run()
    assert first_meta["refit"].value is True
    again_meta, again = run()
    assert again_meta["refit"].value is False and again_meta["rows"].value == len(first) == 12
    assert "unchanged" in again_meta["reason"].value
    pd.testing.assert_frame_equal(again, first)  # the same rows, generated_at included

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            "UPDATE marts.risk_lane_weekly SET rate_usd = rate_usd * 1.5 WHERE rate_week = (SELECT max(rate_week) FROM marts.risk_lane_weekly)"
        )
    changed_meta, changed = run()
    assert changed_meta["refit"].value is True
    assert changed["generated_at"].iloc[0] > first["generated_at"].iloc[0]


def test_head_start_begins_the_series_the_steps_will_forecast(settings_env: Path, monkeypatch) -> None:
    """The head start gets the demand series every night, the freight series only when a new rate
    week arrived since the stored freight forecast; nothing with one worker."""
    from orchestration.defs.forecast import assets

    warehouse = settings_env / "warehouse.duckdb"
    create_demand_mart(warehouse, {("SKU-1", "US"): synthetic_series(dt.date(2024, 1, 1), END, seed=1)}, {})
    weeks = pd.date_range("2022-01-03", "2024-06-24", freq="7D")
    rng = np.random.default_rng(4)
    lanes = {("CNSHA-USLAX", "ocean_fcl_40ft"): 2000 * np.exp(np.cumsum(rng.normal(0, 0.05, len(weeks))))}
    create_lane_mart(warehouse, lanes, weeks)
    begun: list[dict] = []
    monkeypatch.setattr(assets, "begin_head_start", lambda groups, method, workers: begun.append(groups))
    settings = get_settings().forecast

    def start(workers: int) -> dict[str, int]:
        with duckdb.connect(str(warehouse)) as conn:
            return assets.start_head_start(conn, settings.model_copy(update={"workers": workers}))

    assert start(1) == {} and begun == []
    assert start(2) == {"demand": 1, "freight": 1}  # no freight forecast stored yet
    with duckdb.connect(str(warehouse)) as conn:
        demand = assets.read_demand_inputs(conn, settings).tasks
    assert [t.series_id for t in begun[-1]["demand"]] == [t.series_id for t in demand]
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}
    assert dg.materialize([freight_rate_forecast], resources=resources).success
    assert start(2) == {"demand": 1}  # the rates' last week is the forecast's: no refit tonight
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            "INSERT INTO marts.risk_lane_weekly SELECT * REPLACE (rate_week + INTERVAL 7 DAY AS rate_week) "
            "FROM marts.risk_lane_weekly WHERE rate_week = (SELECT max(rate_week) FROM marts.risk_lane_weekly)"
        )
    assert start(2) == {"demand": 1, "freight": 1}  # a new week


def test_backtest_due_once_per_cycle_per_series() -> None:
    every = 7
    verdict = PriorBacktest("daily", True, "prophet beat seasonal naive", (), dt.date(2025, 7, 1))
    assert backtest_due("A|US", dt.date(2025, 7, 2), None, every)  # no verdict yet
    assert backtest_due("A|US", dt.date(2025, 7, 2), dataclasses.replace(verdict, beat=None), every)
    assert backtest_due("A|US", dt.date(2025, 7, 8), verdict, every)  # a week old
    assert backtest_due("A|US", dt.date(2025, 6, 30), verdict, every)  # history went back before it
    assert backtest_due("A|US", dt.date(2025, 7, 2), verdict, 1)  # every night
    # Within the week each series has exactly one night of its own, and series spread over the nights.
    nights = [dt.date(2025, 7, 1) + dt.timedelta(days=d) for d in range(every)]
    own_night = {}
    for n in range(50):
        due = [night for night in nights if backtest_due(f"S{n}|US", night, verdict, every)]
        assert len(due) == 1, due
        own_night[n] = due[0]
    assert len(set(own_night.values())) >= 5


def test_demand_verdicts_are_reused_between_backtests(settings_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second night keeps the verdicts of the series not due (one fit each); with
    backtest_every_days 1 every series is backtested again; changed settings void the verdicts."""
    warehouse = settings_env / "warehouse.duckdb"
    create_demand_mart(
        warehouse,
        {
            ("SKU-1", "US"): synthetic_series(dt.date(2023, 7, 1), END, level=40.0, holiday_lift=15.0, seed=1),
            ("SKU-2", "DE"): random_walk_series(seed=1, start="2023-10-01", end=END.isoformat()),
            ("SKU-4", "US"): synthetic_series(dt.date(2023, 9, 1), END, level=2.0, seed=4),
        },
        {"SKU-1": "toys", "SKU-2": "tools", "SKU-4": "pet"},
    )
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}
    verdict_sql = "SELECT DISTINCT sku, beat_baseline, decision, backtested_through, prophet_mase FROM forecast.demand_forecast ORDER BY sku"

    def run() -> dict:
        get_settings.cache_clear()
        result = dg.materialize([demand_forecast], resources=resources)
        assert result.success
        return result.asset_materializations_for_node("forecast__demand_forecast")[0].metadata["backtests"].value

    first = run()
    assert first["verdict_reused"] == 0 and first["run_tonight"] == 3
    verdicts = read(warehouse, verdict_sql)
    metrics = read(warehouse, "SELECT * EXCLUDE (generated_at) FROM forecast.backtest_metrics ORDER BY ALL")

    second = run()  # END is not each series' own night for all three (asserted below), so some keep theirs
    due = sum(
        backtest_due(f"{sku}|{country}", END, PriorBacktest("daily", True, "", (), END), 7)
        for sku, country in (("SKU-1", "US"), ("SKU-2", "DE"), ("SKU-4", "US"))
    )
    assert second["verdict_reused"] == 3 - due > 0
    pd.testing.assert_frame_equal(read(warehouse, verdict_sql), verdicts)
    pd.testing.assert_frame_equal(
        read(warehouse, "SELECT * EXCLUDE (generated_at) FROM forecast.backtest_metrics ORDER BY ALL"), metrics
    )

    monkeypatch.setenv("TRADEWINDS_FORECAST__BACKTEST_EVERY_DAYS", "1")
    assert run()["verdict_reused"] == 0
    monkeypatch.setenv("TRADEWINDS_FORECAST__BACKTEST_EVERY_DAYS", "7")
    monkeypatch.setenv("TRADEWINDS_FORECAST__HORIZON_DAYS", "28")  # another backtest: stored verdicts void
    assert run()["verdict_reused"] == 0


@pytest.mark.parametrize("count", [1, 3, 20])
def test_forecast_plot_panels_fit_the_figure_without_overlapping(count: int) -> None:
    """The plot's fixed margins (no layout solver, for speed) keep every panel's title, axis labels,
    ticks and legend inside the image and clear of the other panels, for one panel, an odd count
    and the nightly 20, with wide tick labels and a two-line title."""
    from orchestration.defs.forecast.plots import PANEL_HEIGHT_IN, PANEL_WIDTH_IN, SeriesPlot, draw, render_png

    days = pd.date_range("2024-07-01", periods=365)
    history = pd.DataFrame({"ds": days, "y": np.linspace(0, 125_000, len(days))})
    ahead = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=28)
    forecast = pd.DataFrame({"ds": ahead, "yhat": 1e5, "yhat_lower": 9e4, "yhat_upper": 1.1e5})
    backtest = pd.DataFrame({"ds": days[-28:], "yhat": 1e5})
    panels = [
        SeriesPlot(
            f"#{i + 1} SKU-000123 x DE",
            "prophet beat seasonal naive: MASE 0.81 vs 1.07",
            history,
            forecast,
            backtest,
            backtest,
            unit="USD per kg",
        )  # fmt: skip
        for i in range(count)
    ]
    figure = draw(panels)
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    boxes = [ax.get_tightbbox(renderer) for ax in figure.axes]
    assert len(boxes) == count
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, (box, page)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    png = render_png(panels, dpi=60)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    columns = min(2, count)
    assert (width, height) == (round(PANEL_WIDTH_IN * columns * 60), round(PANEL_HEIGHT_IN * -(-count // columns) * 60))


def test_demand_frames_repeat_each_series_values_over_its_own_days() -> None:
    """The tables' rows are gathered column by column over the series: every row must carry its
    own series' SKU, rank, market and verdict, whatever the other series' horizons."""
    from orchestration.defs.forecast.engine import SeriesResult
    from orchestration.defs.forecast.tables import CATEGORY_COLUMNS, METRICS_COLUMNS, DemandSeries, demand_frames

    def result(series_id: str, days: int, start: str, model: str, beat: bool | None) -> SeriesResult:
        ds = pd.date_range(start, periods=days, freq="D")
        y = np.arange(days, dtype=float)
        return SeriesResult(
            series_id=series_id,
            granularity="daily",
            candidate_model="prophet",
            model=model,
            beat_baseline=beat,
            decision=f"decision {series_id}",
            forecast=pd.DataFrame({"ds": ds, "yhat": y, "yhat_lower": y - 1, "yhat_upper": y + 1}),
            metrics=[
                {"origin_date": dt.date(2025, 1, 1), "model": model, "n_points": 90, "mae": 1.0, "mase": 0.5}
                | {"smape_pct": 10.0, "interval_coverage": 0.8}
            ],
            summary={"backtest_origins": 2, "prophet_mase": 0.5 if beat else float("nan")},
            backtested_through=dt.date(2025, 6, 30),
        )

    results = [
        result("S1|DE", 3, "2025-07-01", "prophet", True),
        result("apparel|DE", 2, "2025-07-01", "seasonal_naive", None),
        result("S2|FR", 4, "2025-07-01", "seasonal_naive", False),
    ]
    meta = [
        DemandSeries("sku", "S1", "home", "DE", 1),
        DemandSeries("category", None, "apparel", "DE", 0, skus=7),
        DemandSeries("sku", "S2", "toys", "FR", 2),
    ]
    generated = dt.datetime(2025, 7, 1, 2)
    sku_rows, category_rows, metrics = demand_frames(results, meta, dt.date(2025, 6, 30), generated)
    assert list(sku_rows.columns) == list(DEMAND_COLUMNS) and list(category_rows.columns) == list(CATEGORY_COLUMNS)
    assert list(metrics.columns) == list(METRICS_COLUMNS) and len(metrics) == 3
    assert sku_rows["sku"].tolist() == ["S1"] * 3 + ["S2"] * 4
    assert sku_rows["revenue_rank"].tolist() == [1] * 3 + [2] * 4
    assert sku_rows["destination_country"].tolist() == ["DE"] * 3 + ["FR"] * 4
    assert sku_rows["is_trusted"].tolist() == [True] * 3 + [False] * 4
    assert sku_rows["decision"].tolist() == ["decision S1|DE"] * 3 + ["decision S2|FR"] * 4
    assert sku_rows["yhat_units"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0]
    assert sku_rows["forecast_date"].tolist()[2:4] == [dt.date(2025, 7, 3), dt.date(2025, 7, 1)]
    assert category_rows["category"].tolist() == ["apparel"] * 2 and category_rows["skus"].tolist() == [7, 7]
    assert category_rows["beat_baseline"].tolist() == [None, None]
    empty = demand_frames([], [], dt.date(2025, 6, 30), generated)
    assert [len(f) for f in empty] == [0, 0, 0] and list(empty[0].columns) == list(DEMAND_COLUMNS)


def _weekly_gap_free_by_pandas(rates: pd.DataFrame) -> pd.DataFrame:
    """weekly_gap_free as it was written with pandas' groupby, reindex and ffill (the reference)."""
    frame = pd.DataFrame({"ds": pd.to_datetime(rates["rate_week"]), "y": rates["rate_usd"].astype(float)})
    frame = frame.groupby("ds", sort=True)["y"].mean()
    index = pd.date_range(frame.index.min(), frame.index.max(), freq="7D", name="ds")
    return frame.reindex(index).ffill().reset_index()


def test_weekly_gap_free_equals_pandas_groupby_reindex_and_ffill() -> None:
    """Same frame as the pandas version it replaced: missing weeks carry the last rate; repeated or
    unordered weeks, weeks off the 7-day grid and NaN rates take the pandas path."""
    rng = np.random.default_rng(5)
    grid = pd.date_range("2022-01-03", periods=150, freq="7D")
    for i in range(120):
        n = int(rng.integers(1, 120))
        weeks = grid[np.sort(rng.choice(150, size=n, replace=False))]
        if i % 7 == 1:
            weeks = weeks.append(weeks[:3])  # repeated weeks: their mean
        if i % 7 == 2:
            weeks = weeks[::-1]
        if i % 7 == 3 and n > 2:
            weeks = weeks.insert(1, weeks[0] + pd.Timedelta(days=3))  # off the grid
        rates = pd.DataFrame({"rate_week": [w.date() for w in weeks], "rate_usd": rng.random(len(weeks)) * 3000})
        if i % 7 == 4:
            rates.loc[rates.index[-1], "rate_usd"] = np.nan
        pd.testing.assert_frame_equal(weekly_gap_free(rates), _weekly_gap_free_by_pandas(rates), check_exact=True)
