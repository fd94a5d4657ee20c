"""Which dbt data tests a blocking GX gate already enforces on the same rows.

A dbt test and a GX expectation that check one rule on one table in the same night catch the
same rows; the second costs a query and, in Dagster, three events (planned check, evaluation,
output) of ~10-25 ms each in the instance's storage. Two places use this:

- **Staging** (``tests/test_marts_conventions.py``, rule ``staging_test_repeats_gate``): a
  staging view renames and casts a raw table that the ingest asset's GX gate validated before
  dbt runs, so a staging test the gate implies is not written at all.
- **Marts** (:func:`mart_tests_repeated_by_gates`): a contract mart's GX suite is derived from
  its dbt tests (``suites.contract_mart_suite``: ranges, value lists, market codes, the key),
  and every mart is gated after the build (``gx_mart_<name>``, blocking forecasts, alerts and
  BI). The tests stay declared, as the source of those expectations and for ``dbt build`` by
  hand, but the nightly ``dbt build`` excludes the ones the gate repeats.

"Implies" is decided conservatively from the gate's *blocking* expectations only (severity
critical, no ``row_condition``, no ``mostly``): a range at least as tight, a value set within
the test's, a key (or a subset of it) kept unique, not-null on the column; a ``relationships``
test to a seed when the gate's value set is within the seed's column. NULLs are skipped by both
sides alike (dbt's ``accepted_values``, ``accepted_range`` and ``relationships`` ignore them, as
GX's column-map expectations do). Anything else (expressions, relationships to models) is not
implied and keeps running in dbt.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

Node = dict[str, Any]
Gate = list[tuple[str, dict[str, Any]]]

#: The GX suites of the marts: ``<dir>/mart_<model>.json`` (written by ``suites.write_context``).
MART_SUITE_PREFIX = "mart_"


def blocking(expectations: Iterable[Mapping[str, Any]]) -> Gate:
    """The expectations that block: critical, unconditional, on every row (no ``mostly``)."""
    return [
        (e["type"], dict(e["kwargs"]))
        for e in expectations
        if e.get("severity", "critical") == "critical"
        and "row_condition" not in e["kwargs"]
        and e["kwargs"].get("mostly", 1) == 1
    ]


def column_of_test(test: Node) -> str | None:
    """The column a column-level data test is on (None for a model-level test)."""
    return test["test_metadata"]["kwargs"].get("column_name") or test.get("column_name")


def _bound_implied(gate: Any, gate_strict: bool, test: Any, test_inclusive: bool, lower: bool) -> bool:
    """Does the gate's bound keep every value within the test's bound?"""
    if test is None:
        return True
    if not isinstance(gate, int | float) or isinstance(gate, bool):
        return False  # no bound, or a parameter (now_utc) the gate resolves at run time
    tighter = gate > test if lower else gate < test
    return tighter or (gate == test and (test_inclusive or gate_strict))


def gate_unique_keys(gate: Gate, day_column: str | None) -> list[set[str]]:
    """The column sets the gate keeps unique across the whole table.

    The gate of a daily-partitioned raw table validates the days a night loaded, so it sees a
    duplicate only within those days: across the table it keeps unique only a key holding the
    partition day (``day_column``). A whole-table load (snapshot, series) and a mart (its gate
    counts key duplicates over the whole mart, or over the rebuilt days for a key that holds the
    day, as the dbt test on a one-day night does) pass ``None``.
    """
    keys = [{k["column"]} for t, k in gate if t == "expect_column_values_to_be_unique"] + [
        set(k["column_list"]) for t, k in gate if t == "expect_compound_columns_to_be_unique"
    ]
    return [k for k in keys if day_column is None or day_column in k]


def gate_implies(
    test: Node,
    column_map: Mapping[str, str],
    gate: Gate,
    day_column: str | None = None,
    seed_values: Mapping[tuple[str, str], set[str]] | None = None,
) -> bool:
    """True when a blocking expectation of ``gate`` already enforces this dbt data test.

    ``column_map``: the test's model columns -> the gated table's columns (a rename, or the
    identity for a mart and its own suite; a column missing from it is not gated).
    ``day_column``: see :func:`gate_unique_keys`. ``seed_values``: (seed unique id, column) ->
    its values, for ``relationships`` tests to seeds.
    """
    meta = test["test_metadata"]
    name, kwargs = meta["name"], meta.get("kwargs") or {}
    column = column_map.get(column_of_test(test) or "")
    unique_sets = gate_unique_keys(gate, day_column)
    if name == "unique_combination_of_columns":
        wanted = [column_map.get(c) for c in kwargs.get("combination_of_columns") or []]
        return bool(wanted) and None not in wanted and any(s <= set(wanted) for s in unique_sets)
    if column is None:
        return False
    on_column = [(t, k) for t, k in gate if k.get("column") == column]
    if name == "not_null":
        return any(t == "expect_column_values_to_not_be_null" for t, _ in on_column)
    if name == "unique":
        return {column} in unique_sets
    if name == "accepted_values":
        values = {str(v) for v in kwargs.get("values") or []}
        return _value_set_within(on_column, values)
    if name == "relationships":
        seeds = [u for u in test.get("depends_on", {}).get("nodes", []) if u.startswith("seed.")]
        allowed = (seed_values or {}).get((seeds[0], str(kwargs.get("field")))) if len(seeds) == 1 else None
        return allowed is not None and _value_set_within(on_column, allowed)
    if name == "accepted_range":
        inclusive = kwargs.get("inclusive", True) is not False
        return any(
            t == "expect_column_values_to_be_between"
            and _bound_implied(k.get("min_value"), bool(k.get("strict_min")), kwargs.get("min_value"), inclusive, True)
            and _bound_implied(k.get("max_value"), bool(k.get("strict_max")), kwargs.get("max_value"), inclusive, False)
            for t, k in on_column
        )
    return False


def _value_set_within(on_column: Gate, allowed: set[str]) -> bool:
    return any(
        t == "expect_column_values_to_be_in_set" and {str(v) for v in k["value_set"]} <= allowed for t, k in on_column
    )


def load_suites(directory: Path, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Table -> the expectations of its suite ``<prefix><table>.json`` in ``directory``."""
    return {
        p.stem.removeprefix(prefix): json.loads(p.read_text(encoding="utf-8"))["expectations"]
        for p in sorted(directory.glob(f"{prefix}*.json"))
    }


def seed_column_values(manifest: Mapping[str, Any], project_dir: Path) -> dict[tuple[str, str], set[str]]:
    """(seed unique id, column) -> the values in the seed's CSV, for every seed of the project."""
    out: dict[tuple[str, str], set[str]] = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "seed":
            continue
        path = project_dir / node["original_file_path"]
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for column in rows[0] if rows else []:
            out[(uid, column)] = {r[column] for r in rows if r[column] not in ("", None)}
    return out


class _SameColumns(dict):
    """The column map of a mart and its own suite: every column is itself."""

    def get(self, key: Any, default: Any = None) -> Any:
        return key or default


def mart_tests_repeated_by_gates(
    manifest: Mapping[str, Any],
    suites: Mapping[str, list[dict[str, Any]]],
    project_dir: Path,
    package: str = "tradewinds",
) -> dict[str, Node]:
    """Test unique id -> test node, for each data test on a mart that the mart's GX gate implies.

    ``suites``: mart name -> its suite's expectations (:func:`load_suites` with ``mart_``).
    A mart without a suite keeps all its tests.
    """
    seeds = seed_column_values(manifest, project_dir)
    gates = {mart: blocking(expectations) for mart, expectations in suites.items()}
    out: dict[str, Node] = {}
    for uid, test in manifest["nodes"].items():
        if test["resource_type"] != "test" or not test.get("test_metadata"):
            continue
        model = manifest["nodes"].get(test.get("attached_node") or "")
        if model is None or model["resource_type"] != "model" or model["package_name"] != package:
            continue
        if not model["original_file_path"].startswith("models/marts/") or model["name"] not in gates:
            continue
        if gate_implies(test, _SameColumns(), gates[model["name"]], None, seeds):
            out[uid] = test
    return dict(sorted(out.items()))
