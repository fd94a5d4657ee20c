"""From what a rule found to what people hear: open, escalate, resolve, and deliver with retries.

Each run of an alert asset:

1. checks the notifier configuration (a mistake raises before anything changes);
2. compares the rule's findings with the open episodes of its rules (:func:`plan_transitions`):
   a new condition opens an episode and *triggers*; a condition already open only moves its
   ``last_seen_at`` (no message) unless its severity rose above what was announced
   (*escalate*); an open condition that the rule no longer finds is *resolved* (a message),
   unless the rule could not judge it this run;
3. records that and one pending delivery per message and routed channel, in one transaction
   (a statement per kind of change, not per row: a night can see thousands of open conditions);
4. sends every unsent delivery of its rules, this run's and those that failed before, with
   retries and backoff per message. A channel that fails for good is not tried again in this
   run (its remaining messages wait for the next), and never stops the other channels.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import duckdb

from orchestration.defs.alerts import store
from orchestration.defs.alerts.notifiers import (
    ESCALATE,
    RESOLVE,
    SEVERITY_RANK,
    TRIGGER,
    DeliveryError,
    Outbox,
    jsonable,
    redact,
    route_channels,
    secret_values,
    send_with_retries,
    validate_routing,
)
from orchestration.defs.alerts.rules import RuleResult
from orchestration.lib.settings import Settings
from orchestration.lib.warehouse import transaction


@dataclass
class Transitions:
    """What changes for the episodes of one rule run (pure result of :func:`plan_transitions`)."""

    opened: list[tuple[dict[str, Any], str, int]] = field(default_factory=list)  # alert, alert_id, episode
    escalated: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # alert, open row
    persisting: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # alert, open row
    resolved: list[dict[str, Any]] = field(default_factory=list)  # open rows
    unjudged: list[dict[str, Any]] = field(default_factory=list)  # open rows left as they are


def plan_transitions(
    found: Sequence[Mapping[str, Any]],
    open_rows: Mapping[str, Mapping[str, Any]],
    last_episode: Mapping[str, int],
    unjudged: set[str] | frozenset[str] = frozenset(),
) -> Transitions:
    """Compare the alerts found now with the open episodes (by dedup key)."""
    keys = [str(a["dedup_key"]) for a in found]
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)  # keys.count(k) was quadratic: 0.6 s at 8,000
    if duplicates:
        raise ValueError(f"duplicate dedup keys in one rule run: {duplicates}")
    plan = Transitions()
    for alert in found:
        key = str(alert["dedup_key"])
        row = open_rows.get(key)
        if row is None:
            episode = int(last_episode.get(key, 0)) + 1
            plan.opened.append((dict(alert), f"{key}#{episode}", episode))
        elif SEVERITY_RANK[str(alert["severity"])] > SEVERITY_RANK[str(row["notified_severity"] or "info")]:
            plan.escalated.append((dict(alert), dict(row)))
        else:
            plan.persisting.append((dict(alert), dict(row)))
    found_keys = set(keys)
    for key, row in sorted(open_rows.items()):
        if key in found_keys:
            continue
        (plan.unjudged if key in unjudged else plan.resolved).append(dict(row))
    return plan


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, dt.datetime) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat(timespec="seconds") if isinstance(moment, dt.datetime) else str(moment)


def build_message(
    event: str,
    alert: Mapping[str, Any],
    alert_id: str,
    first_seen: Any,
    last_seen: Any,
    link: str | None,
    previous_severity: str | None = None,
    resolved_at: Any = None,
) -> dict[str, Any]:
    """What a channel receives about one episode."""
    message = {
        "event": event,
        "status": store.RESOLVED if event == RESOLVE else store.OPEN,
        "alert_id": alert_id,
        "dedup_key": alert["dedup_key"],
        "rule": alert["rule"],
        "entity": alert["entity"],
        "severity": alert["severity"],
        "title": alert.get("title"),
        "facts": alert.get("facts") or {},
        "payload": alert.get("payload") or {},
        "first_seen_at": _iso(first_seen),
        "last_seen_at": _iso(last_seen),
        "link": link,
        "detected_at": _iso(resolved_at or last_seen),
    }
    if previous_severity:
        message["previous_severity"] = previous_severity
    if resolved_at is not None:
        message["resolved_at"] = _iso(resolved_at)
    return message


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: str
    dedup_key: str
    event: str
    channel: str
    status: str
    attempts: int
    detail: str
    #: Created by an earlier run (a retry of a failed or interrupted delivery).
    retried: bool


@dataclass
class RuleRunSummary:
    opened: list[dict[str, Any]] = field(default_factory=list)
    escalated: list[dict[str, Any]] = field(default_factory=list)
    persisting: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    unjudged_open: list[str] = field(default_factory=list)
    messages: int = 0
    unrouted: list[str] = field(default_factory=list)
    deliveries: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[DeliveryOutcome]:
        return [d for d in self.deliveries if d.status == store.FAILED]

    @property
    def delivered(self) -> list[DeliveryOutcome]:
        return [d for d in self.deliveries if d.status == store.DELIVERED]


def record_run(
    conn: duckdb.DuckDBPyConnection,
    rules: Sequence[str],
    result: RuleResult,
    settings: Settings,
    now: dt.datetime,
    run_id: str | None = None,
    link: str | None = None,
) -> RuleRunSummary:
    """Steps 2 and 3: update the episodes of ``rules`` and queue the messages, in one transaction."""
    unknown = sorted({str(a["rule"]) for a in result.alerts} - set(rules))
    if unknown:
        raise ValueError(f"rule run for {list(rules)} produced alerts of other rules: {unknown}")
    secrets = secret_values(settings)
    summary = RuleRunSummary()
    with transaction(conn):
        store.ensure_alert_tables(conn)
        open_rows = store.open_alerts(conn, rules)
        keys = [str(a["dedup_key"]) for a in result.alerts]
        plan = plan_transitions(result.alerts, open_rows, store.last_episodes(conn, keys), result.unjudged)
        messages: list[tuple[dict[str, Any], str]] = []  # message, severity to route by
        store.insert_episodes(conn, plan.opened, now, run_id)
        for alert, alert_id, _episode in plan.opened:
            messages.append((build_message(TRIGGER, alert, alert_id, now, now, link), str(alert["severity"])))
            summary.opened.append(alert)
        store.update_episodes(
            conn,
            [(row["alert_id"], alert, True) for alert, row in plan.escalated]
            + [(row["alert_id"], alert, False) for alert, row in plan.persisting],
            now,
            run_id,
        )
        for alert, row in plan.escalated:
            message = build_message(
                ESCALATE,
                alert,
                row["alert_id"],
                row["first_seen_at"],
                now,
                link,
                previous_severity=row["notified_severity"],
            )
            messages.append((message, str(alert["severity"])))
            summary.escalated.append({**alert, "previous_severity": row["notified_severity"]})
        summary.persisting = [str(alert["dedup_key"]) for alert, _row in plan.persisting]
        store.resolve_episodes(conn, [row["alert_id"] for row in plan.resolved], now, run_id)
        for row in plan.resolved:
            # The resolution goes wherever the episode was announced: route by the highest severity announced.
            announced = str(row["notified_severity"] or row["severity"])
            alert = {**row, "severity": row["severity"]}
            message = build_message(
                RESOLVE, alert, row["alert_id"], row["first_seen_at"], row["last_seen_at"], link, resolved_at=now
            )
            messages.append((message, announced))
            summary.resolved.append(str(row["dedup_key"]))
        summary.unjudged_open = [str(r["dedup_key"]) for r in plan.unjudged]
        queued: list[tuple[dict[str, Any], str, int]] = []  # message, channel, seq
        for seq, (message, route_severity) in enumerate(messages):
            channels = route_channels({**message, "severity": route_severity}, settings)
            if not channels:
                summary.unrouted.append(f"{message['event']} {message['dedup_key']}")
            clean = redact(jsonable(message), secrets)
            queued.extend((clean, channel, seq) for channel in channels)
        store.enqueue_deliveries(conn, queued, now, run_id)
        summary.messages = len(messages)
    return summary


#: Delivery outcomes written per statement by :func:`deliver_unsent`.
RECORD_EVERY = 200


def deliver_unsent(
    conn: duckdb.DuckDBPyConnection,
    rules: Sequence[str],
    settings: Settings,
    now: dt.datetime,
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryOutcome]:
    """Step 4: send every pending or failed delivery of ``rules``, oldest first, each with retries.

    Outcomes are recorded every ``RECORD_EVERY`` deliveries in one statement (and at the end): a
    stock-out night sends a couple of thousand messages, one UPDATE each took a second and a
    half. A send that raises still has the outcomes before it recorded (``finally``); a process
    killed between a send and its record sends that message again on the next run: at most
    ``RECORD_EVERY`` of them (one, when each delivery had its own statement). Outbox lines are
    put on disk once per record (``Outbox.batch``), before the outcomes say delivered; lines an
    outbox cannot put on disk are recorded as failed (sent again by the next run).
    """
    notifiers = validate_routing(settings)
    secrets = secret_values(settings)
    store.ensure_alert_tables(conn)
    down: dict[str, str] = {}
    outcomes: list[DeliveryOutcome] = []
    pending: list[tuple[str, str, int, str]] = []
    outboxes = {name: n for name, n in notifiers.items() if isinstance(n, Outbox)}

    def record() -> None:
        _sync_outboxes(outboxes, pending, outcomes, down)
        store.record_attempts(conn, pending, now)
        pending.clear()

    with ExitStack() as stack:
        for outbox in outboxes.values():
            stack.enter_context(outbox.batch())
        try:
            for row in store.unsent_deliveries(conn, rules):
                channel, delivery_id = str(row["channel"]), str(row["delivery_id"])
                retried = int(row["attempts"]) > 0 or row["created_run_id"] != run_id
                if channel not in notifiers:
                    status, attempts, detail = store.DROPPED, 0, f"channel {channel!r} is no longer configured"
                elif channel in down:
                    status, attempts = store.FAILED, 0
                    detail = f"not attempted: channel {channel} failed earlier in this run ({down[channel]})"
                else:
                    result = send_with_retries(
                        channel,
                        notifiers[channel],
                        {**row["message"], "channel": channel},
                        settings.notifiers,
                        secrets,
                        sleep,
                    )
                    status = store.DELIVERED if result.ok else store.FAILED
                    attempts, detail = result.attempts, result.detail
                    if not result.ok and result.channel_down:
                        down[channel] = result.detail
                pending.append((delivery_id, status, attempts, detail))
                outcomes.append(
                    DeliveryOutcome(
                        delivery_id,
                        str(row["dedup_key"]),
                        str(row["event"]),
                        channel,
                        status,
                        attempts,
                        detail,
                        retried,
                    )
                )
                if len(pending) >= RECORD_EVERY:
                    record()
        finally:  # what was sent is recorded even when a later send raises
            record()
    return outcomes


def _sync_outboxes(
    outboxes: Mapping[str, Outbox],
    pending: list[tuple[str, str, int, str]],
    outcomes: list[DeliveryOutcome],
    down: dict[str, str],
) -> None:
    """Put the outboxes' lines of ``pending`` on disk; an outbox that cannot turns its deliveries
    there into failures (``pending`` holds the last ``len(pending)`` of ``outcomes``)."""
    for name, outbox in outboxes.items():
        try:
            outbox.sync()
        except DeliveryError as exc:
            down[name] = str(exc)
            first = len(outcomes) - len(pending)
            for i, (delivery_id, status, attempts, _) in enumerate(pending):
                outcome = outcomes[first + i]
                if outcome.channel == name and status == store.DELIVERED:
                    detail = f"written but not saved to disk: {exc}"
                    pending[i] = (delivery_id, store.FAILED, attempts, detail)
                    outcomes[first + i] = dataclasses.replace(outcome, status=store.FAILED, detail=detail)


def process_rule_run(
    conn: duckdb.DuckDBPyConnection,
    rules: Sequence[str],
    result: RuleResult | None,
    settings: Settings,
    now: dt.datetime,
    run_id: str | None = None,
    link: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RuleRunSummary:
    """Steps 1-4 for one rule asset. ``result`` None: the inputs were missing; only retries are sent."""
    validate_routing(settings)
    summary = record_run(conn, rules, result, settings, now, run_id, link) if result is not None else RuleRunSummary()
    summary.deliveries = deliver_unsent(conn, rules, settings, now, run_id, sleep)
    return summary
