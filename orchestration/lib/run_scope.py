"""Work a run's process starts in the background that must not outlive the run.

The nightly job runs every step in one process (the in-process executor), and the warehouse
resource is set up when the run starts and torn down when it ends, whatever its steps did:
its teardown calls :func:`end`. Code that leaves something running between steps (the
forecasts' head start, ``defs/forecast/engine.py``) registers how to stop it with
:func:`at_end`; a run whose later steps never take it (a gate failed) does not wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_callbacks: list[tuple[str, Callable[[], object]]] = []


def at_end(name: str, callback: Callable[[], object]) -> None:
    """Call ``callback`` when the run ends (once; ``name`` is for the log)."""
    with _lock:
        _callbacks.append((name, callback))


def end() -> int:
    """Call what was registered, latest first; a callback that fails is logged and the others still run.
    Returns how many were called."""
    with _lock:
        pending = list(reversed(_callbacks))
        _callbacks.clear()
    for name, callback in pending:
        try:
            callback()
        except Exception:
            log.exception("stopping %s at the run's end failed", name)
    return len(pending)
