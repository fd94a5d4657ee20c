"""Gates across runs: which gates upstream of an asset are failing *now*, read from the instance.

Dagster's blocking checks stop downstream assets only in the run where the check failed. A
later run (the next night's schedule, a re-run of the forecast, automation) would start the
forecast again while the bad rows are still in the warehouse. This module answers, from the
asset check evaluations stored in the Dagster instance, "is any gate upstream of X still
failing?", and provides the three things built on the answer:

- ``build_upstream_gate_check(mart, gates)``: a blocking check ``upstream_gates`` on a mart
  that fails while a gate upstream of it has an open failure, so that the nightly job (which
  runs everything in one run) does not start the forecast, the alert or the publication on
  data a previous night's gate rejected;
- ``require_gates_passed(context, gates)``: a guard for an asset's own code (publish uses it);
- ``gated_automation_condition(condition)``: an automation condition that also requires the
  blocking checks of every dependency to have passed on its latest materialization.

What counts as a failure: the latest *completed* evaluation with ``passed=False`` and ERROR
severity (WARN never gates; a check that was planned but did not run is no verdict).

Daily-partitioned raw tables are judged per day: a load validates only the days it loaded,
so tonight's passing check on yesterday's partition says nothing about the day a previous
night's check rejected. A failed evaluation stays open for the days it covered until a later
evaluation of the same check covers those days again and passes (fix the source, rerun the
partition). The days an evaluation covered come from the check's own metadata
(``load_range``) or the ``partition_range`` metadata of the materialization it targeted.

For other assets an evaluation counts only if it targeted the asset's latest
materialization: when the asset was rebuilt since, its checks are about to judge the new
data (they run in the same run and block on their own).
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

#: Name of the derived gate on each mart: it repeats other gates' failures, it is not a root
#: cause (never paged itself, never counted by other gates).
UPSTREAM_GATES_CHECK = "upstream_gates"
#: Completed evaluations of one check looked at for per-day coverage (about three months of
#: nightly loads); a failed load older than that and never reloaded no longer gates.
HISTORY_LIMIT = 100

_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


def parse_day_range(text: Any) -> tuple[dt.date, dt.date] | None:
    """``"2025-06-01..2025-06-30"`` -> the two dates; anything else (``"snapshot"``, ``"whole series"``) -> None."""
    if not isinstance(text, str):
        return None
    match = _RANGE.match(text)
    if not match:
        return None
    first, last = (dt.date.fromisoformat(g) for g in match.groups())
    return (first, last) if first <= last else (last, first)


def _days(first: dt.date, last: dt.date) -> frozenset[int]:
    return frozenset(range(first.toordinal(), last.toordinal() + 1))


def _ranges_text(ordinals: Iterable[int]) -> str:
    """Day ordinals as ``2025-06-29`` / ``2025-06-01..2025-06-03, 2025-06-07``."""
    days = sorted(set(ordinals))
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][1] + 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    parts = []
    for a, b in runs:
        da, db = dt.date.fromordinal(a).isoformat(), dt.date.fromordinal(b).isoformat()
        parts.append(da if a == b else f"{da}..{db}")
    return ", ".join(parts)


@dataclass(frozen=True)
class GateFailure:
    """A gate whose latest verdict on (part of) the data it checks is a failure."""

    check_key: dg.AssetCheckKey
    run_id: str
    evaluated_at: dt.datetime
    description: str
    # Partition days still failing (daily-partitioned assets); None: the whole asset.
    days: tuple[dt.date, ...] | None = None
    # The failed expectations (or dbt test details) from the evaluation's metadata, if any.
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gate(self) -> str:
        return f"{self.check_key.asset_key.to_user_string()}:{self.check_key.name}"

    @property
    def days_text(self) -> str | None:
        return _ranges_text(d.toordinal() for d in self.days) if self.days else None

    def summary(self) -> str:
        where = f" for partition(s) {self.days_text}" if self.days else ""
        text = f"{self.gate} failed in run {self.run_id[:8]} ({self.evaluated_at:%Y-%m-%d %H:%M} UTC){where}"
        return f"{text}: {self.description}" if self.description else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "asset": self.check_key.asset_key.to_user_string(),
            "check": self.check_key.name,
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at.isoformat(timespec="seconds"),
            "partitions": self.days_text,
            "description": self.description,
        }


def is_gate_failure(evaluation: Any) -> bool:
    """A failed evaluation with ERROR severity (an ``AssetCheckEvaluation``)."""
    return (not evaluation.passed) and evaluation.severity == dg.AssetCheckSeverity.ERROR


def _evaluation(record: Any) -> Any:
    event = record.event.dagster_event if record.event else None
    return event.event_specific_data if event is not None else None


def _metadata_value(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def _failures_of(evaluation: Any, limit: int = 10) -> list[dict[str, Any]]:
    value = _metadata_value(evaluation.metadata or {}, "failures")
    return list(value[:limit]) if isinstance(value, list) else []


#: Per instance, for its latest run that asked: the gates whose latest evaluation was a finished
#: pass leaving no failure open, with that evaluation's id. While it is still the latest, nothing
#: can have opened a failure (a new verdict would be a newer evaluation), so the run's other gate
#: readers (13 ``upstream_gates`` checks, the publication's guard), which watch many of the same
#: gates (the raw tables' suites, the dbt tests), do not read them again: deciding a pass was a
#: query per gate (its materialization, for the days it covers) and a history walk per per-day gate.
_CLEAR: weakref.WeakKeyDictionary[dg.DagsterInstance, tuple[str, dict[dg.AssetCheckKey, int]]] = (
    weakref.WeakKeyDictionary()
)


class GateLedger:
    """Reads check verdicts from a Dagster instance (cached for the life of the object)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self._materializations: dict[int, Any] = {}
        self._latest_materialization: dict[dg.AssetKey, int | None] = {}

    # ---------------------------------------------------------------- instance reads

    def history(
        self, check_key: dg.AssetCheckKey, limit: int = HISTORY_LIMIT, before_id: int | None = None, failed_only=False
    ) -> list[Any]:
        """Completed evaluations of a check, newest first (only those older than ``before_id`` if given)."""
        from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

        statuses = {Status.FAILED} if failed_only else {Status.SUCCEEDED, Status.FAILED}
        return list(
            self.instance.event_log_storage.get_asset_check_execution_history(
                check_key, limit=limit, cursor=before_id, status=statuses
            )
        )

    def _materialization(self, storage_id: int) -> Any:
        """The materialization event (``AssetMaterialization``) stored under ``storage_id``."""
        if storage_id not in self._materializations:
            records = self.instance.event_log_storage.get_event_records(
                dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION, storage_ids=[storage_id]),
                limit=1,
            )
            found = records[0].event_log_entry.dagster_event if records else None
            self._materializations[storage_id] = found.event_specific_data.materialization if found else None
        return self._materializations[storage_id]

    def latest_materialization_id(self, asset_key: dg.AssetKey) -> int | None:
        if asset_key not in self._latest_materialization:
            records = self.instance.get_asset_records([asset_key])
            entry = records[0].asset_entry if records else None
            record = entry.last_materialization_record if entry else None
            self._latest_materialization[asset_key] = record.storage_id if record else None
        return self._latest_materialization[asset_key]

    def covered_days(self, record: Any) -> frozenset[int] | None:
        """The partition days an evaluation judged; None when it judged the whole asset."""
        evaluation = _evaluation(record)
        if evaluation is None:
            return None
        own = parse_day_range(_metadata_value(evaluation.metadata or {}, "load_range"))
        if own:
            return _days(*own)
        target = evaluation.target_materialization_data
        materialization = self._materialization(target.storage_id) if target else None
        if materialization is None or materialization.partition is None:
            return None  # an unpartitioned asset: the evaluation judged all of it
        span = parse_day_range(_metadata_value(materialization.metadata or {}, "partition_range"))
        if span:
            return _days(*span)
        try:
            day = dt.date.fromisoformat(str(materialization.partition)[:10])
        except ValueError:
            return None
        return _days(day, day)

    # ---------------------------------------------------------------- verdicts

    def open_failures(self, check_key: dg.AssetCheckKey, *, before: Any = None) -> list[GateFailure]:
        """The failures of one check that are still open, optionally as they stood before ``before``
        (an execution record of that check: used to tell the first failure of an episode)."""
        before_id = before.id if before is not None else None
        latest = self.history(check_key, limit=1, before_id=before_id)
        if not latest:
            return []
        first = _evaluation(latest[0])
        if first is None:
            return []
        if self.covered_days(latest[0]) is None:
            # A whole-asset verdict: the latest one decides, if it is about the current data.
            if not is_gate_failure(first):
                return []
            target = first.target_materialization_data
            current = self.latest_materialization_id(check_key.asset_key) if before is None else None
            if target is not None and current is not None and target.storage_id < current:
                return []  # the asset was rebuilt since: its checks will judge the new data
            return [self._failure(latest[0], first, None)]
        # Per-day verdicts: only the evaluations since the oldest recent failure matter.
        failed = self.history(check_key, before_id=before_id, failed_only=True)
        failed = [r for r in failed if _evaluation(r) is not None and is_gate_failure(_evaluation(r))]
        if not failed:
            return []
        oldest = min(r.id for r in failed)
        decided: set[int] = set()
        out = []
        for record in self.history(check_key, before_id=before_id):
            if record.id < oldest:
                break
            evaluation = _evaluation(record)
            if evaluation is None:
                continue
            days = self.covered_days(record)
            if days is None:  # an older whole-table verdict: everything not decided since
                if is_gate_failure(evaluation):
                    out.append(self._failure(record, evaluation, None))
                break
            fresh = days - decided
            if fresh and is_gate_failure(evaluation):
                out.append(self._failure(record, evaluation, fresh))
            decided |= days
        return out

    def _failure(self, record: Any, evaluation: Any, days: frozenset[int] | None) -> GateFailure:
        return GateFailure(
            check_key=record.key,
            run_id=record.run_id,
            evaluated_at=dt.datetime.fromtimestamp(record.create_timestamp, dt.UTC).replace(tzinfo=None),
            description=(evaluation.description or "").strip(),
            days=tuple(dt.date.fromordinal(d) for d in sorted(days)) if days else None,
            failures=_failures_of(evaluation),
        )

    def open_gate_failures(
        self, check_keys: Iterable[dg.AssetCheckKey], run_id: str | None = None
    ) -> list[GateFailure]:
        """Open failures of many gates: their latest executions are read in one query, and only a
        gate whose latest verdict is not a pass on the whole asset is looked at further (a mart
        has hundreds of gates upstream, nearly all passing: one query each took ~1 s a night).
        With ``run_id``, a gate found clear earlier in that run, whose latest verdict is still the
        same, is not looked at again (``_CLEAR``)."""
        from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

        keys = sorted(
            (k for k in set(check_keys) if k.name != UPSTREAM_GATES_CHECK),
            key=lambda k: (k.asset_key.to_user_string(), k.name),
        )
        latest = self.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys) if keys else {}
        clear: dict[dg.AssetCheckKey, int] = {}
        if run_id is not None:
            held = _CLEAR.get(self.instance)
            if held is None or held[0] != run_id:
                held = _CLEAR[self.instance] = (run_id, {})
            clear = held[1]
        out: list[GateFailure] = []
        for key in keys:
            record = latest.get(key)
            if record is None:
                continue  # never evaluated: nothing to be open
            if clear.get(key) == record.id:
                continue
            # Only a finished pass is remembered: a planned execution's record becomes its verdict
            # under the same id.
            passed = record.status == Status.SUCCEEDED
            # A pass on the whole asset leaves nothing open (what open_failures would say).
            whole_pass = passed and self.covered_days(record) is None
            failures = [] if whole_pass else self.open_failures(key)
            if passed and not failures and run_id is not None:
                clear[key] = record.id
            out.extend(failures)
        return out


def open_gate_failures(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey], run_id: str | None = None
) -> list[GateFailure]:
    """Open failures of the given gates (derived ``upstream_gates`` checks are skipped); ``run_id``:
    see :meth:`GateLedger.open_gate_failures`."""
    return GateLedger(instance).open_gate_failures(check_keys, run_id)


# ---------------------------------------------------------------- which gates guard what


def gates_upstream_of(
    asset_graph: Any, asset_keys: Iterable[dg.AssetKey], *, include_own: bool = False
) -> list[dg.AssetCheckKey]:
    """Every gate on an asset upstream of ``asset_keys`` (transitively).

    Also the checks computed in the same step as the given assets (dbt tests of a dbt model,
    inline checks), which have run by the time anything reads them; with ``include_own``
    every check on the given assets. Derived ``upstream_gates`` checks are left out.
    """
    keys = set(asset_keys)
    ancestors = {a for key in keys for a in asset_graph.get_ancestor_asset_keys(key)} - keys
    gates = set(asset_graph.get_check_keys_for_assets(ancestors)) if ancestors else set()
    for key in keys:
        own = set(asset_graph.get_check_keys_for_assets({key}))
        if include_own:
            gates |= own
        else:
            same_step = set(asset_graph.assets_def_for_key(key).check_keys)
            gates |= own & same_step
    return sorted((g for g in gates if g.name != UPSTREAM_GATES_CHECK), key=lambda k: k.to_user_string())


def failures_markdown(failures: Sequence[GateFailure]) -> str:
    lines = ["| gate | failed in run | at (UTC) | partitions | why |", "| --- | --- | --- | --- | --- |"]
    for f in failures:
        why = (f.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {f.gate} | {f.run_id[:8]} | {f.evaluated_at:%Y-%m-%d %H:%M} | {f.days_text or 'all'} | {why[:300]} |"
        )
    return "\n".join(lines)


def refusal_message(what: str, failures: Sequence[GateFailure]) -> str:
    head = f"{what}: {len(failures)} gate(s) upstream are failing"
    body = "; ".join(f.summary()[:400] for f in failures[:10])
    more = f"; and {len(failures) - 10} more" if len(failures) > 10 else ""
    return (
        f"{head}: {body}{more}. Fix the data (for a raw table: correct the source and rerun the failed "
        "partitions) so that the gate passes; it then clears by itself."
    )


# ---------------------------------------------------------------- the three consumers


def build_upstream_gate_check(mart_key: dg.AssetKey, gates: Sequence[dg.AssetCheckKey]) -> dg.AssetChecksDefinition:
    """The blocking check ``upstream_gates`` on ``mart_key``: fails while any of ``gates`` is failing.

    ``gates`` are worked out once from the whole asset graph (``gates_upstream_of``) when the
    definitions are built.
    """
    gate_list = tuple(gates)

    @dg.asset_check(
        asset=mart_key,
        name=UPSTREAM_GATES_CHECK,
        blocking=True,
        description=(
            f"Gating across runs: fails while any of the {len(gate_list)} gates upstream of "
            f"{mart_key.to_user_string()} (GX suites on the raw tables, dbt tests) has an open failure "
            "in the Dagster instance, from this run or an earlier one; blocks what reads the mart."
        ),
        metadata={"gates": dg.MetadataValue.json([g.to_user_string() for g in gate_list])},
    )
    def _upstream_gates(context) -> dg.AssetCheckResult:  # context: AssetCheckExecutionContext
        failures = open_gate_failures(context.instance, gate_list, context.run.run_id)
        metadata: dict[str, Any] = {"gates_checked": len(gate_list), "open_failures": len(failures)}
        if not failures:
            return dg.AssetCheckResult(
                passed=True,
                metadata=metadata,
                description=f"all {len(gate_list)} upstream gates passed (latest verdict on the current data)",
            )
        metadata["failing_gates"] = dg.MetadataValue.md(failures_markdown(failures))
        metadata["failures"] = dg.MetadataValue.json([f.to_dict() for f in failures])
        message = refusal_message(f"{mart_key.to_user_string()} is not released downstream", failures)
        context.log.error(message)
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata, description=message[:2000]
        )

    return _upstream_gates


def require_gates_passed(
    context: dg.AssetExecutionContext, gates: Iterable[dg.AssetCheckKey], what: str | None = None
) -> None:
    """Raise ``dg.Failure`` naming every open gate failure among ``gates``; return when there is none.

    For the code of an asset that must not run on rejected data whatever started it (a run
    without the gating checks, a re-execution, a manual materialization).
    """
    failures = open_gate_failures(context.instance, gates, context.run.run_id)
    if failures:
        label = what or f"{context.asset_key.to_user_string()} refused to run"
        raise dg.Failure(
            description=refusal_message(label, failures),
            metadata={
                "failing_gates": dg.MetadataValue.md(failures_markdown(failures)),
                "failures": dg.MetadataValue.json([f.to_dict() for f in failures]),
            },
        )


def gated_automation_condition(condition: dg.AutomationCondition | None) -> dg.AutomationCondition | None:
    """``condition`` that also waits for every dependency's blocking checks to pass (None stays None).

    ``all_deps_blocking_checks_passed`` looks at the checks of the direct dependencies on their
    latest materialization; the ``upstream_gates`` check on each mart carries the verdict of the
    gates further up, so automation holds a forecast while any gate upstream is failing.
    """
    if condition is None:
        return None
    return condition & dg.AutomationCondition.all_deps_blocking_checks_passed()
