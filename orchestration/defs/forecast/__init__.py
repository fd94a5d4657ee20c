"""Forecast domain: Prophet demand forecasts (freight forecasts and backtests come later).

Resources are not bound here: the root Definitions provides ``warehouse``.
"""

import dagster as dg

from orchestration.defs.forecast.assets import demand_forecast

defs = dg.Definitions(assets=[demand_forecast])

__all__ = ["defs", "demand_forecast"]
