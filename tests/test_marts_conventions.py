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

from orchestration.defs.quality.suites import model_primary_key

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
SQLFLUFF_EXECUTABLE = Path(sys.executable).with_name("sqlfluff")
EXCEPTIONS_FILE = DBT_PROJECT_DIR / "conventions_exceptions.yml"
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
        unique_sets = [
            {t["test_metadata"]["kwargs"].get("column_name") or t.get("column_name")}
            for t in tests
            if t["test_metadata"]["name"] == "unique"
        ] + [
            set(t["test_metadata"]["kwargs"].get("combination_of_columns") or [])
            for t in tests
            if t["test_metadata"]["name"] == "unique_combination_of_columns"
        ]
        if set(key) not in unique_sets:
            out.append(Violation("mart_primary_key_test", node["name"], f"no uniqueness test on {key}"))
        not_null_tested = {
            t["test_metadata"]["kwargs"].get("column_name") or t.get("column_name")
            for t in tests
            if t["test_metadata"]["name"] == "not_null"
        }
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


RULES: tuple[Callable[[Manifest], list[Violation]], ...] = (
    check_model_descriptions,
    check_mart_columns,
    check_staging,
    check_marts,
    check_lineage,
    check_mart_primary_keys,
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


# ---------------------------------------------------------------------------- SQL style


def test_sqlfluff_is_clean(sqlfluff_lint: subprocess.Popen[str]) -> None:
    """sqlfluff (dialect duckdb, jinja templater, lint stubs) finds nothing in the models."""
    stdout, stderr = sqlfluff_lint.communicate(timeout=600)
    assert sqlfluff_lint.returncode == 0, stdout[-6000:] + stderr[-2000:]
