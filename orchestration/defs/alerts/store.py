"""The alert tables in the warehouse: what was seen (``alerts.alert_events``) and what was sent (``alerts.alert_deliveries``).

``alerts.alert_events`` has one row per *episode* of a condition: it opens when a rule
first finds the condition (``first_seen_at``), follows it while it persists (``last_seen_at``,
current ``severity`` and ``payload``) and is closed when the rule no longer finds it
(``status`` = resolved, ``resolved_at``). If the condition comes back later, a new episode
opens under the same ``dedup_key`` (``alert_id`` = ``<dedup_key>#<episode>``).
``notified_severity`` is the highest severity announced for the episode: a rise above it is
an escalation, which notifies; a fall below it does not.

``alerts.alert_deliveries`` has one row per message (trigger, escalate, resolve) and channel:
``pending`` until sent, then ``delivered`` or ``failed`` (with the attempts and the last
error). Failed rows are sent again by the next run of the same rule. A newer message about
the same episode for the same channel supersedes one still undelivered (``superseded``): the
newer one carries the whole state, so nothing is lost and the channel is not flooded when it
comes back. ``dropped`` marks messages for a channel that is no longer configured.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from orchestration.defs.alerts.notifiers import jsonable

ALERT_EVENTS = "alerts.alert_events"
ALERT_DELIVERIES = "alerts.alert_deliveries"

OPEN, RESOLVED = "open", "resolved"
PENDING, DELIVERED, FAILED, SUPERSEDED, DROPPED = "pending", "delivered", "failed", "superseded", "dropped"
#: Delivery statuses the next run sends (again).
UNSENT = (PENDING, FAILED)

ALERT_EVENTS_COLUMNS: dict[str, str] = {
    "alert_id": "VARCHAR PRIMARY KEY",
    "dedup_key": "VARCHAR NOT NULL",
    "episode": "INTEGER NOT NULL",
    "rule": "VARCHAR NOT NULL",
    "entity": "VARCHAR NOT NULL",
    "severity": "VARCHAR NOT NULL",
    "notified_severity": "VARCHAR",
    "status": "VARCHAR NOT NULL",
    "title": "VARCHAR",
    "first_seen_at": "TIMESTAMP NOT NULL",
    "last_seen_at": "TIMESTAMP NOT NULL",
    "escalated_at": "TIMESTAMP",
    "resolved_at": "TIMESTAMP",
    "first_run_id": "VARCHAR",
    "last_run_id": "VARCHAR",
    "facts": "JSON",
    "payload": "JSON",
}

ALERT_DELIVERIES_COLUMNS: dict[str, str] = {
    "delivery_id": "VARCHAR PRIMARY KEY",
    "alert_id": "VARCHAR NOT NULL",
    "dedup_key": "VARCHAR NOT NULL",
    "rule": "VARCHAR NOT NULL",
    "event": "VARCHAR NOT NULL",
    "severity": "VARCHAR NOT NULL",
    "channel": "VARCHAR NOT NULL",
    "status": "VARCHAR NOT NULL",
    "attempts": "INTEGER NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
    # Order of the messages queued by one run (triggers, escalations, resolutions as the rule found them).
    "seq": "INTEGER NOT NULL",
    "created_run_id": "VARCHAR",
    "last_attempt_at": "TIMESTAMP",
    "delivered_at": "TIMESTAMP",
    "detail": "VARCHAR",
    "message": "JSON NOT NULL",
}


def _ddl(table: str, columns: Mapping[str, str]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})"


def _naive(moment: dt.datetime) -> dt.datetime:
    """UTC wall time for a TIMESTAMP column."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def ensure_alert_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the alert tables; move a table of the first layout (one row per dedup key) aside first."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS alerts")
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'alerts' AND table_name = 'alert_events'"
        ).fetchall()
    }
    if columns and "alert_id" not in columns:
        migrate_first_layout(conn)
    conn.execute(_ddl(ALERT_EVENTS, ALERT_EVENTS_COLUMNS))
    conn.execute(_ddl(ALERT_DELIVERIES, ALERT_DELIVERIES_COLUMNS))


def migrate_first_layout(conn: duckdb.DuckDBPyConnection) -> None:
    """Carry rows of the first layout (dedup_key primary key, delivery status in ``status``) over as resolved episodes.

    That layout keyed freight spikes by week, keys the rules no longer produce: they are
    closed quietly (no resolve message) at their last sighting, so that the first run on the
    new layout does not announce old weeks again.
    """
    conn.execute("ALTER TABLE alerts.alert_events RENAME TO alert_events_first_layout")
    conn.execute(_ddl(ALERT_EVENTS, ALERT_EVENTS_COLUMNS))
    conn.execute(
        f"""
        INSERT INTO {ALERT_EVENTS} (alert_id, dedup_key, episode, rule, entity, severity, notified_severity, status,
                                    title, first_seen_at, last_seen_at, resolved_at, payload)
        SELECT dedup_key || '#1', dedup_key, 1, rule, entity, severity, severity, '{RESOLVED}', NULL,
               first_seen_at, last_seen_at, last_seen_at, payload
        FROM alerts.alert_events_first_layout
        """
    )
    conn.execute("DROP TABLE alerts.alert_events_first_layout")


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def open_alerts(conn: duckdb.DuckDBPyConnection, rules: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The open episode of each dedup key of ``rules``."""
    rows = _rows(
        conn,
        f"SELECT * FROM {ALERT_EVENTS} WHERE status = '{OPEN}' AND rule IN (SELECT unnest(?::VARCHAR[]))",
        [list(rules)],
    )
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["dedup_key"] in out:
            raise RuntimeError(
                f"{ALERT_EVENTS} has two open episodes of {row['dedup_key']}: "
                f"{out[row['dedup_key']]['alert_id']} and {row['alert_id']}; resolve one by hand"
            )
        for column in ("payload", "facts"):
            row[column] = json.loads(row[column]) if isinstance(row[column], str) else (row[column] or {})
        out[row["dedup_key"]] = row
    return out


def last_episodes(conn: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    if not keys:
        return {}
    return dict(
        conn.execute(
            f"SELECT dedup_key, max(episode) FROM {ALERT_EVENTS} WHERE dedup_key IN (SELECT unnest(?::VARCHAR[])) "
            "GROUP BY dedup_key",
            [keys],
        ).fetchall()
    )


def _json(value: Any) -> str:
    """JSON text in the rule's key order (facts are shown in that order)."""
    return json.dumps(jsonable(value or {}), ensure_ascii=False)


def _with_rows(
    conn: duckdb.DuckDBPyConnection, name: str, columns: Mapping[str, tuple[pa.DataType, list[Any]]]
) -> None:
    """Register ``columns`` as the relation ``name`` for the next statement (an Arrow table: typed,
    NULLs kept): one statement for a whole batch instead of one per row."""
    conn.register(name, pa.table({column: pa.array(values, type=kind) for column, (kind, values) in columns.items()}))


def insert_episodes(
    conn: duckdb.DuckDBPyConnection,
    opened: Sequence[tuple[Mapping[str, Any], str, int]],
    seen: dt.datetime,
    run_id: str | None,
) -> None:
    """New open episodes: ``(alert, alert_id, episode)`` each, in one statement."""
    if not opened:
        return
    _with_rows(
        conn,
        "_opened",
        {
            "alert_id": (pa.string(), [alert_id for _, alert_id, _ in opened]),
            "dedup_key": (pa.string(), [str(a["dedup_key"]) for a, _, _ in opened]),
            "episode": (pa.int32(), [episode for _, _, episode in opened]),
            "rule": (pa.string(), [str(a["rule"]) for a, _, _ in opened]),
            "entity": (pa.string(), [str(a["entity"]) for a, _, _ in opened]),
            "severity": (pa.string(), [str(a["severity"]) for a, _, _ in opened]),
            "title": (pa.string(), [a.get("title") for a, _, _ in opened]),
            "facts": (pa.string(), [_json(a.get("facts")) for a, _, _ in opened]),
            "payload": (pa.string(), [_json(a.get("payload")) for a, _, _ in opened]),
        },
    )
    try:
        conn.execute(
            f"""
            INSERT INTO {ALERT_EVENTS} (alert_id, dedup_key, episode, rule, entity, severity, notified_severity, status,
                                        title, first_seen_at, last_seen_at, first_run_id, last_run_id, facts, payload)
            SELECT alert_id, dedup_key, episode, rule, entity, severity, severity, '{OPEN}', title, ?, ?, ?, ?,
                   facts::JSON, payload::JSON
            FROM _opened
            """,
            [_naive(seen), _naive(seen), run_id, run_id],
        )
    finally:
        conn.unregister("_opened")


def update_episodes(
    conn: duckdb.DuckDBPyConnection,
    sightings: Sequence[tuple[str, Mapping[str, Any], bool]],
    seen: dt.datetime,
    run_id: str | None,
) -> None:
    """Sightings of open episodes, ``(alert_id, alert, escalated)`` each, in one statement: current
    severity, title and payload; on escalation the new announced severity."""
    if not sightings:
        return
    _with_rows(
        conn,
        "_sightings",
        {
            "alert_id": (pa.string(), [alert_id for alert_id, _, _ in sightings]),
            "severity": (pa.string(), [str(a["severity"]) for _, a, _ in sightings]),
            "title": (pa.string(), [a.get("title") for _, a, _ in sightings]),
            "facts": (pa.string(), [_json(a.get("facts")) for _, a, _ in sightings]),
            "payload": (pa.string(), [_json(a.get("payload")) for _, a, _ in sightings]),
            "escalated": (pa.bool_(), [bool(escalated) for _, _, escalated in sightings]),
        },
    )
    try:
        conn.execute(
            f"""
            UPDATE {ALERT_EVENTS} AS e
            SET severity = s.severity, title = s.title, last_seen_at = ?, last_run_id = ?,
                facts = s.facts::JSON, payload = s.payload::JSON,
                notified_severity = CASE WHEN s.escalated THEN s.severity ELSE e.notified_severity END,
                escalated_at = CASE WHEN s.escalated THEN ? ELSE e.escalated_at END
            FROM _sightings AS s
            WHERE e.alert_id = s.alert_id
            """,
            [_naive(seen), run_id, _naive(seen)],
        )
    finally:
        conn.unregister("_sightings")


def resolve_episodes(
    conn: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], when: dt.datetime, run_id: str | None
) -> None:
    if not alert_ids:
        return
    conn.execute(
        f"UPDATE {ALERT_EVENTS} SET status = '{RESOLVED}', resolved_at = ?, last_run_id = ? "
        "WHERE alert_id IN (SELECT unnest(?::VARCHAR[]))",
        [_naive(when), run_id, list(alert_ids)],
    )


def enqueue_deliveries(
    conn: duckdb.DuckDBPyConnection,
    queued: Sequence[tuple[Mapping[str, Any], str, int]],
    created: dt.datetime,
    run_id: str | None,
) -> list[str]:
    """Record messages as pending, ``(message, channel, seq)`` each, in two statements; an older unsent
    message of the same episode to the same channel is superseded by the newest one queued now."""
    if not queued:
        return []
    stamp = _naive(created).isoformat(timespec="microseconds")
    ids = [f"{m['alert_id']}|{m['event']}|{stamp}|{channel}" for m, channel, _ in queued]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two messages of one event for the same episode and channel in one run: {sorted(ids)[:5]}")
    _with_rows(
        conn,
        "_queued",
        {
            "delivery_id": (pa.string(), ids),
            "alert_id": (pa.string(), [str(m["alert_id"]) for m, _, _ in queued]),
            "dedup_key": (pa.string(), [str(m["dedup_key"]) for m, _, _ in queued]),
            "rule": (pa.string(), [str(m["rule"]) for m, _, _ in queued]),
            "event": (pa.string(), [str(m["event"]) for m, _, _ in queued]),
            "severity": (pa.string(), [str(m["severity"]) for m, _, _ in queued]),
            "channel": (pa.string(), [channel for _, channel, _ in queued]),
            "seq": (pa.int32(), [seq for _, _, seq in queued]),
            "message": (pa.string(), [_json(m) for m, _, _ in queued]),
        },
    )
    try:
        # The message queued last for an episode and channel names the supersession (what replaced it).
        conn.execute(
            f"""
            UPDATE {ALERT_DELIVERIES} AS d
            SET status = '{SUPERSEDED}', detail = 'superseded by ' || q.event || ' of {stamp} before it was delivered'
            FROM (SELECT alert_id, channel, arg_max(event, seq) AS event FROM _queued GROUP BY ALL) AS q
            WHERE d.alert_id = q.alert_id AND d.channel = q.channel AND d.status IN ('{PENDING}', '{FAILED}')
            """
        )
        conn.execute(
            f"""
            INSERT INTO {ALERT_DELIVERIES} (delivery_id, alert_id, dedup_key, rule, event, severity, channel, status,
                                            attempts, created_at, seq, created_run_id, message)
            SELECT delivery_id, alert_id, dedup_key, rule, event, severity, channel, '{PENDING}', 0, ?, seq, ?,
                   message::JSON
            FROM _queued
            """,
            [_naive(created), run_id],
        )
    finally:
        conn.unregister("_queued")
    return ids


def unsent_deliveries(conn: duckdb.DuckDBPyConnection, rules: Iterable[str]) -> list[dict[str, Any]]:
    """Pending and failed messages of ``rules``, oldest first (a channel sees an episode's messages in order)."""
    rows = _rows(
        conn,
        f"SELECT * FROM {ALERT_DELIVERIES} WHERE status IN ('{PENDING}', '{FAILED}') "
        "AND rule IN (SELECT unnest(?::VARCHAR[])) ORDER BY created_at, seq, delivery_id",
        [list(rules)],
    )
    for row in rows:
        row["message"] = json.loads(row["message"]) if isinstance(row["message"], str) else row["message"]
    return rows


def record_attempts(
    conn: duckdb.DuckDBPyConnection,
    outcomes: Sequence[tuple[str, str, int, str]],
    when: dt.datetime,
) -> None:
    """The outcomes of sending messages, ``(delivery_id, status, attempts, detail)`` each (``attempts``
    made now; 0 when it was not tried), in one statement."""
    if not outcomes:
        return
    _with_rows(
        conn,
        "_attempts",
        {
            "delivery_id": (pa.string(), [o[0] for o in outcomes]),
            "status": (pa.string(), [o[1] for o in outcomes]),
            "attempts": (pa.int32(), [int(o[2]) for o in outcomes]),
            "detail": (pa.string(), [o[3] for o in outcomes]),
        },
    )
    try:
        conn.execute(
            f"""
            UPDATE {ALERT_DELIVERIES} AS d
            SET status = a.status, attempts = d.attempts + a.attempts, detail = a.detail,
                last_attempt_at = CASE WHEN a.attempts > 0 THEN ? ELSE d.last_attempt_at END,
                delivered_at = CASE WHEN a.status = '{DELIVERED}' THEN ? ELSE d.delivered_at END
            FROM _attempts AS a
            WHERE d.delivery_id = a.delivery_id
            """,
            [_naive(when), _naive(when)],
        )
    finally:
        conn.unregister("_attempts")
