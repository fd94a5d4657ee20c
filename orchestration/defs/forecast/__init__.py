"""Forecast domain: Prophet demand and freight-rate forecasts, backtested against naive baselines.

Resources are not bound here: the root Definitions provides ``warehouse``.

The Dagster objects are loaded on first access (PEP 562): the worker processes that fit
series import ``orchestration.defs.forecast.engine`` and should not pay for importing
Dagster on start-up.
"""

from typing import Any

__all__ = ["defs", "demand_forecast", "freight_rate_forecast"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import dagster as dg

    from orchestration.defs.forecast.assets import demand_forecast, freight_rate_forecast

    exported = {
        "defs": dg.Definitions(assets=[demand_forecast, freight_rate_forecast]),
        "demand_forecast": demand_forecast,
        "freight_rate_forecast": freight_rate_forecast,
    }
    globals().update(exported)
    return exported[name]
