"""What the Dagster UI shows about each asset, asserted on the loaded Definitions.

Groups per domain, kinds, owners, descriptions from the dbt docs, column schemas, freshness
policies matched to each source's cadence, partitions, and the ``warehouse`` concurrency pool
on every step that opens the DuckDB warehouse.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from orchestration.defs.transform import TradewindsTranslator
from orchestration.lib.catalog import FRESH_BY_CRON, OWNERS, WAREHOUSE_POOL, WEEKLY_FRESH_BY_CRON, table_schema
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.warehouse import META_COLUMNS
from tests.conftest import SAMPLE_ENV, apply_env, restore_env

FAMILIES = {"platform", "freight", "policy", "carbon"}
DBT_GROUPS = {"staging", "intermediate", "selection", "service", "risk", "reference", "snapshots"}
OTHER_GROUPS = {"forecast", "alerts", "quality", "publish"}
#: Assets that are not tables: the publication (a folder of files) and the GX Data Docs (HTML).
NOT_TABLES = {dg.AssetKey(["publish", "bi_release"]), dg.AssetKey(["quality", "gx_data_docs"])}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    previous = apply_env({**SAMPLE_ENV, "TRADEWINDS_DATA_DIR": str(tmp_path_factory.mktemp("ui") / "data")})
    try:
        from orchestration.definitions import build_definitions

        yield build_definitions().resolve_asset_graph()
    finally:
        restore_env(previous)


def nodes(graph):
    return [graph.get(k) for k in sorted(graph.materializable_asset_keys)]


def columns(node) -> dict[str, dg.TableColumn]:
    schema = node.metadata.get("dagster/column_schema")
    schema = getattr(schema, "schema", schema)  # TableSchemaMetadataValue or TableSchema
    return {c.name: c for c in schema.columns} if schema is not None else {}


def test_every_asset_has_a_domain_group_a_description_kinds_and_an_owner(graph) -> None:
    groups = set()
    for node in nodes(graph):
        name = node.key.to_user_string()
        groups.add(node.group_name)
        assert node.group_name in FAMILIES | DBT_GROUPS | OTHER_GROUPS, name
        assert (node.description or "").strip(), f"{name} has no description"
        assert node.kinds, f"{name} has no kinds"
        assert node.owners and all(o.startswith("team:") for o in node.owners), f"{name}: {node.owners}"
    assert groups == FAMILIES | DBT_GROUPS | OTHER_GROUPS


def test_kinds_name_the_technology_of_each_domain(graph) -> None:
    by_group: dict[str, set[frozenset[str]]] = {}
    for node in nodes(graph):
        by_group.setdefault(node.group_name, set()).add(frozenset(node.kinds))
    for family in FAMILIES:
        assert by_group[family] == {frozenset({"python", "duckdb", "csv"})}, family
    for group in DBT_GROUPS:
        assert by_group[group] == {frozenset({"dbt", "duckdb"})}, group
    assert by_group["forecast"] == {frozenset({"python", "duckdb", "prophet"})}
    assert by_group["alerts"] == {frozenset({"python", "duckdb"})}
    assert by_group["quality"] == {frozenset({"great_expectations", "html"})}
    assert by_group["publish"] == {frozenset({"python", "duckdb", "parquet"})}


def test_owners_per_domain(graph) -> None:
    for node in nodes(graph):
        group = node.group_name
        expected = (
            OWNERS["ingest"]
            if group in FAMILIES
            else OWNERS["transform"]
            if group in DBT_GROUPS
            else {"forecast": OWNERS["forecast"], "alerts": OWNERS["alerts"]}.get(group, OWNERS["publish"])
        )
        assert list(node.owners) == [expected], node.key.to_user_string()
    assert OWNERS["forecast"] != OWNERS["ingest"]  # the owners really differ by domain


def test_dbt_meta_owner_overrides_the_team() -> None:
    t = TradewindsTranslator()
    assert t.get_owners({"meta": {"owner": "jane@example.com"}}) == ["jane@example.com"]
    assert t.get_owners({"config": {"meta": {"owner": ["team:risk", "a@example.com"]}}}) == [
        "team:risk",
        "a@example.com",
    ]
    assert t.get_owners({"meta": {"dagster": {"owners": ["team:x"]}}}) == ["team:x"]
    assert t.get_owners({"meta": {}}) == [OWNERS["transform"]]


def test_descriptions_come_from_the_dbt_docs(graph) -> None:
    import json

    from orchestration.defs.transform import dbt_project

    manifest = json.loads(dbt_project().manifest_path.read_text())
    model = manifest["nodes"]["model.tradewinds.selection_sku_market"]
    node = graph.get(dg.AssetKey(["marts", "selection_sku_market"]))
    assert model["description"] and node.description.startswith(model["description"].strip())
    cols = columns(node)
    assert list(cols) == list(model["columns"])
    assert all(c.description for c in cols.values())
    assert all(c.type != "?" for c in cols.values())  # mart contracts declare every type


def test_every_table_asset_has_a_column_schema(graph) -> None:
    for node in nodes(graph):
        if node.key in NOT_TABLES:
            continue
        assert columns(node), f"{node.key.to_user_string()} has no column schema"


def test_raw_column_schema_is_the_contract_described_by_the_dbt_sources(graph) -> None:
    for table in RAW_TABLES.values():
        cols = columns(graph.get(dg.AssetKey(["raw", table.name])))
        assert {n: c.type for n, c in cols.items()} == {**table.columns, **META_COLUMNS}, table.name
        documented = [n for n, c in cols.items() if c.description]
        assert len(documented) == len(cols), f"raw.{table.name}: undocumented {set(cols) - set(documented)}"
    import json

    from orchestration.defs.transform import dbt_project

    manifest = json.loads(dbt_project().manifest_path.read_text())
    source = manifest["sources"]["source.tradewinds.platform.orders"]["columns"]["marketplace"]["description"]
    assert columns(graph.get(dg.AssetKey(["raw", "orders"])))["marketplace"].description == source


def test_snapshot_schema_is_its_relation_plus_the_scd2_columns(graph) -> None:
    node = graph.get(dg.AssetKey(["snapshots", "snap_policy__vat_rates"]))
    cols = columns(node)
    staging = columns(graph.get(dg.AssetKey(["staging", "stg_policy__vat_rates"])))
    assert list(cols)[: len(staging)] == list(staging)
    assert {"dbt_scd_id", "dbt_valid_from", "dbt_valid_to", "dbt_updated_at"} <= set(cols)


def test_other_assets_carry_their_table_schema(graph) -> None:
    from orchestration.defs.alerts.store import ALERT_EVENTS_COLUMNS
    from orchestration.defs.forecast.tables import DEMAND_COLUMNS

    demand = columns(graph.get(dg.AssetKey(["forecast", "demand_forecast"])))
    assert list(demand) == list(DEMAND_COLUMNS)
    assert demand["sku"].type == "VARCHAR" and demand["sku"].constraints.nullable is False
    assert demand["candidate_model"].constraints.nullable is True
    alerts = columns(graph.get(dg.AssetKey(["alerts", "freight_spike_alerts"])))
    assert list(alerts) == list(ALERT_EVENTS_COLUMNS)
    assert alerts["alert_id"].constraints.unique is True


def test_table_schema_parses_constraints() -> None:
    schema = table_schema({"a": "INTEGER PRIMARY KEY", "b": "DATE NOT NULL", "c": "JSON"}, {"c": "payload"})
    a, b, c = schema.columns
    assert (a.type, a.constraints.nullable, a.constraints.unique) == ("INTEGER", False, True)
    assert (b.type, b.constraints.nullable, b.constraints.unique) == ("DATE", False, False)
    assert (c.type, c.constraints.nullable, c.description) == ("JSON", True, "payload")


def test_freshness_policies_follow_each_source_cadence(graph) -> None:
    for table in RAW_TABLES.values():
        policy = graph.get(dg.AssetKey(["raw", table.name])).freshness_policy
        if table.cadence == "daily":
            assert type(policy).__name__ == "CronFreshnessPolicy", table.name
            assert (policy.deadline_cron, policy.lower_bound_delta) == (FRESH_BY_CRON, dt.timedelta(hours=24))
        elif table.cadence == "weekly":
            assert type(policy).__name__ == "CronFreshnessPolicy", table.name
            assert (policy.deadline_cron, policy.lower_bound_delta) == (WEEKLY_FRESH_BY_CRON, dt.timedelta(days=1))
        else:
            assert type(policy).__name__ == "TimeWindowFreshnessPolicy", table.name
            assert policy.fail_window.to_timedelta() == dt.timedelta(days=7)
    cadences = {t.cadence for t in RAW_TABLES.values()}
    assert cadences == {"daily", "weekly", "snapshot"}  # every branch above was exercised


def test_daily_products_are_due_by_the_morning(graph) -> None:
    for node in nodes(graph):
        if node.group_name in {"selection", "service", "risk", "forecast", "alerts", "publish"}:
            policy = node.freshness_policy
            assert type(policy).__name__ == "CronFreshnessPolicy", node.key.to_user_string()
            assert policy.deadline_cron == FRESH_BY_CRON
        elif node.group_name in {"staging", "intermediate"}:
            assert node.freshness_policy is None  # views: nothing to be fresh


def test_partitions_on_the_daily_raw_tables(graph) -> None:
    for table in RAW_TABLES.values():
        node = graph.get(dg.AssetKey(["raw", table.name]))
        assert (node.partitions_def is not None) == table.daily_partitioned, table.name


def test_every_step_opening_the_warehouse_is_in_the_warehouse_pool(graph) -> None:
    """Assets and checks alike: DuckDB allows no second process beside a writer."""
    defs_seen = 0
    for assets_def in graph.assets_defs:
        if not assets_def.is_executable:
            continue
        uses_warehouse = "warehouse" in assets_def.required_resource_keys
        name = assets_def.node_def.name
        if uses_warehouse:
            defs_seen += 1
            assert assets_def.op.pool == WAREHOUSE_POOL, name
        else:
            assert assets_def.op.pool is None, name  # upstream_gates, Data Docs: no warehouse, no slot
    assert defs_seen >= len(RAW_TABLES) + 1 + 2 + 8 + 1  # ingest, dbt, forecasts, alerts, publish (+ checks)
