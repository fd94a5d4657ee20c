"""Forecast domain: Prophet demand and freight-rate forecasts, backtested against naive baselines.

Resources are not bound here: the root Definitions provides ``warehouse``.
"""

import dagster as dg

from orchestration.defs.forecast.assets import demand_forecast, freight_rate_forecast

defs = dg.Definitions(assets=[demand_forecast, freight_rate_forecast])

__all__ = ["defs", "demand_forecast", "freight_rate_forecast"]
