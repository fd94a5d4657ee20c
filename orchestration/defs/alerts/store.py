"""``alerts.alert_events``: one row per alert condition, the memory that keeps alerts from paging twice."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from orchestration.defs.alerts.notifiers import jsonable

ALERT_EVENTS = "alerts.alert_events"

# Statuses of a condition. 'pending' and 'delivery_failed' are delivered (again) the next time
# the condition is seen; 'delivered' and 'unrouted' (no route selects it) are final.
PENDING = "pending"
DELIVERED = "delivered"
UNROUTED = "unrouted"
DELIVERY_FAILED = "delivery_failed"
FINAL_STATUSES = frozenset({DELIVERED, UNROUTED})

ALERT_EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {ALERT_EVENTS} (
    dedup_key VARCHAR PRIMARY KEY,
    rule VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    payload JSON
)
"""


def ensure_alert_events(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS alerts")
    conn.execute(ALERT_EVENTS_DDL)


def record_alerts(
    conn: duckdb.DuckDBPyConnection, alerts: Sequence[Mapping[str, Any]], seen_at: dt.datetime
) -> dict[str, str | None]:
    """Upsert the alerts seen now; return each key's status before this call (None = new).

    A new condition is inserted as 'pending'. A condition already known only has its
    ``last_seen_at`` moved forward: its first sighting, payload and status stay, which is
    what keeps a persisting condition from being delivered again.
    """
    ensure_alert_events(conn)
    if not alerts:
        return {}
    keys = [str(a["dedup_key"]) for a in alerts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate dedup keys in one batch: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    seen = seen_at.replace(tzinfo=None)
    conn.execute("BEGIN TRANSACTION")
    try:
        previous = dict(
            conn.execute(
                f"SELECT dedup_key, status FROM {ALERT_EVENTS} WHERE dedup_key IN (SELECT unnest(?::VARCHAR[]))",
                [keys],
            ).fetchall()
        )
        conn.executemany(
            f"""
            INSERT INTO {ALERT_EVENTS} (dedup_key, rule, entity, severity, status, first_seen_at, last_seen_at, payload)
            VALUES (?, ?, ?, ?, '{PENDING}', ?, ?, ?::JSON)
            ON CONFLICT (dedup_key) DO UPDATE SET last_seen_at = excluded.last_seen_at
            """,
            [
                [
                    str(a["dedup_key"]),
                    str(a["rule"]),
                    str(a["entity"]),
                    str(a["severity"]),
                    seen,
                    seen,
                    json.dumps(jsonable(a.get("payload", {})), sort_keys=True),
                ]
                for a in alerts
            ],
        )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return {key: previous.get(key) for key in keys}


def set_statuses(conn: duckdb.DuckDBPyConnection, statuses: Mapping[str, str]) -> None:
    """Record the outcome of delivery for each dedup key."""
    if not statuses:
        return
    conn.executemany(
        f"UPDATE {ALERT_EVENTS} SET status = ? WHERE dedup_key = ?",
        [[status, key] for key, status in statuses.items()],
    )
