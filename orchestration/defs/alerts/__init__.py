"""Alerts domain: alert assets, notifiers and the on-call sensors (failed runs, failed gates).

Resources are not bound here: the root Definitions provides ``warehouse``.
"""

import dagster as dg

from orchestration.defs.alerts.assets import ALERT_ASSETS, freight_spike_alerts
from orchestration.defs.alerts.sensors import (
    oncall_gate_failure,
    oncall_run_failure,
    page_failed_gates,
    page_failed_run,
)

defs = dg.Definitions(assets=ALERT_ASSETS, sensors=[oncall_run_failure, oncall_gate_failure])

__all__ = [
    "ALERT_ASSETS",
    "defs",
    "freight_spike_alerts",
    "oncall_gate_failure",
    "oncall_run_failure",
    "page_failed_gates",
    "page_failed_run",
]
