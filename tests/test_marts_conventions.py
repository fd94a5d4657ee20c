"""Project conventions checked on dbt's manifest: our dbt-project-evaluator without packages.

``dbt parse`` writes ``target/manifest.json`` (into a temporary folder, the repository's
``target/`` belongs to Dagster); pure rule functions read it and return violations, which
must all be listed in ``dbt_project/conventions_exceptions.yml`` with a reason, and every
listed exception must still be needed. The rules (severity error, as dbt-project-evaluator's):

- ``model_description``        every model has a description
- ``mart_column_description``  every column of a mart is declared with a description
- ``staging_naming``           staging models are named ``stg_<source>__<entity>s`` after the one
                               source they read
- ``staging_materialization``  staging models are views
- ``mart_materialization``     marts are tables (``table``, or ``incremental`` for the daily-grain ones)
- ``mart_contract``            marts enforce their contract
- ``source_outside_staging``   only staging models select from sources
- ``mart_on_staging``          marts never select from staging models directly
- ``mart_primary_key_test``    marts declare a primary key (constraint, or ``meta.primary_key``
                               where DuckDB's index would cost too much) and test it: unique (``unique`` or
                               ``unique_combination_of_columns`` on exactly its columns) and
                               not null (test or enforced ``not_null`` constraint) per column
- ``staging_key_ungated``      a staging model's raw key is checked not null and unique, by its
                               dbt tests or by the raw table's GX suite (the blocking gate of the
                               ingest asset, which stops the dbt build when it fails)
- ``staging_test_repeats_gate`` no staging data test repeats what the raw table's GX suite
                               already enforces on the same column (a staging view only renames
                               and casts): the repeat costs a query and three Dagster events a
                               night and catches nothing the gate has not stopped

The rules are tested against a hand-made manifest that breaks each of them, and SQL style is
checked with sqlfluff (dialect duckdb, the project's ``.sqlfluff``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.defs.quality.repeats import blocking, column_of_test, gate_implies, gate_unique_keys, load_suites
from orchestration.defs.quality.suites import model_primary_key
from orchestration.lib.schemas import RAW_TABLES

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
SQLFLUFF_EXECUTABLE = Path(sys.executable).with_name("sqlfluff")
EXCEPTIONS_FILE = DBT_PROJECT_DIR / "conventions_exceptions.yml"
RAW_SUITES_DIR = Path(__file__).resolve().parents[1] / "expectations" / "gx" / "expectations"
PROJECT = "tradewinds"
STAGING_NAME = re.compile(r"^stg_(?P<source>[a-z0-9]+)__(?P<entity>[a-z0-9_]+)$")

Manifest = Mapping[str, Any]
Node = Mapping[str, Any]


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    model: str
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.model)


# ---------------------------------------------------------------------------- manifest helpers


def project_models(manifest: Manifest) -> dict[str, Node]:
    """The project's models by unique id."""
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == PROJECT
    }


def layer(node: Node) -> str | None:
    """``models/<layer>/...`` -> staging, intermediate or marts."""
    parts = node["original_file_path"].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "models" else None


def parents(node: Node) -> list[str]:
    return list(node.get("depends_on", {}).get("nodes", []))


def data_tests_on(manifest: Manifest, uid: str) -> list[Node]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node") == uid and node.get("test_metadata")
    ]


def primary_key(node: Node) -> list[str]:
    """Primary-key columns from the model-level or column-level ``primary_key`` constraint, else
    from ``meta.primary_key`` (a key declared but not enforced: the large day-grain marts)."""
    return model_primary_key(node) or [
        name for name, col in node["columns"].items() if any(c["type"] == "primary_key" for c in col["constraints"])
    ]


# ---------------------------------------------------------------------------- rules


def check_model_descriptions(manifest: Manifest) -> list[Violation]:
    return [
        Violation("model_description", node["name"])
        for node in project_models(manifest).values()
        if not (node.get("description") or "").strip()
    ]


def check_mart_columns(manifest: Manifest) -> list[Violation]:
    out = []
    for node in project_models(manifest).values():
        if layer(node) != "marts":
            continue
        if not node["columns"]:
            out.append(Violation("mart_column_description", node["name"], "no columns declared"))
        missing = sorted(name for name, col in node["columns"].items() if not (col.get("description") or "").strip())
        if missing:
            out.append(Violation("mart_column_description", node["name"], ", ".join(missing)))
    return out


def check_staging(manifest: Manifest) -> list[Violation]:
    out = []
    for node in project_models(manifest).values():
        if layer(node) != "staging":
            continue
        name = node["name"]
        if node["config"]["materialized"] != "view":
            out.append(Violation("staging_materialization", name, node["config"]["materialized"]))
        sources = {manifest["sources"][uid]["source_name"] for uid in parents(node) if uid.startswith("source.")}
        match = STAGING_NAME.match(name)
        if not match or not match["entity"].endswith("s") or {match["source"]} != sources:
            out.append(Violation("staging_naming", name, f"reads {sorted(sources)}; want stg_<source>__<entity>s"))
    return out


def check_marts(manifest: Manifest) -> list[Violation]:
    out = []
    for node in project_models(manifest).values():
        if layer(node) != "marts":
            continue
        if node["config"]["materialized"] not in ("table", "incremental"):
            out.append(Violation("mart_materialization", node["name"], node["config"]["materialized"]))
        if not node["config"].get("contract", {}).get("enforced"):
            out.append(Violation("mart_contract", node["name"]))
    return out


def check_lineage(manifest: Manifest) -> list[Violation]:
    models = project_models(manifest)
    out = []
    for node in models.values():
        node_layer = layer(node)
        from_sources = sorted(uid for uid in parents(node) if uid.startswith("source."))
        if from_sources and node_layer != "staging":
            out.append(Violation("source_outside_staging", node["name"], ", ".join(from_sources)))
        if node_layer == "marts":
            staging = sorted(
                models[uid]["name"] for uid in parents(node) if uid in models and layer(models[uid]) == "staging"
            )
            if staging:
                out.append(Violation("mart_on_staging", node["name"], ", ".join(staging)))
    return out


def check_mart_primary_keys(manifest: Manifest) -> list[Violation]:
    out = []
    for uid, node in project_models(manifest).items():
        if layer(node) != "marts":
            continue
        key = primary_key(node)
        if not key:
            out.append(Violation("mart_primary_key_test", node["name"], "no primary_key constraint"))
            continue
        tests = data_tests_on(manifest, uid)
        unique_sets = [{column_of_test(t)} for t in tests if t["test_metadata"]["name"] == "unique"] + [
            set(t["test_metadata"]["kwargs"].get("combination_of_columns") or [])
            for t in tests
            if t["test_metadata"]["name"] == "unique_combination_of_columns"
        ]
        if set(key) not in unique_sets:
            out.append(Violation("mart_primary_key_test", node["name"], f"no uniqueness test on {key}"))
        not_null_tested = {column_of_test(t) for t in tests if t["test_metadata"]["name"] == "not_null"}
        enforced = node["config"].get("contract", {}).get("enforced")
        for column in key:
            constrained = enforced and any(
                c["type"] == "not_null" for c in node["columns"].get(column, {}).get("constraints", [])
            )
            if column not in not_null_tested and not constrained:
                out.append(
                    Violation(
                        "mart_primary_key_test", node["name"], f"{column} is neither tested nor constrained not null"
                    )
                )
    return out


# ---------------------------------------------------------------------------- staging vs the raw gates

#: What a staging ``cast(<raw column> as <type>)`` renders, by the type it names.
_CAST_TYPES = {
    "{{ dbt.type_string() }}": "VARCHAR",
    "{{ type_double() }}": "DOUBLE",
    "{{ dbt.type_timestamp() }}": "TIMESTAMP",
    "{{ dbt.type_int() }}": "INTEGER",
    "{{ dbt.type_bigint() }}": "BIGINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
#: Widening casts: every value stays what it was (and so nullness, ranges, value sets and
#: uniqueness; integers to DOUBLE exactly up to 2**53, far above any count or amount here).
_LOSSLESS = {("INTEGER", "BIGINT"), ("INTEGER", "DOUBLE"), ("BIGINT", "DOUBLE")}
_SELECTED = re.compile(
    r"^\s*(?:cast\(\s*(?P<cast_of>\w+)\s+as\s+(?P<type>.+?)\)|(?P<plain>\w+))\s+as\s+(?P<alias>\w+)\s*,?\s*$",
    re.IGNORECASE,
)


def raw_columns_of_staging(node: Node, raw_types: Mapping[str, str]) -> dict[str, str]:
    """Staging column -> the raw column it is, unchanged: a plain select or a lossless cast.

    Read from the model's SQL, one ``<expr> as <alias>`` per line (the staging style). A column
    computed any other way, or cast to a narrower type (a timestamp to a date, a double to an
    integer), maps to nothing: nothing the raw gate checks is known to hold for it.
    """
    out = {}
    for line in node.get("raw_code", "").splitlines():
        m = _SELECTED.match(line)
        if not m:
            continue
        raw = m["cast_of"] or m["plain"]
        if raw not in raw_types:
            continue
        if m["cast_of"]:
            target = _CAST_TYPES.get(" ".join(m["type"].split()).lower() if "{" not in m["type"] else m["type"].strip())
            source = raw_types[raw].upper()
            if target is None or (target != source and (source, target) not in _LOSSLESS):
                continue
        out[m["alias"]] = raw
    return out


def load_raw_suites(directory: Path = RAW_SUITES_DIR) -> dict[str, list[dict[str, Any]]]:
    """Raw table -> its GX suite's expectations (``raw_<table>.json``)."""
    return load_suites(directory, "raw_")


def _staging_over_raw(manifest: Manifest) -> Iterator[tuple[str, Node, str]]:
    """(uid, node, raw table) of each staging model that reads one raw table."""
    for uid, node in project_models(manifest).items():
        if layer(node) != "staging":
            continue
        sources = [manifest["sources"][p] for p in parents(node) if p.startswith("source.")]
        if len(sources) == 1:
            source = sources[0]
            yield uid, node, source.get("identifier") or source.get("name") or ""


def check_staging_against_raw_gates(
    manifest: Manifest,
    suites: Mapping[str, list[dict[str, Any]]] | None = None,
    raw_tables: Mapping[str, Any] = RAW_TABLES,
) -> list[Violation]:
    suites = load_raw_suites() if suites is None else suites
    out = []
    for uid, node, table in _staging_over_raw(manifest):
        if table not in raw_tables:
            continue
        gate = blocking(suites.get(table, []))
        raw = raw_tables[table]
        day_column = raw.partition_column if raw.daily_partitioned else None
        column_map = raw_columns_of_staging(node, raw.columns)
        tests = data_tests_on(manifest, uid)
        repeated = sorted(t["name"] for t in tests if gate_implies(t, column_map, gate, day_column))
        if repeated:
            out.append(Violation("staging_test_repeats_gate", node["name"], ", ".join(repeated)))
        # The key: each column never NULL and the whole key unique, by the gate or a dbt test.
        key = list(raw.primary_key)
        gate_nulls = {k["column"] for t, k in gate if t == "expect_column_values_to_not_be_null"}
        tested_nulls = {
            column_map.get(column_of_test(t) or "") for t in tests if t["test_metadata"]["name"] == "not_null"
        }
        missing = [c for c in key if c not in gate_nulls and c not in tested_nulls]
        gate_unique = gate_unique_keys(gate, day_column)
        tested_unique = [
            {column_map.get(c) for c in t["test_metadata"]["kwargs"].get("combination_of_columns") or []}
            if t["test_metadata"]["name"] == "unique_combination_of_columns"
            else {column_map.get(column_of_test(t) or "")}
            for t in tests
            if t["test_metadata"]["name"] in ("unique", "unique_combination_of_columns")
        ]
        if not any(s <= set(key) for s in gate_unique + tested_unique):
            missing.append(f"uniqueness of ({', '.join(key)})")
        unmapped = [c for c in key if c not in column_map.values()]
        problems = []
        if missing:
            problems.append(f"not checked: {', '.join(missing)}")
        if unmapped:
            problems.append(f"key columns not selected unchanged: {', '.join(unmapped)}")
        if problems:
            out.append(Violation("staging_key_ungated", node["name"], "; ".join(problems)))
    return out


RULES: tuple[Callable[[Manifest], list[Violation]], ...] = (
    check_model_descriptions,
    check_mart_columns,
    check_staging,
    check_marts,
    check_lineage,
    check_mart_primary_keys,
    check_staging_against_raw_gates,
)


def all_violations(manifest: Manifest) -> list[Violation]:
    return sorted(v for rule in RULES for v in rule(manifest))


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> list[dict[str, str]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["exceptions"]


def _keys(violations: Iterable[Violation]) -> set[tuple[str, str]]:
    return {v.key for v in violations}


# ---------------------------------------------------------------------------- the real project


@pytest.fixture(scope="module")
def sqlfluff_lint() -> Iterator[subprocess.Popen[str]]:
    """sqlfluff on the models, started first so that it runs while dbt parses."""
    proc = subprocess.Popen(
        [str(SQLFLUFF_EXECUTABLE), "lint", "models", "--processes", "1", "--disable-progress-bar", "--nocolor"],
        cwd=DBT_PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory, sqlfluff_lint: subprocess.Popen[str]) -> Manifest:
    work = tmp_path_factory.mktemp("dbt_parse")
    env = {**os.environ, "TRADEWINDS_WAREHOUSE": str(work / "unused.duckdb")}
    result = subprocess.run(
        [
            str(DBT_EXECUTABLE),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads((work / "target" / "manifest.json").read_text(encoding="utf-8"))


def test_conventions_hold_but_for_documented_exceptions(manifest: Manifest) -> None:
    allowed = {(e["rule"], e["model"]) for e in load_exceptions()}
    unexpected = [v for v in all_violations(manifest) if v.key not in allowed]
    assert not unexpected, "\n".join(f"{v.rule}: {v.model} {v.detail}" for v in unexpected)


def test_every_documented_exception_is_still_needed(manifest: Manifest) -> None:
    stale = {(e["rule"], e["model"]) for e in load_exceptions()} - _keys(all_violations(manifest))
    assert not stale, f"remove from {EXCEPTIONS_FILE.name}: {sorted(stale)}"


def test_exceptions_name_a_rule_and_a_reason() -> None:
    rules = {
        "model_description",
        "mart_column_description",
        "staging_naming",
        "staging_materialization",
        "mart_materialization",
        "mart_contract",
        "source_outside_staging",
        "mart_on_staging",
        "mart_primary_key_test",
        "staging_key_ungated",
        "staging_test_repeats_gate",
    }
    for entry in load_exceptions():
        assert entry["rule"] in rules, entry
        assert len((entry.get("reason") or "").split()) >= 5, f"explain the exception: {entry}"


def test_the_project_has_the_marts_consumers_read(manifest: Manifest) -> None:
    marts = {n["name"] for n in project_models(manifest).values() if layer(n) == "marts"}
    assert {
        "selection_sku_market",
        "demand_sku_market_daily",
        "service_market_daily",
        "risk_lane_weekly",
        "risk_supplier_concentration",
        "risk_market_policy",
        "risk_policy_events",
        "risk_sku",
        "service_sku_topic",
        "inventory_position",
        "traffic_sku_market_daily",
        "shipment_transit",
    } <= marts
    exposed = {uid.split(".")[-1] for e in manifest["exposures"].values() for uid in e["depends_on"]["nodes"]}
    assert marts <= exposed, f"marts no exposure reads: {sorted(marts - exposed)}"
    snapshots = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "snapshot"}
    assert {"snap_policy__vat_rates", "snap_policy__duty_rates"} <= snapshots


# ---------------------------------------------------------------------------- the rules can fail


def _model(name: str, path: str, **kw: Any) -> dict[str, Any]:
    node = {
        "resource_type": "model",
        "package_name": PROJECT,
        "name": name,
        "original_file_path": path,
        "description": "A model.",
        "columns": {},
        "constraints": [],
        "config": {"materialized": "view", "contract": {"enforced": False}},
        "depends_on": {"nodes": []},
    }
    node.update(kw)
    return node


def _column(name: str, description: str = "A column.", not_null: bool = False) -> dict[str, Any]:
    return {"name": name, "description": description, "constraints": [{"type": "not_null"}] if not_null else []}


def _test(name: str, attached: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "resource_type": "test",
        "package_name": PROJECT,
        "attached_node": attached,
        "test_metadata": {"name": name, "kwargs": kwargs},
        "column_name": kwargs.get("column_name"),
    }


def broken_manifest() -> dict[str, Any]:
    """One model (or pair) breaking each rule, and a well-behaved mart."""
    table = {"materialized": "table", "contract": {"enforced": True}}
    nodes = {
        "model.tradewinds.stg_shop__orders": _model(
            "stg_shop__orders",
            "models/staging/shop/stg_shop__orders.sql",
            depends_on={"nodes": ["source.tradewinds.shop.orders"]},
        ),
        "model.tradewinds.stg_shop__stock": _model(
            "stg_shop__stock",
            "models/staging/shop/stg_shop__stock.sql",
            config={"materialized": "table"},
            depends_on={"nodes": ["source.tradewinds.shop.stock"]},
        ),
        "model.tradewinds.int_orders_joined": _model(
            "int_orders_joined",
            "models/intermediate/int_orders_joined.sql",
            description="",
            depends_on={"nodes": ["source.tradewinds.shop.orders"]},
        ),
        "model.tradewinds.good_mart": _model(
            "good_mart",
            "models/marts/good_mart.sql",
            config=table,
            columns={"id": _column("id", not_null=True), "x": _column("x")},
            constraints=[{"type": "primary_key", "columns": ["id"]}],
            depends_on={"nodes": ["model.tradewinds.int_orders_joined"]},
        ),
        "test.tradewinds.unique_good_mart_id": _test("unique", "model.tradewinds.good_mart", column_name="id"),
        "model.tradewinds.bad_mart": _model(
            "bad_mart",
            "models/marts/bad_mart.sql",
            config={"materialized": "view", "contract": {"enforced": False}},
            columns={"a": _column("a", description=""), "b": _column("b")},
            constraints=[{"type": "primary_key", "columns": ["a", "b"]}],
            depends_on={"nodes": ["model.tradewinds.stg_shop__orders"]},
        ),
        "test.tradewinds.unique_bad_mart_a": _test("unique", "model.tradewinds.bad_mart", column_name="a"),
        "model.tradewinds.keyless_mart": _model(
            "keyless_mart", "models/marts/keyless_mart.sql", config=table, columns={"k": _column("k")}
        ),
    }
    sources = {
        "source.tradewinds.shop.orders": {"source_name": "shop"},
        "source.tradewinds.shop.stock": {"source_name": "shop"},
    }
    return {"nodes": nodes, "sources": sources, "exposures": {}}


def test_each_rule_catches_its_violation() -> None:
    found = _keys(all_violations(broken_manifest()))
    assert found == {
        ("staging_naming", "stg_shop__stock"),  # entity not plural
        ("staging_materialization", "stg_shop__stock"),
        ("model_description", "int_orders_joined"),
        ("source_outside_staging", "int_orders_joined"),
        ("mart_column_description", "bad_mart"),
        ("mart_materialization", "bad_mart"),
        ("mart_contract", "bad_mart"),
        ("mart_on_staging", "bad_mart"),
        ("mart_primary_key_test", "bad_mart"),  # unique on a alone, b and a not tested not null
        ("mart_primary_key_test", "keyless_mart"),
    }
    details = {v.detail for v in all_violations(broken_manifest()) if v.key == ("mart_primary_key_test", "bad_mart")}
    assert any("uniqueness" in d for d in details) and any("not null" in d for d in details)


def test_the_staging_rules_weigh_each_test_against_the_raw_gate() -> None:
    """A staging test the gate enforces on the same (renamed, losslessly cast) column is a
    repeat; a narrowed column, a looser gate, a warning-only expectation or a key the gate sees
    one night at a time is not; the key must stay checked by one of them."""
    from orchestration.lib.schemas import RawTable

    sales = RawTable(
        name="sales",
        family="platform",
        cadence="daily",
        partition_column="sale_date",
        primary_key=("sale_id",),
        columns={"sale_id": "VARCHAR", "sale_date": "DATE", "qty": "INTEGER", "sold_at": "TIMESTAMP"},
    )
    sql = (
        "select\n    cast(sale_id as {{ dbt.type_string() }}) as sale_id,\n    cast(qty as bigint) as quantity,\n"
        "    cast(sold_at as date) as sold_on,\n    sale_date\nfrom source"
    )
    stg = "model.tradewinds.stg_shop__sales"

    def test(name: str, kind: str, **kwargs: Any) -> dict[str, Any]:
        return {**_test(kind, stg, **kwargs), "name": name}

    nodes = {
        stg: _model(
            "stg_shop__sales",
            "models/staging/shop/stg_shop__sales.sql",
            raw_code=sql,
            depends_on={"nodes": ["source.tradewinds.shop.sales"]},
        ),
        "test.tradewinds.nn_quantity": test("nn_quantity", "not_null", column_name="quantity"),
        "test.tradewinds.min0_quantity": test("min0_quantity", "accepted_range", column_name="quantity", min_value=0),
        "test.tradewinds.min5_quantity": test("min5_quantity", "accepted_range", column_name="quantity", min_value=5),
        "test.tradewinds.nn_sold_on": test("nn_sold_on", "not_null", column_name="sold_on"),
        "test.tradewinds.nn_sale_date": test("nn_sale_date", "not_null", column_name="sale_date"),
        "test.tradewinds.unique_sale_id": test("unique_sale_id", "unique", column_name="sale_id"),
    }
    manifest = {
        "nodes": nodes,
        "sources": {"source.tradewinds.shop.sales": {"source_name": "shop", "name": "sales"}},
        "exposures": {},
    }

    def expectation(kind: str, severity: str = "critical", **kwargs: Any) -> dict[str, Any]:
        return {"type": f"expect_{kind}", "kwargs": kwargs, "severity": severity}

    suite = [
        expectation("column_values_to_not_be_null", column="sale_id"),
        expectation("column_values_to_not_be_null", column="qty"),
        expectation("column_values_to_not_be_null", column="sold_at"),
        expectation("column_values_to_not_be_null", "warning", column="sale_date"),
        expectation("column_values_to_be_unique", column="sale_id"),
        expectation("column_values_to_be_between", column="qty", min_value=1),
    ]

    def found() -> dict[str, str]:
        return {v.rule: v.detail for v in check_staging_against_raw_gates(manifest, {"sales": suite}, {"sales": sales})}

    # Repeats: quantity is qty cast wider. Kept: min 5 (the gate allows 1..4), sold_on (a
    # timestamp narrowed to a date), sale_date (the gate only warns), the key's uniqueness
    # (the gate sees one night's days; an id may repeat across days).
    assert found() == {"staging_test_repeats_gate": "min0_quantity, nn_quantity"}
    del nodes["test.tradewinds.unique_sale_id"]
    assert found()["staging_key_ungated"] == "not checked: uniqueness of (sale_id)"
    # A whole-table load (a snapshot) is validated whole: its gate keeps the key unique.
    snapshot = RawTable(
        name="sales", family="platform", cadence="snapshot", primary_key=("sale_id",), columns=sales.columns
    )
    assert "staging_key_ungated" not in {
        v.rule for v in check_staging_against_raw_gates(manifest, {"sales": suite}, {"sales": snapshot})
    }


# ---------------------------------------------------------------------------- SQL style


def test_sqlfluff_is_clean(sqlfluff_lint: subprocess.Popen[str]) -> None:
    """sqlfluff (dialect duckdb, jinja templater, lint stubs) finds nothing in the models."""
    stdout, stderr = sqlfluff_lint.communicate(timeout=600)
    assert sqlfluff_lint.returncode == 0, stdout[-6000:] + stderr[-2000:]
