"""Forecast benchmark: series per minute and accuracy against naive baselines.

Three measurements, written to ``benchmarks/results/forecast.json`` and ``forecast.md``:

1. **Speed, daily path**: the real ``forecast/demand_forecast`` asset (``dg.materialize``) on a
   stand-in warehouse built from the sample generator (two years of orders at ``--scale``),
   with ``top_series`` SKU x market series and *every* series forced through the daily
   Prophet path (``intermittent_adi=inf``): the most expensive case. The other SKUs are
   forecast per category x market in the same run, so more series than ``--series`` are fitted.
2. **Pipeline defaults**: the same run with the automatic daily/weekly choice, then the
   ``forecast/freight_rate_forecast`` asset on every lane x mode. Accuracy tables are read
   back from ``forecast.backtest_metrics``.
3. **Prophet's example series** (monthly air passengers and US retail sales, bundled under
   ``orchestration/reference_data/prophet_examples``): rolling-origin backtest of Prophet vs
   the seasonal naive with a 12-month season.

The machine is shared: the load average is recorded before and after each timed run.

    .venv/bin/python benchmarks/forecast_bench.py            # 2,000 series, ~10-15 minutes
    .venv/bin/python benchmarks/forecast_bench.py --series 100 --no-write   # smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "orchestration" / "reference_data" / "prophet_examples"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- stand-in warehouse


def build_warehouse(path: Path, scale: float, end: dt.date, seed: int, history_days: int) -> dict[str, Any]:
    """``marts.demand_sku_market_daily``, ``raw.catalog`` and ``marts.risk_lane_weekly`` from the sample.

    Same columns the forecast assets read, computed the simple way (order day = UTC day of
    the order, revenue converted at the day's FX rate), without running ingest and dbt.
    """
    from orchestration.lib.sample import generate_table

    start = end - dt.timedelta(days=history_days - 1)
    t0 = time.perf_counter()
    orders = generate_table("orders", start, end, seed=seed, scale=scale)
    fx = generate_table("fx_rates", start, end, seed=seed, scale=scale)
    catalog = generate_table("catalog", end, end, seed=seed, scale=scale)
    freight = generate_table("freight_rates", dt.date(2019, 1, 7), end, seed=seed, scale=scale)
    freight_fx = generate_table("fx_rates", dt.date(2019, 1, 7), end, seed=seed, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = duckdb.connect(str(path))
    try:
        for name, frame in (
            ("orders_df", orders),
            ("fx_df", pd.concat([fx, freight_fx]).drop_duplicates(["rate_date", "currency"])),
            ("catalog_df", catalog),
            ("freight_df", freight),
        ):
            conn.register(name, frame)
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE SCHEMA raw")
        conn.execute("CREATE TABLE raw.catalog AS SELECT sku, category FROM catalog_df")
        conn.execute(
            """
            CREATE TABLE marts.demand_sku_market_daily AS
            WITH lines AS (
                SELECT o.*, CAST(o.ordered_at AS DATE) AS order_date
                FROM orders_df o
            ),
            priced AS (
                SELECT l.*, f.units_per_usd
                FROM lines l ASOF LEFT JOIN fx_df f
                  ON l.currency = f.currency AND l.order_date >= f.rate_date
            )
            SELECT sku, destination_country, order_date,
                   count(DISTINCT order_id) AS orders,
                   sum(quantity) AS units,
                   sum(quantity * unit_price / coalesce(units_per_usd, 1.0)) AS revenue_usd
            FROM priced
            GROUP BY ALL
            """
        )
        conn.execute(
            """
            CREATE TABLE marts.risk_lane_weekly AS
            SELECT r.lane_id, r.mode, r.origin_country, r.destination_country, r.rate_unit, r.rate_week,
                   r.rate / coalesce(f.units_per_usd, 1.0) AS rate_usd
            FROM freight_df r ASOF LEFT JOIN fx_df f ON r.currency = f.currency AND r.rate_week >= f.rate_date
            """
        )
        stats = conn.execute(
            """SELECT count(*), count(DISTINCT (sku, destination_country)), min(order_date), max(order_date)
               FROM marts.demand_sku_market_daily"""
        ).fetchone()
        lanes = conn.execute("SELECT count(DISTINCT (lane_id, mode)) FROM marts.risk_lane_weekly").fetchone()[0]
    finally:
        conn.close()
    return {
        "scale": scale,
        "seed": seed,
        "demand_rows": stats[0],
        "sku_market_series": stats[1],
        "first_day": str(stats[2]),
        "last_day": str(stats[3]),
        "lane_mode_series": lanes,
        "build_seconds": round(time.perf_counter() - t0, 1),
    }


# ---------------------------------------------------------------- asset runs


def materialize(asset: Any, warehouse: Path, data_dir: Path, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run one asset with ``dg.materialize`` under the given settings; its metadata and wall time."""
    import dagster as dg

    from orchestration.lib.settings import get_settings
    from orchestration.lib.warehouse import WarehouseResource

    previous = {k: os.environ.get(k) for k in env}
    os.environ.update({**env, "TRADEWINDS_DATA_DIR": str(data_dir)})
    get_settings.cache_clear()
    try:
        t0 = time.perf_counter()
        result = dg.materialize([asset], resources={"warehouse": WarehouseResource(path=str(warehouse))})
        wall = time.perf_counter() - t0
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.environ.pop("TRADEWINDS_DATA_DIR", None)
        get_settings.cache_clear()
    if not result.success:
        raise SystemExit(f"{asset.key.to_user_string()} failed")
    event = result.get_asset_materialization_events()[0]
    meta = event.materialization.metadata
    return {k: v.value for k, v in meta.items() if k not in ("actual_vs_forecast",)}, wall


def accuracy_from_warehouse(warehouse: Path, levels: tuple[str, ...]) -> pd.DataFrame:
    """Mean over origins per series, then median over series, per level, granularity and model."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        placeholders = ", ".join("?" for _ in levels)
        return conn.execute(
            f"""
            WITH per_series AS (
                SELECT series_level, granularity, series_id, model,
                       avg(mase) AS mase, avg(smape_pct) AS smape_pct, avg(interval_coverage) AS coverage,
                       count(*) AS origins
                FROM forecast.backtest_metrics
                WHERE series_level IN ({placeholders})
                GROUP BY ALL
            ),
            paired AS (
                SELECT p.series_level, p.granularity, p.series_id,
                       p.mase AS prophet_mase, b.mase AS baseline_mase,
                       p.smape_pct AS prophet_smape, b.smape_pct AS baseline_smape,
                       p.coverage AS prophet_coverage, b.coverage AS baseline_coverage
                FROM per_series p JOIN per_series b USING (series_level, granularity, series_id)
                WHERE p.model = 'prophet' AND b.model <> 'prophet'
            )
            SELECT series_level AS level, granularity, count(*) AS series,
                   count(*) FILTER (WHERE prophet_mase < baseline_mase) AS prophet_better,
                   median(prophet_mase) AS median_mase_prophet, median(baseline_mase) AS median_mase_baseline,
                   median(prophet_smape) AS median_smape_prophet, median(baseline_smape) AS median_smape_baseline,
                   avg(prophet_coverage) AS coverage_prophet, avg(baseline_coverage) AS coverage_baseline
            FROM paired
            GROUP BY ALL
            ORDER BY level, granularity
            """,
            list(levels),
        ).df()


def per_series_metrics(warehouse: Path) -> pd.DataFrame:
    """Prophet's mean coverage and MASE per SKU and lane series (a snapshot before the next run replaces them)."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(
            """
            SELECT series_level, granularity, series_id, avg(interval_coverage) AS coverage, avg(mase) AS mase
            FROM forecast.backtest_metrics
            WHERE model = 'prophet' AND series_level IN ('sku', 'lane')
            GROUP BY ALL
            """
        ).df()


def compare_intervals(residual: pd.DataFrame, sampled: pd.DataFrame, samples: int) -> pd.DataFrame:
    """Mean Prophet interval coverage on the same series: residual band vs ``samples`` simulated draws."""
    both = residual.merge(sampled, on=["series_level", "granularity", "series_id"], suffixes=("_residual", "_sampled"))
    return (
        both.groupby(["series_level", "granularity"], as_index=False)
        .agg(
            series=("series_id", "size"),
            coverage_residual_band=("coverage_residual", "mean"),
            coverage_sampled=("coverage_sampled", "mean"),
            median_mase_residual_run=("mase_residual", "median"),
            median_mase_sampled_run=("mase_sampled", "median"),
        )
        .assign(samples=samples)
    )


# ---------------------------------------------------------------- Prophet examples


def example_backtest(name: str, origins: int = 3, horizon: int = 12, season: int = 12) -> dict[str, Any]:
    """Rolling-origin backtest on a monthly example: Prophet (log scale) and additive vs seasonal naive."""
    from orchestration.defs.forecast import metrics
    from orchestration.defs.forecast.models import ProphetConfig, fit_prophet_direct

    frame = pd.read_csv(EXAMPLES / f"{name}.csv", parse_dates=["ds"])
    y_all = frame["y"].to_numpy(dtype=float)
    configs = {
        "prophet_additive": ProphetConfig(yearly_order=10, weekly_seasonality=False, floor_zero=False),
        "prophet_log": ProphetConfig(yearly_order=10, weekly_seasonality=False, log_scale=True, floor_zero=False),
    }
    rows = []
    for k in range(origins, 0, -1):
        cut = len(frame) - k * horizon
        train, test = frame.iloc[:cut], frame.iloc[cut : cut + horizon]
        actual = test["y"].to_numpy(dtype=float)
        scale = metrics.naive_scale(train["y"].to_numpy(), season)
        future = pd.date_range(train["ds"].iloc[-1], periods=horizon + 1, freq="MS")[1:]
        # Seasonal naive: the same month one year earlier; its interval from the lag-12 differences.
        y_train = y_all[:cut]
        naive = y_train[-season:][np.arange(horizon) % season]
        diffs = y_train[season:] - y_train[:-season]
        lo, hi = np.quantile(diffs, [0.1, 0.9])
        forecasts = {"seasonal_naive": (naive, naive + lo, naive + hi)}
        for label, config in configs.items():
            fc = fit_prophet_direct(train, future, config, seed=7).forecast
            forecasts[label] = (fc["yhat"].to_numpy(), fc["yhat_lower"].to_numpy(), fc["yhat_upper"].to_numpy())
        for label, (yhat, lower, upper) in forecasts.items():
            rows.append(
                {
                    "series": name,
                    "origin": str(train["ds"].iloc[-1].date()),
                    "model": label,
                    "mase": metrics.mase(actual, yhat, scale),
                    "smape_pct": metrics.smape(actual, yhat),
                    "coverage": metrics.coverage(actual, lower, upper),
                }
            )
    table = pd.DataFrame(rows)
    summary = table.groupby("model", as_index=False)[["mase", "smape_pct", "coverage"]].mean()
    summary.insert(0, "series", name)
    return {"per_origin": table, "summary": summary}


# ---------------------------------------------------------------- report


def md_table(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:.3f}" if math.isfinite(v) else "n/a"
        return str(v)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--series", type=int, default=2000, help="top SKU x market series with their own model")
    parser.add_argument("--end", default="2025-06-30")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    parser.add_argument("--skip-daily", action="store_true", help="skip the forced-daily speed run")
    parser.add_argument("--interval-series", type=int, default=300, help="SKU series in the sampled-interval run")
    parser.add_argument("--samples", type=int, default=200, help="uncertainty samples in the sampled-interval run")
    parser.add_argument("--no-write", action="store_true", help="print, do not write benchmarks/results")
    args = parser.parse_args()

    from orchestration.defs.forecast.assets import demand_forecast, freight_rate_forecast

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tw-forecast-bench-"))
    warehouse = workdir / "warehouse.duckdb"
    end = dt.date.fromisoformat(args.end)
    out: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"series": args.series, "workers": args.workers, "scale": args.scale, "sample_end": args.end},
    }
    print(f"building the stand-in warehouse (scale {args.scale}) in {workdir}", flush=True)
    out["warehouse"] = build_warehouse(warehouse, args.scale, end, args.seed, history_days=730)
    print(json.dumps(out["warehouse"]), flush=True)
    base_env = {
        "TRADEWINDS_FORECAST__TOP_SERIES": str(args.series),
        "TRADEWINDS_FORECAST__WORKERS": str(args.workers),
        "TRADEWINDS_FORECAST__PLOT_SERIES": "6",
    }

    runs: dict[str, Any] = {}
    if not args.skip_daily:
        print("run 1: every demand series through the daily Prophet path", flush=True)
        before = load()
        meta, wall = materialize(
            demand_forecast, warehouse, workdir / "data", {**base_env, "TRADEWINDS_FORECAST__INTERMITTENT_ADI": "inf"}
        )
        runs["demand_daily_forced"] = {
            "wall_seconds": round(wall, 1),
            "load_before": before,
            "load_after": load(),
            **meta,
        }
        runs["demand_daily_forced"]["accuracy"] = accuracy_from_warehouse(warehouse, ("sku", "category")).to_dict(
            "records"
        )
        print(json.dumps(runs["demand_daily_forced"]["run"]), flush=True)

    print("run 2: pipeline defaults (daily or weekly per series)", flush=True)
    before = load()
    meta, wall = materialize(demand_forecast, warehouse, workdir / "data", base_env)
    runs["demand_defaults"] = {"wall_seconds": round(wall, 1), "load_before": before, "load_after": load(), **meta}
    demand_accuracy = accuracy_from_warehouse(warehouse, ("sku", "category"))
    runs["demand_defaults"]["accuracy"] = demand_accuracy.to_dict("records")
    print(json.dumps(runs["demand_defaults"]["run"]), flush=True)

    print("run 3: freight rates per lane x mode", flush=True)
    before = load()
    meta, wall = materialize(freight_rate_forecast, warehouse, workdir / "data", base_env)
    runs["freight"] = {"wall_seconds": round(wall, 1), "load_before": before, "load_after": load(), **meta}
    freight_accuracy = accuracy_from_warehouse(warehouse, ("lane",))
    runs["freight"]["accuracy"] = freight_accuracy.to_dict("records")
    print(json.dumps(runs["freight"]["run"]), flush=True)

    if args.interval_series > 0:
        print("run 4: Prophet's sampled intervals instead of the residual band", flush=True)
        residual = per_series_metrics(warehouse)
        env = {
            **base_env,
            "TRADEWINDS_FORECAST__TOP_SERIES": str(args.interval_series),
            "TRADEWINDS_FORECAST__UNCERTAINTY_SAMPLES": str(args.samples),
        }
        before = load()
        meta, wall = materialize(demand_forecast, warehouse, workdir / "data", env)
        demand_run = {"wall_seconds": round(wall, 1), "load_before": before, "load_after": load(), **meta}
        before = load()
        meta, wall = materialize(freight_rate_forecast, warehouse, workdir / "data", env)
        freight_run = {"wall_seconds": round(wall, 1), "load_before": before, "load_after": load(), **meta}
        sampled = per_series_metrics(warehouse)
        runs[f"demand_sampled_{args.samples}"] = demand_run
        runs[f"freight_sampled_{args.samples}"] = freight_run
        out["interval_comparison"] = compare_intervals(residual, sampled, args.samples).to_dict("records")
        print(pd.DataFrame(out["interval_comparison"]).to_string(index=False), flush=True)
    out["runs"] = runs

    print("Prophet example series", flush=True)
    examples = [example_backtest("example_air_passengers"), example_backtest("example_retail_sales")]
    example_summary = pd.concat([e["summary"] for e in examples], ignore_index=True)
    out["prophet_examples"] = {
        "summary": example_summary.to_dict("records"),
        "per_origin": pd.concat([e["per_origin"] for e in examples]).to_dict("records"),
    }
    print(example_summary.to_string(index=False), flush=True)

    report = render_report(out, demand_accuracy, freight_accuracy, example_summary)
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "forecast.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
        (RESULTS / "forecast.md").write_text(report + "\n")
        print(f"wrote {RESULTS / 'forecast.json'} and {RESULTS / 'forecast.md'}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def render_report(out: dict[str, Any], demand: pd.DataFrame, freight: pd.DataFrame, examples: pd.DataFrame) -> str:
    m = out["machine"]
    lines = [
        "# Forecast benchmark",
        "",
        f"Measured {out['measured_at']} on {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"{out['settings']['workers']} worker processes. Stand-in warehouse from the sample generator at scale "
        f"{out['warehouse']['scale']}: {out['warehouse']['sku_market_series']} SKU x market series, "
        f"{out['warehouse']['first_day']}..{out['warehouse']['last_day']}; "
        f"{out['warehouse']['lane_mode_series']} lane x mode freight series. "
        "Load average (1, 5, 15 min) before and after each run: the machine was shared.",
        "",
        "## Speed",
        "",
        "Fit + backtest seconds: wall time of the parallel phase; CPU s/series: CPU of the workers and their "
        "Stan processes per series (what a series costs, whatever else runs); idle-machine estimate: total CPU "
        f"divided by the {m['cpus']} CPUs.",
        "",
        "| run | series (SKU + category) | Prophet fits | fit + backtest s | series/min | CPU s/series "
        "| idle-machine estimate s | asset wall s | load before | load after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in out["runs"].items():
        stats = run["run"]
        series = run.get("series")
        series_text = (
            f"{series.get('sku', 0)} + {series.get('category', 0)}" if isinstance(series, dict) else str(series)
        )
        lines.append(
            f"| {name} | {series_text} | {stats['prophet_fits']} | {stats['elapsed_seconds']} | "
            f"{stats['series_per_minute']} | {stats['cpu_seconds_per_series']} | "
            f"{round(stats['cpu_seconds'] / (m['cpus'] or 1))} | {run['wall_seconds']} | {run['load_before']} | "
            f"{run['load_after']} |"
        )
    lines += [
        "",
        "## Accuracy vs the naive baselines (rolling origins, pipeline defaults)",
        "",
        "Per series: mean over the backtest origins; then the median over series (coverage: mean). "
        "Baseline: seasonal naive (same weekday last week; last week's total for weekly buckets) for demand, "
        "naive (last week's rate) for freight. Interval: 80%.",
        "",
        md_table(pd.concat([demand, freight], ignore_index=True)),
        "",
        "## Interval method: Prophet's coverage on the same series (nominal 0.80)",
        "",
        md_table(pd.DataFrame(out.get("interval_comparison", []))) if out.get("interval_comparison") else "_not run_",
        "",
        "## Prophet example series (monthly; seasonal naive with a 12-month season; 3 origins x 12 months)",
        "",
        md_table(examples),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
