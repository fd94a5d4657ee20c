"""The dbt nodes a night need not build again: nothing they are built from changed since.

A one-day night loads new rows into some raw tables (orders, traffic, ...) and leaves others as
they were (VAT, duty and de-minimis rates, emission factors, CBAM scope, a week's freight rates).
The nightly ``dbt build`` leaves out a model, seed, snapshot or data test when

- its **signature** is the one recorded when it last built (a model, seed or snapshot) or passed
  (a test) in this warehouse. The signature covers the dbt project's files (any change to any
  of them rebuilds everything once), dbt's and the adapter's versions, the target, the
  warehouse, the build's ``--vars``, the values of the environment variables its code and
  macros read, and the row count and latest ``_loaded_at`` of every raw table upstream of it
  (the loader stamps every row it writes, and a load that only deletes changes the count);
- every model, seed or snapshot it is built from is left out too, and its own relation is
  still in the warehouse;
- it is not a mart or a test of one: the marts carry the nightly freshness policy and feed the
  gates, forecasts, alerts and the BI release, which run after them in the same run;
- its code (its SQL and the project's macros it calls) reads no clock or random value
  (``current_date``, ``now()``, ``run_started_at``, ...), nor does anything upstream of it; a
  view that does is still left out (it stores its SQL, not rows), what is built from it is not.

A **view** stores its SQL, not rows, so new rows upstream do not make it stale: its signature is
its definition alone (the build key, its code and config, the environment variables it reads and
the definitions of the nodes it selects from, down to the raw tables' columns), and it is left
out whatever its parents' rows did and whether or not they are built tonight. The ~24 staging and
intermediate views a one-day night re-created with the same SQL cost ~3.6 s of dbt's threads at
the head of the build. Its tests and what is built from it still see the rows (their signatures
carry the view's parents' rows, as before).

A data test's signature leaves out the run's day window (``TRADEWINDS_DBT_MIN_DATE`` /
``MAX_DATE``): a windowed test checks the rows written in the window, and with its inputs
unchanged no row was (``macros/get_where_subquery.sql``: the other days were tested the nights
that wrote them).

The signatures are recorded in the warehouse (``raw._dbt_builds``), so they travel with the
tables they describe. The records of the nodes a build is about to run are deleted before it
starts and written again from its ``run_results.json`` after it: a build that fails or is
killed half-way leaves those nodes unrecorded, and the next night builds them.

The prepared manifest (``tradewinds prepare``) gives the graph; it is trusted only while the
project's files are those it was parsed from (``manifest.files.sha256`` beside it). Raw tables
changed by anything other than the loader (an UPDATE by hand) are not seen: set
``TRADEWINDS_DBT__SKIP_UNCHANGED=false`` for the night after such a change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.dbt_files import project_files_digest
from orchestration.lib.warehouse import RAW_SCHEMA, transaction

__all__ = ["project_files_digest"]  # where the dbt step and the tests have always taken it from

BUILDS_TABLE = f"{RAW_SCHEMA}._dbt_builds"
#: Beside the prepared manifest: the digest of the project files it was parsed from.
FILES_DIGEST_NAME = "manifest.files.sha256"
#: Node types a build may leave out (operations, i.e. the on-run-start hooks, always run).
SKIPPABLE = ("model", "seed", "snapshot", "test")
#: Relations a model, seed or snapshot leaves in the warehouse (an ephemeral model leaves none).
BUILT = ("model", "seed", "snapshot")
#: Schemas whose models are always built (see the module docstring).
ALWAYS_BUILT_SCHEMAS = ("marts",)
#: The run's day window: part of a model's signature when its code reads it, never of a test's.
WINDOW_ENV = ("TRADEWINDS_DBT_MIN_DATE", "TRADEWINDS_DBT_MAX_DATE", "TRADEWINDS_DBT_WINDOWED")

_VOLATILE = re.compile(
    r"\b(current_date|current_timestamp|current_time|now\s*\(|today\s*\(|get_current_time|run_started_at|"
    r"invocation_id|modules\.datetime|modules\.time|random\s*\(|uuid\s*\(|gen_random_uuid)",
    re.IGNORECASE,
)
#: SQL and Jinja comments (a comment saying "today" reads no clock).
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/|\{#.*?#\}", re.DOTALL)
_ENV_VAR = re.compile(r"env_var\(\s*['\"]([^'\"]+)['\"]")
_STATUS_BUILT = ("success", "pass")


def write_files_digest(project_dir: Path, manifest_path: Path, digest: str | None = None) -> Path:
    """Record beside ``manifest_path`` which project files it was parsed from."""
    target = Path(manifest_path).with_name(FILES_DIGEST_NAME)
    target.write_text((digest or project_files_digest(project_dir)) + "\n", encoding="utf-8")
    return target


def manifest_matches_files(project_dir: Path, manifest_path: Path) -> str | None:
    """The project files' digest when the prepared manifest was parsed from these very files, else None."""
    recorded = Path(manifest_path).with_name(FILES_DIGEST_NAME)
    if not recorded.is_file():
        return None
    current = project_files_digest(project_dir)
    return current if recorded.read_text(encoding="utf-8").strip() == current else None


def _sha(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def source_fingerprints(conn: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any]) -> dict[str, str | None]:
    """Per dbt source: its row count and latest ``_loaded_at`` (None: no such table or no such column,
    so nothing built from it is ever left out). A few milliseconds a table, even on 31M rows."""
    columns = {
        (schema.lower(), table.lower())
        for schema, table in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = '_loaded_at'"
        ).fetchall()
    }
    out: dict[str, str | None] = {}
    for unique_id, source in manifest.get("sources", {}).items():
        schema, table = source["schema"], source.get("identifier") or source["name"]
        if (schema.lower(), table.lower()) not in columns:
            out[unique_id] = None
            continue
        count, latest = conn.execute(f'SELECT count(*), max(_loaded_at) FROM "{schema}"."{table}"').fetchone()
        out[unique_id] = f"{count}|{latest}"
    return out


def source_schemas(conn: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any]) -> dict[str, str | None]:
    """Per dbt source: a digest of its columns (names and types, in order; None: no such table).
    What a view's definition reads of a raw table, in one query for all of them."""
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in conn.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall():
        columns.setdefault((schema.lower(), table.lower()), []).append((column, data_type))
    out: dict[str, str | None] = {}
    for unique_id, source in manifest.get("sources", {}).items():
        found = columns.get((source["schema"].lower(), (source.get("identifier") or source["name"]).lower()))
        out[unique_id] = _sha(found) if found else None
    return out


def existing_relations(conn: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, name) of every table and view in the warehouse, lower case."""
    return {
        (schema.lower(), name.lower())
        for schema, name in conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }


class _Macros:
    """The macros a node can reach, resolved by name (a project macro overrides dbt's, and
    ``adapter.dispatch`` picks ``duckdb__``/``default__`` implementations the manifest does not list)."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.macros: Mapping[str, Any] = manifest.get("macros", {})
        self.by_name: dict[str, list[str]] = {}
        for unique_id, macro in self.macros.items():
            self.by_name.setdefault(macro["name"], []).append(unique_id)

    def _named(self, unique_id: str) -> list[str]:
        name = unique_id.rsplit(".", 1)[-1]
        base = re.sub(r"^(duckdb|default)__", "", name)
        return [m for n in (name, base, f"duckdb__{base}", f"default__{base}") for m in self.by_name.get(n, [])]

    def closure(self, roots: Iterable[str]) -> frozenset[str]:
        seen: set[str] = set()
        stack = [m for root in roots for m in self._named(root)]
        while stack:
            macro_id = stack.pop()
            if macro_id in seen or macro_id not in self.macros:
                continue
            seen.add(macro_id)
            for dep in (self.macros[macro_id].get("depends_on") or {}).get("macros", []):
                stack.extend(self._named(dep))
        return frozenset(seen)

    def package(self, unique_id: str) -> str:
        return self.macros[unique_id].get("package_name", "")

    def text(self, ids: Iterable[str]) -> str:
        return "\n".join(self.macros[m].get("macro_sql", "") for m in sorted(ids))


@dataclass
class SkipPlan:
    """What tonight's build leaves out, and each node's signature tonight (None: never left out)."""

    skipped: list[str] = field(default_factory=list)
    signatures: dict[str, str | None] = field(default_factory=dict)
    #: Why the nodes that do run are not left out, counted ("never built here", "inputs changed", ...).
    reasons: Counter = field(default_factory=Counter)
    #: The sources (``family.table``) whose rows changed since the last build read them.
    changed_sources: list[str] = field(default_factory=list)
    #: Tonight's fingerprint of every source (recorded with the build).
    fingerprints: dict[str, str | None] = field(default_factory=dict)

    @property
    def unchanged_sources(self) -> list[str]:
        """The sources (``family.table``) whose rows are those the last build read."""
        return sorted(set(map(_source_table, self.fingerprints)) - set(self.changed_sources))

    def summary(self, manifest: Mapping[str, Any]) -> str:
        kinds = Counter(_kind(manifest["nodes"][u]) for u in self.skipped)
        left_out = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        why = ", ".join(f"{n} {r}" for r, n in self.reasons.most_common()) or "-"
        return f"left out as unchanged since their last build: {left_out}; built: {why}"


def _kind(node: Mapping[str, Any]) -> str:
    if node["resource_type"] == "model":
        return f"{node.get('config', {}).get('materialized', 'model')} models"
    return {"test": "data tests", "seed": "seeds", "snapshot": "snapshots"}.get(node["resource_type"], "other")


def node_signatures(
    manifest: Mapping[str, Any],
    fingerprints: Mapping[str, str | None],
    environment: Mapping[str, str],
    build_key: str,
    schemas: Mapping[str, str | None],
) -> dict[str, str | None]:
    """Tonight's signature of every model, seed, snapshot and data test (None: volatile, or built
    from a raw table without fingerprint). ``build_key``: what every node's signature shares (the
    project files' digest, versions, target, warehouse, ``--vars``). ``schemas``: the sources'
    columns (:func:`source_schemas`), what a view's signature, its definition, reads of them."""
    nodes = manifest["nodes"]
    macros = _Macros(manifest)
    project = manifest.get("metadata", {}).get("project_name", "")
    memo: dict[str, tuple[str | None, bool]] = {}
    definitions: dict[str, str | None] = {}

    def own(node: Mapping[str, Any]) -> tuple[str, bool, dict[str, str]]:
        closure = macros.closure((node.get("depends_on") or {}).get("macros", []))
        code = (node.get("raw_code") or "") + "\n" + macros.text(closure)
        names = sorted(set(_ENV_VAR.findall(code)))
        if node["resource_type"] == "test":
            names = [n for n in names if n not in WINDOW_ENV]
        # Clock reads in dbt's own materializations (a snapshot's timestamps) do not count: they
        # change nothing when the rows do not. The project's code and macros do, comments aside.
        ours = (node.get("raw_code") or "") + macros.text(m for m in closure if macros.package(m) == project)
        return code, bool(_VOLATILE.search(_COMMENTS.sub(" ", ours))), {n: environment.get(n, "") for n in names}

    def signature(unique_id: str) -> tuple[str | None, bool]:
        """(signature, volatile): a view that reads the clock is left out like any other view (it
        stores its SQL, not its rows), but what is built or tested from it never is."""
        if unique_id in memo:
            return memo[unique_id]
        if unique_id in fingerprints:
            return fingerprints[unique_id], False
        node = nodes.get(unique_id)
        if node is None:
            return None, True
        memo[unique_id] = (None, True)  # a cycle (none in dbt) is never left out
        code, volatile, env = own(node)
        parents = sorted((node.get("depends_on") or {}).get("nodes", []))
        upstream = [signature(p) for p in parents]
        volatile = volatile or any(v for _, v in upstream)
        result = None
        is_view = node.get("config", {}).get("materialized") == "view"
        if (is_view or not volatile) and all(sig is not None for sig, _ in upstream):
            relation = (node.get("schema"), node.get("alias") or node.get("name"))
            result = _sha(
                build_key,
                node["resource_type"],
                relation,
                node.get("checksum"),
                node.get("config"),
                node.get("test_metadata"),
                code,
                env,
                [(p, sig) for p, (sig, _) in zip(parents, upstream, strict=True)],
            )
        memo[unique_id] = (result, volatile)
        return memo[unique_id]

    def definition(unique_id: str) -> str | None:
        """What a view's SQL is made from: its own code and that of everything it selects from,
        down to the sources' columns (None: a source without fingerprint or table, never left out)."""
        if unique_id in definitions:
            return definitions[unique_id]
        if unique_id in fingerprints:
            return schemas.get(unique_id) if fingerprints[unique_id] is not None else None
        node = nodes.get(unique_id)
        if node is None:
            return None
        definitions[unique_id] = None  # a cycle (none in dbt) is never left out
        code, _, env = own(node)
        parents = sorted((node.get("depends_on") or {}).get("nodes", []))
        upstream = [definition(p) for p in parents]
        if all(d is not None for d in upstream):
            definitions[unique_id] = _sha(
                build_key,
                "definition",
                node["resource_type"],
                (node.get("schema"), node.get("alias") or node.get("name")),
                node.get("checksum"),
                node.get("config"),
                code,
                env,
                list(zip(parents, upstream, strict=True)),
            )
        return definitions[unique_id]

    return {
        u: definition(u) if _is_view(n) else signature(u)[0]
        for u, n in nodes.items()
        if n["resource_type"] in SKIPPABLE
    }


def _is_view(node: Mapping[str, Any]) -> bool:
    return node["resource_type"] == "model" and node.get("config", {}).get("materialized") == "view"


def plan_skips(
    manifest: Mapping[str, Any],
    signatures: Mapping[str, str | None],
    recorded: Mapping[str, str],
    relations: set[tuple[str, str]],
    fingerprints: Mapping[str, str | None],
) -> SkipPlan:
    """The nodes tonight's build may leave out (pure: tested without dbt or a warehouse)."""
    nodes = manifest["nodes"]
    plan = SkipPlan(
        signatures=dict(signatures),
        changed_sources=changed_sources(fingerprints, recorded),
        fingerprints=dict(fingerprints),
    )
    decided: dict[str, bool] = {}

    def skippable(unique_id: str) -> bool:
        if unique_id in decided:
            return decided[unique_id]
        decided[unique_id] = False  # a cycle (none in dbt) is never left out
        node = nodes[unique_id]
        parents = [p for p in (node.get("depends_on") or {}).get("nodes", []) if p in nodes]
        reason = None
        if node.get("schema") in ALWAYS_BUILT_SCHEMAS or any(
            nodes[p].get("schema") in ALWAYS_BUILT_SCHEMAS and node["resource_type"] == "test" for p in parents
        ):
            reason = "marts and their tests"
        elif signatures.get(unique_id) is None:
            reason = "reading the clock (in their code or upstream) or a table without _loaded_at"
        elif unique_id not in recorded:
            reason = "not built here before (or its last build failed)"
        elif recorded[unique_id] != signatures[unique_id]:
            reason = "inputs or code changed"
        elif not _is_view(node) and not all(
            skippable(p) for p in parents if nodes[p]["resource_type"] in SKIPPABLE and _materialized(nodes[p])
        ):
            # A view selects from its parents by name: rebuilt parents leave its SQL as it was.
            reason = "built from a node that is built tonight"
        elif (
            node["resource_type"] in BUILT
            and _materialized(node)
            and ((node.get("schema") or "").lower(), (node.get("alias") or node["name"]).lower()) not in relations
        ):
            reason = "its relation is missing"
        decided[unique_id] = reason is None
        if reason is not None:
            plan.reasons[reason] += 1
        return decided[unique_id]

    plan.skipped = sorted(u for u in signatures if skippable(u))
    return plan


def _materialized(node: Mapping[str, Any]) -> bool:
    return node.get("config", {}).get("materialized") != "ephemeral"


def changed_sources(fingerprints: Mapping[str, str | None], recorded: Mapping[str, str]) -> list[str]:
    """The sources (``family.table``) whose rows differ from those the last build read."""
    return sorted(_source_table(u) for u, f in fingerprints.items() if f is None or recorded.get(u) != f)


def _source_table(unique_id: str) -> str:
    """``source.<project>.<family>.<table>`` -> ``family.table``."""
    return unique_id.split(".", 2)[-1]


# ------------------------------------------------------------------------------------ records


def ensure_builds_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {BUILDS_TABLE} (unique_id VARCHAR PRIMARY KEY, signature VARCHAR NOT NULL, "
        "built_at TIMESTAMP NOT NULL, run_id VARCHAR)"
    )


def read_records(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    ensure_builds_table(conn)
    return dict(conn.execute(f"SELECT unique_id, signature FROM {BUILDS_TABLE}").fetchall())


def forget(conn: duckdb.DuckDBPyConnection, unique_ids: Iterable[str]) -> None:
    """Delete the records of the nodes a build is about to run (before it starts)."""
    ids = sorted(set(unique_ids))
    ensure_builds_table(conn)
    if ids:
        conn.execute(f"DELETE FROM {BUILDS_TABLE} WHERE unique_id IN (SELECT unnest(?::VARCHAR[]))", [ids])


def record(
    conn: duckdb.DuckDBPyConnection,
    run_results: Mapping[str, Any],
    signatures: Mapping[str, str | None],
    fingerprints: Mapping[str, str | None],
    run_id: str | None,
) -> int:
    """Record the signature of every node the build built or passed, and the sources' fingerprints
    it read (what the next night's log compares with); returns how many nodes."""
    rows = [
        (r["unique_id"], signatures[r["unique_id"]], run_id)
        for r in run_results.get("results", [])
        if r.get("status") in _STATUS_BUILT and signatures.get(r["unique_id"]) is not None
    ]
    built = len(rows)
    rows += [(u, f, run_id) for u, f in fingerprints.items() if f is not None]
    ensure_builds_table(conn)
    if rows:
        with transaction(conn):
            conn.execute(
                f"DELETE FROM {BUILDS_TABLE} WHERE unique_id IN (SELECT unnest(?::VARCHAR[]))", [[r[0] for r in rows]]
            )
            conn.executemany(f"INSERT INTO {BUILDS_TABLE} VALUES (?, ?, now()::TIMESTAMP, ?)", rows)
    return built
