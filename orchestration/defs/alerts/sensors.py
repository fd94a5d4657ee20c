"""On-call: every failed run pages with the failing step, the error and a link to the run, and
every failed gate pages with the failing expectations.

The sensors only send: they do not write ``alerts.alert_events``, because the warehouse has
one writer and a run may hold it while the sensor daemon evaluates. Each failed run is
reported once by Dagster's run-status cursor; its dedup key (``failed_run:<run_id>``) lets
downstream channels (PagerDuty, the outbox reader) collapse repeats anyway.

A failed gate (an asset check that failed with ERROR severity: a GX suite, a dbt test) pages
once per failure episode: the evaluation that turns a gate from passing to failing pages,
later failing evaluations of the same gate do not, until it has passed again (for a
daily-partitioned raw table: until the failed days were reloaded and passed). The dedup key
is ``failed_gate:<asset>:<check>:<run id of the first failure>``. The derived
``upstream_gates`` checks on the marts repeat other gates' failures and never page.
"""

import re
from dataclasses import dataclass
from typing import Any

import dagster as dg

from orchestration.defs.alerts.notifiers import Outbox, notify, redact, secret_values, utc_now
from orchestration.lib.settings import Settings, get_settings

FAILED_RUN = "failed_run"
#: Long enough for a useful message, short enough for a pager notification.
MAX_ERROR_CHARS = 2000
#: Wrapper exceptions Dagster puts around the user's error: the cause is the interesting part.
_WRAPPERS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    error_class: str
    error: str
    location: str | None = None


def _truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_error(error: Any) -> tuple[str, str, str | None]:
    """``(class, message, location)`` of the error that matters in a Dagster ``SerializableErrorInfo``.

    Dagster wraps user errors ("Error occurred while executing op ...") with the real one as
    the cause; on-call needs the cause, and where it was raised (file, line, function; not
    the source line, which may quote literals).
    """
    if error is None:
        return "UnknownError", "no error information was recorded", None
    current = error
    while getattr(current, "cls_name", None) in _WRAPPERS and getattr(current, "cause", None) is not None:
        current = current.cause
    cls_name = str(getattr(current, "cls_name", None) or "Error")
    message = str(getattr(current, "message", "") or "").strip()
    # "dagster._core.definitions.events.Failure: ..." -> "Failure: ..."
    message = re.sub(rf"^[\w.]+\.{re.escape(cls_name)}: ", f"{cls_name}: ", message)
    stack = list(getattr(current, "stack", None) or [])
    location = stack[-1].strip().splitlines()[0] if stack else None
    return cls_name, _truncate(message), location


def step_failures(events: list[dg.DagsterEvent]) -> list[StepFailure]:
    """One summary per STEP_FAILURE event, in the order they happened."""
    out = []
    for event in events:
        data = event.event_specific_data
        cls_name, message, location = summarize_error(getattr(data, "error", None))
        out.append(StepFailure(str(event.step_key), cls_name, message, location))
    return out


def build_failed_run_alert(
    run_id: str,
    job_name: str,
    failures: list[StepFailure],
    run_failure_message: str | None,
    base_url: str,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The on-call alert for a failed run (pure: testable without an instance).

    A run can fail without a failed step (launch error, cancelled run, run-worker crash): then
    the run's own failure message is the error.
    """
    link = f"{base_url.rstrip('/')}/runs/{run_id}"
    tags = tags or {}
    steps = [f.step_key for f in failures]
    error = failures[0].error if failures else _truncate(run_failure_message or "run failed without a step failure")
    where = f"step {', '.join(steps)}" if steps else "run level"
    return {
        "dedup_key": f"{FAILED_RUN}:{run_id}",
        "rule": FAILED_RUN,
        "entity": job_name,
        "severity": "critical",
        "title": _truncate(f"Run {run_id[:8]} of job {job_name} failed at {where}: {error.splitlines()[0]}", 300),
        "link": link,
        "detected_at": utc_now().isoformat(),
        "payload": {
            "run_id": run_id,
            "job_name": job_name,
            "step_keys": steps,
            "error": error,
            "steps": [
                {"step_key": f.step_key, "error_class": f.error_class, "error": f.error, "location": f.location}
                for f in failures
            ],
            "run_failure_message": run_failure_message,
            "partition": tags.get("dagster/partition"),
            "failure_reason": tags.get("dagster/failure_reason"),
            "link": link,
        },
    }


def send_oncall(alert: dict[str, Any], settings: Settings, log: Any) -> None:
    """Deliver through the routes; if that is impossible, still leave the page in the default outbox.

    A paging path that can itself fail silently is worse than none: configuration errors and
    failed channels fall back to the local outbox with the reason, and are logged (without
    secrets). The sensor does not raise, so the tick is not retried into duplicate pages.
    """
    try:
        results = notify(alert, settings)
        problems = [f"{r.channel}: {r.detail}" for r in results if not r.ok]
        if not results:
            problems = [f"no notifier route selects rule {alert['rule']!r} at severity {alert['severity']}"]
    except (NotImplementedError, ValueError) as exc:
        results, problems = [], [f"{type(exc).__name__}: {exc}"]
    if problems:
        secrets = secret_values(settings)
        problems = redact(problems, secrets)
        Outbox(settings.outbox).send(redact({**alert, "channel": "fallback", "delivery_errors": problems}, secrets))
        log.error(
            f"on-call alert {alert['dedup_key']} fell back to the outbox {settings.outbox}: {'; '.join(problems)}"
        )
    else:
        log.info(f"on-call alert {alert['dedup_key']} sent to {', '.join(r.channel for r in results)}")


@dg.run_failure_sensor(
    name="oncall_run_failure",
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pages on-call for every failed run of this code location: failing step, error, link to the run.",
)
def oncall_run_failure(context: dg.RunFailureSensorContext) -> None:
    settings = get_settings()
    run = context.dagster_run
    alert = build_failed_run_alert(
        run_id=run.run_id,
        job_name=run.job_name,
        failures=step_failures(list(context.get_step_failure_events())),
        run_failure_message=context.failure_event.message,
        base_url=settings.webserver_base_url,
        tags=dict(run.tags),
    )
    send_oncall(alert, settings, context.log)


def page_failed_run(instance: dg.DagsterInstance, run_id: str, settings: Settings) -> dict[str, Any]:
    """Page on-call for a run that failed outside the daemon (``tradewinds nightly`` runs in process).

    The sensor only sees runs launched through the instance's run launcher; in-process runs
    from the CLI are paged here with the same alert, so the dedup key is the same either way.
    """
    import logging

    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"run {run_id} is not in the Dagster instance; cannot page for it")
    step_events = [
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    ]
    run_failures = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    alert = build_failed_run_alert(
        run_id=run.run_id,
        job_name=run.job_name,
        failures=step_failures([e for e in step_events if e is not None]),
        run_failure_message=run_failures[-1].event_log_entry.message if run_failures else None,
        base_url=settings.webserver_base_url,
        tags=dict(run.tags),
    )
    send_oncall(alert, settings, logging.getLogger("tradewinds.oncall"))
    # Gates that started failing in this run page too, as the oncall_gate_failure sensor would.
    page_failed_gates(instance, run_id, settings, logging.getLogger("tradewinds.oncall"))
    return alert


# ---------------------------------------------------------------- failed gates

FAILED_GATE = "failed_gate"
#: Failed expectations listed in a gate page (all of them are in the run's check metadata).
MAX_PAGE_FAILURES = 10


def build_failed_gate_alert(
    failure: Any,
    job_name: str,
    base_url: str,
    severity_label: str = "ERROR",
    data_docs: str | None = None,
) -> dict[str, Any]:
    """The on-call alert for a gate that started failing (pure: testable without an instance).

    ``failure`` is a :class:`orchestration.defs.quality.GateFailure` of the first failing evaluation.
    """
    base = base_url.rstrip("/")
    asset = failure.check_key.asset_key.to_user_string()
    check = failure.check_key.name
    link = f"{base}/runs/{failure.run_id}"
    partitions = failure.days_text
    first_line = (failure.description or "failed").splitlines()[0]
    where = f" (partitions {partitions})" if partitions else ""
    return {
        "dedup_key": f"{FAILED_GATE}:{asset}:{check}:{failure.run_id}",
        "rule": FAILED_GATE,
        "entity": f"{asset}:{check}",
        "severity": "critical",
        "title": _truncate(
            f"Gate {check} on {asset} failed in run {failure.run_id[:8]} of job {job_name}{where}: {first_line}", 300
        ),
        "link": link,
        "detected_at": utc_now().isoformat(),
        "payload": {
            "run_id": failure.run_id,
            "job_name": job_name,
            "asset": asset,
            "check": check,
            "check_severity": severity_label,
            "partitions": partitions,
            "description": _truncate(failure.description or ""),
            "failures": failure.failures[:MAX_PAGE_FAILURES],
            "first_failure_run_id": failure.run_id,
            "evaluated_at": failure.evaluated_at.isoformat(timespec="seconds"),
            "link": link,
            "check_link": f"{base}/assets/{'/'.join(failure.check_key.asset_key.path)}?view=checks",
            "data_docs": data_docs,
            "blocked": "everything downstream of the asset, in this run and (through the upstream_gates checks "
            "on the marts) in later runs, until the gate passes",
        },
    }


def page_failed_gates(
    instance: dg.DagsterInstance,
    run_id: str,
    settings: Settings,
    log: Any = None,
    check_keys: set[dg.AssetCheckKey] | None = None,
) -> list[dict[str, Any]]:
    """Page every gate that started failing in ``run_id`` (optionally only ``check_keys``); return the pages.

    Gates that were already failing before this run (same failure episode) are not paged again.
    """
    import logging

    from orchestration.defs.quality.gating import UPSTREAM_GATES_CHECK, GateLedger, is_gate_failure

    log = log or logging.getLogger("tradewinds.oncall")
    run = instance.get_run_by_id(run_id)
    job_name = run.job_name if run else "unknown"
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    ledger = GateLedger(instance)
    opened = []
    seen: set[dg.AssetCheckKey] = set()
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if evaluation is None or not is_gate_failure(evaluation) or evaluation.check_name == UPSTREAM_GATES_CHECK:
            continue
        key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
        if key in seen or (check_keys is not None and key not in check_keys):
            continue
        seen.add(key)
        this = next((r for r in ledger.history(key) if r.run_id == run_id), None)
        if this is None or ledger.open_failures(key, before=this):
            continue  # not stored yet, or the gate was already failing: paged when it started
        opened.append(ledger._failure(this, evaluation, ledger.covered_days(this)))
    if not opened:
        return []
    from orchestration.defs.quality.docs import rebuild_data_docs_quietly

    index = rebuild_data_docs_quietly()
    alerts = []
    for failure in opened:
        alert = build_failed_gate_alert(
            failure, job_name, settings.webserver_base_url, data_docs=str(index) if index else None
        )
        send_oncall(alert, settings, log)
        alerts.append(alert)
    return alerts


@dg.sensor(
    name="oncall_gate_failure",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Pages on-call once per failure episode of a gate (an asset check failing with ERROR severity: GX suites, "
        "dbt tests): the failing expectations with counts and samples, the partitions, a link to the run."
    ),
)
def oncall_gate_failure(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    from orchestration.defs.quality.gating import UPSTREAM_GATES_CHECK, is_gate_failure

    storage = context.instance.event_log_storage
    if context.cursor is None:
        # First tick: start from now; gates that failed before the sensor existed are not paged.
        latest = storage.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=1, ascending=False
        )
        context.update_cursor(str(latest[0].storage_id if latest else 0))
        return dg.SkipReason("cursor initialised: gate evaluations from now on are watched")
    records = storage.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=int(context.cursor)),
        limit=1000,
        ascending=True,
    )
    if not records:
        return dg.SkipReason("no new gate evaluations")
    failing: dict[str, set[dg.AssetCheckKey]] = {}
    for record in records:
        entry = record.event_log_entry
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if evaluation is None or not is_gate_failure(evaluation) or evaluation.check_name == UPSTREAM_GATES_CHECK:
            continue
        failing.setdefault(entry.run_id, set()).add(dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name))
    settings = get_settings()
    pages = 0
    for run_id, keys in failing.items():
        run = context.instance.get_run_by_id(run_id)
        if run is not None and run.tags.get("tradewinds/trigger") == "cli":
            continue  # `tradewinds nightly` pages its own runs (page_failed_run)
        pages += len(page_failed_gates(context.instance, run_id, settings, context.log, check_keys=keys))
    context.update_cursor(str(records[-1].storage_id))
    return dg.SkipReason(f"{len(records)} gate evaluation(s) read, {pages} page(s) sent")
