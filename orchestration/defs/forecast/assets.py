"""Demand forecast asset: Prophet per top SKU x market series, written to ``forecast.demand_forecast``."""

import datetime as dt
import time
from collections.abc import Sequence

import dagster as dg
import duckdb
import pandas as pd

from orchestration.defs.forecast.models import (
    days_with_data,
    fill_daily,
    forecast_demand,
    seasonal_naive_forecast,
)
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import WarehouseResource

DEMAND_MART = "marts.demand_sku_market_daily"
FORECAST_TABLE = "forecast.demand_forecast"
#: Series with fewer days with sales than this get the seasonal-naive baseline, not Prophet.
MIN_DAYS_WITH_DATA = 28
#: Revenue window that ranks the series worth a model of their own.
RANKING_WINDOW_DAYS = 90

FORECAST_DDL = f"""
CREATE TABLE IF NOT EXISTS {FORECAST_TABLE} (
    sku VARCHAR NOT NULL,
    destination_country VARCHAR NOT NULL,
    forecast_date DATE NOT NULL,
    yhat_units DOUBLE NOT NULL,
    yhat_lower_units DOUBLE NOT NULL,
    yhat_upper_units DOUBLE NOT NULL,
    model VARCHAR NOT NULL,
    trained_through DATE NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (sku, destination_country, forecast_date)
)
"""


def latest_order_date(conn: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The last day in the demand mart: the 'as of' day of the forecast, not today's date."""
    row = conn.execute(f"SELECT max(order_date) FROM {DEMAND_MART}").fetchone()
    return row[0] if row and row[0] is not None else None


def select_top_series(conn: duckdb.DuckDBPyConnection, n: int) -> list[tuple[str, str]]:
    """The ``n`` SKU x market series with the most revenue over the last 90 days of the mart.

    The window ends at the mart's last day rather than today, so a backfill or a stale sample
    still ranks on the data it has. Ties break on SKU then country, so the choice is stable.
    """
    if n <= 0:
        return []
    rows = conn.execute(
        f"""
        WITH bounds AS (SELECT max(order_date) AS last_day FROM {DEMAND_MART})
        SELECT sku, destination_country
        FROM {DEMAND_MART}, bounds
        WHERE order_date > bounds.last_day - INTERVAL {RANKING_WINDOW_DAYS} DAY
        GROUP BY sku, destination_country
        HAVING sum(revenue_usd) > 0
        ORDER BY sum(revenue_usd) DESC, sku, destination_country
        LIMIT ?
        """,
        [n],
    ).fetchall()
    return [(str(sku), str(country)) for sku, country in rows]


def load_histories(
    conn: duckdb.DuckDBPyConnection, series: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], pd.DataFrame]:
    """Daily unit sales (rows with sales only) of the given series, in one query."""
    if not series:
        return {}
    wanted = pd.DataFrame(series, columns=["sku", "destination_country"])
    conn.register("_wanted_series", wanted)
    try:
        frame = conn.execute(
            f"""
            SELECT d.sku, d.destination_country, d.order_date AS ds, d.units AS y
            FROM {DEMAND_MART} d
            JOIN _wanted_series w USING (sku, destination_country)
            ORDER BY d.sku, d.destination_country, d.order_date
            """
        ).df()
    finally:
        conn.unregister("_wanted_series")
    out: dict[tuple[str, str], pd.DataFrame] = {key: frame.iloc[0:0][["ds", "y"]] for key in series}
    for (sku, country), group in frame.groupby(["sku", "destination_country"], sort=False):
        out[(str(sku), str(country))] = group[["ds", "y"]].reset_index(drop=True)
    return out


def replace_forecast(conn: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Replace every row of ``forecast.demand_forecast`` with ``rows`` in one transaction.

    A failure leaves yesterday's forecast in place for readers instead of a half-written one.
    """
    conn.execute("CREATE SCHEMA IF NOT EXISTS forecast")
    conn.execute(FORECAST_DDL)
    conn.register("_forecast_rows", rows)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DELETE FROM {FORECAST_TABLE}")
        conn.execute(
            f"""
            INSERT INTO {FORECAST_TABLE}
            SELECT sku, destination_country, CAST(forecast_date AS DATE), yhat_units, yhat_lower_units,
                   yhat_upper_units, model, CAST(trained_through AS DATE), CAST(generated_at AS TIMESTAMP)
            FROM _forecast_rows
            """
        )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("_forecast_rows")
    return int(conn.execute(f"SELECT count(*) FROM {FORECAST_TABLE}").fetchone()[0])


def markdown_table(frame: pd.DataFrame) -> str:
    """A small Markdown table for the run metadata (no tabulate dependency)."""
    if frame.empty:
        return "_no rows_"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"

    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


OUTPUT_COLUMNS = [
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


@dg.asset(
    key=dg.AssetKey(["forecast", "demand_forecast"]),
    group_name="forecast",
    deps=[dg.AssetKey(["marts", "demand_sku_market_daily"])],
    kinds={"python", "duckdb"},
    description=(
        "Daily unit demand for the top SKU x market series by 90-day revenue, 90 days ahead, with "
        "Prophet (destination public holidays, weekly and yearly seasonality). Series with under 28 "
        "days of sales get the seasonal-naive baseline, labelled model='seasonal_naive'."
    ),
)
def demand_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Fit one model per top series and replace ``forecast.demand_forecast`` with the result."""
    settings = get_settings().forecast
    started = time.perf_counter()
    generated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    with warehouse.connect() as conn:
        as_of = latest_order_date(conn)
        series = select_top_series(conn, settings.top_series) if as_of else []
        histories = load_histories(conn, series)
    if as_of is None:
        context.log.warning(f"{DEMAND_MART} is empty: writing an empty forecast")

    frames: list[pd.DataFrame] = []
    models_used: dict[str, int] = {}
    fit_seconds: list[float] = []
    total = len(series)
    for i, (sku, country) in enumerate(series, start=1):
        raw = histories.get((sku, country), pd.DataFrame(columns=["ds", "y"]))
        history = fill_daily(raw, end=as_of)
        with_data = days_with_data(raw)
        t0 = time.perf_counter()
        if with_data < MIN_DAYS_WITH_DATA:
            model_name = "seasonal_naive"
            reason = f"{with_data} days with sales < {MIN_DAYS_WITH_DATA}"
            fc = seasonal_naive_forecast(history, settings.horizon_days)
        else:
            model_name, reason = "prophet", f"{with_data} days with sales"
            try:
                fc = forecast_demand(
                    history,
                    country=country,
                    horizon_days=settings.horizon_days,
                    seed=settings.seed,
                    uncertainty_samples=settings.uncertainty_samples,
                )
            except (ValueError, RuntimeError) as exc:
                # One bad series must not cost the other forecasts; the label says what was used.
                model_name, reason = "seasonal_naive", f"Prophet failed ({type(exc).__name__}: {exc})"
                context.log.warning(f"series {i}/{total} {sku} x {country}: {reason}; using seasonal naive")
                fc = seasonal_naive_forecast(history, settings.horizon_days)
        seconds = time.perf_counter() - t0
        if model_name == "prophet":
            fit_seconds.append(seconds)
        models_used[model_name] = models_used.get(model_name, 0) + 1
        context.log.info(f"series {i}/{total} {sku} x {country}: {model_name} ({reason}) in {seconds:.2f}s")
        frames.append(
            pd.DataFrame(
                {
                    "sku": sku,
                    "destination_country": country,
                    "forecast_date": fc["ds"].dt.date,
                    "yhat_units": fc["yhat"].astype(float),
                    "yhat_lower_units": fc["yhat_lower"].astype(float),
                    "yhat_upper_units": fc["yhat_upper"].astype(float),
                    "model": model_name,
                    "trained_through": as_of,
                    "generated_at": generated_at,
                }
            )
        )

    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)
    with warehouse.connect() as conn:
        written = replace_forecast(conn, rows[OUTPUT_COLUMNS])

    elapsed = time.perf_counter() - started
    preview = rows.groupby(["sku", "destination_country", "model"], as_index=False, sort=False).agg(
        first_day=("forecast_date", "min"),
        units_next_7d=("yhat_units", lambda s: float(s.head(7).sum())),
        units_horizon=("yhat_units", "sum"),
    )
    return dg.MaterializeResult(
        metadata={
            "series": dg.MetadataValue.int(total),
            "rows": dg.MetadataValue.int(written),
            "models": dg.MetadataValue.json(models_used),
            "trained_through": dg.MetadataValue.text(str(as_of) if as_of else "none"),
            "horizon_days": dg.MetadataValue.int(settings.horizon_days),
            "mean_prophet_seconds_per_series": dg.MetadataValue.float(
                round(sum(fit_seconds) / len(fit_seconds), 3) if fit_seconds else 0.0
            ),
            "elapsed_seconds": dg.MetadataValue.float(round(elapsed, 2)),
            "preview": dg.MetadataValue.md(markdown_table(preview.head(20))),
        }
    )
