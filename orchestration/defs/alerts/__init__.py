"""Alerts domain: alert assets, notifiers and the on-call run-failure sensor.

Resources are not bound here: the root Definitions provides ``warehouse``.
"""

import dagster as dg

from orchestration.defs.alerts.assets import ALERT_ASSETS, freight_spike_alerts
from orchestration.defs.alerts.sensors import oncall_run_failure, page_failed_run

defs = dg.Definitions(assets=ALERT_ASSETS, sensors=[oncall_run_failure])

__all__ = ["ALERT_ASSETS", "defs", "freight_spike_alerts", "oncall_run_failure", "page_failed_run"]
