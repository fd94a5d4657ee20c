"""Transform domain: the dbt project (dbt-duckdb) as Dagster assets.

dbt sources map onto the ingest assets (``raw/<table>``), models onto ``<schema>/<model>``
with the group taken from the folder they live in (``staging``, ``intermediate``,
``selection``, ``service``, ``risk``), and dbt tests show as asset checks.
"""

import json
import os
import shutil
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import PROJECT_ROOT, Settings, get_settings
from orchestration.lib.warehouse import RAW_SCHEMA, WarehouseResource

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "reference")


class TradewindsTranslator(DagsterDbtTranslator):
    """Keys and groups derived from dbt metadata, never from hard-coded model names."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([RAW_SCHEMA, dbt_resource_props["name"]])
        return dg.AssetKey([model_schema(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return group_from_path(dbt_resource_props.get("original_file_path", ""))

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:analytics-engineering"]


def model_schema(props: Mapping[str, Any]) -> str:
    """The warehouse schema of a model: its configured schema, else its top folder."""
    schema = props.get("config", {}).get("schema") or props.get("schema")
    if schema in MODEL_SCHEMAS:
        return schema
    fqn = props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else "main"


def group_from_path(path: str) -> str | None:
    """``models/marts/risk/x.sql`` -> ``risk``; ``models/staging/platform/x.sql`` -> ``staging``;
    seeds (markets, FX-free reference lists) -> ``reference``."""
    parts = path.split("/")
    if parts[0] == "seeds":
        return "reference"
    if len(parts) < 3 or parts[0] != "models":
        return None
    if parts[1] == "marts" and len(parts) > 3:
        return parts[2]
    return parts[1]


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The thresholds dbt models read as vars, from the one settings object."""
    t = settings.thresholds
    return {
        "freight_spike_wow_pct": t.freight_spike_wow_pct,
        "freight_spike_zscore": t.freight_spike_zscore,
        "freight_spike_critical_pct": t.freight_spike_critical_pct,
        "first_response_sla_hours": t.first_response_sla_hours,
        "transit_delay_hours": t.transit_delay_hours,
        "supplier_concentration_share": t.supplier_concentration_share,
        "add_to_cart_surge_rate": t.add_to_cart_surge_rate,
        "add_to_cart_surge_days": t.add_to_cart_surge_days,
        "tickets_restatement_days": RAW_TABLES["tickets"].restatement_days,
        "reporting_currency": settings.reporting_currency,
    }


def build_dbt_args(settings: Settings) -> list[str]:
    """The dbt command line of the nightly build (pure, unit-tested)."""
    return ["build", "--vars", json.dumps(dbt_vars(settings), sort_keys=True)]


def dbt_executable() -> str:
    """dbt from PATH, else the one installed beside this interpreter (``.venv/bin/dbt``).

    ``.venv/bin/tradewinds`` runs without the venv activated; dagster-dbt's preparer looks
    for ``dbt`` on PATH, so the interpreter's bin folder is appended to PATH when needed.
    """
    found = shutil.which("dbt")
    if found:
        return found
    bin_dir = os.path.dirname(sys.executable)
    candidate = os.path.join(bin_dir, "dbt")
    if not os.path.exists(candidate):
        raise FileNotFoundError(f"dbt is not installed: neither on PATH nor at {candidate}; run ./run setup")
    os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + bin_dir
    return candidate


@lru_cache(maxsize=1)
def dbt_project() -> DbtProject:
    """The one cached DbtProject; its manifest is prepared when missing (a dbt parse)."""
    dbt_executable()
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=get_settings().dbt.target)
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    else:
        project.prepare_if_dev()
    return project


def build_defs() -> dg.Definitions:
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=TradewindsTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=False)
        ),
        name="dbt_models",
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        # dbt runs in its own process; its profile reads the warehouse path from the environment.
        settings = get_settings()
        os.environ["TRADEWINDS_WAREHOUSE"] = str(os.path.abspath(warehouse.path))
        if warehouse.threads:
            os.environ["TRADEWINDS_DBT_THREADS"] = str(warehouse.threads)
        if settings.dbt.target == "spark":
            prepare_spark_build(settings, warehouse.path, context.log)
        elif settings.dbt.raw_parquet_path:
            os.environ["TRADEWINDS_RAW_PARQUET"] = settings.dbt.raw_parquet_path
        yield from dbt.cli(build_dbt_args(settings), context=context).stream()
        if settings.dbt.target == "spark":
            expose_spark_marts(settings, warehouse.path, context)

    return dg.Definitions(
        assets=[dbt_models],
        resources={
            "dbt": DbtCliResource(
                project_dir=project, dbt_executable=dbt_executable(), target=get_settings().dbt.target
            )
        },
    )


def expose_spark_marts(settings: Settings, warehouse_path: str, context: dg.AssetExecutionContext) -> None:
    """After a build on the local ``spark`` target: the marts it built become views of the
    warehouse over their Parquet files, for the steps after dbt that read the warehouse."""
    from orchestration.lib.spark_raw import expose_spark_tables

    marts = sorted(key.path[-1] for key in context.selected_asset_keys if len(key.path) == 2 and key.path[0] == "marts")
    if marts:
        expose_spark_tables(Path(warehouse_path), settings.spark_warehouse.absolute(), "marts", marts)
        context.log.info(f"{len(marts)} Spark marts exposed as views in the warehouse")


def prepare_spark_build(settings: Settings, warehouse_path: str, log: Any) -> None:
    """Before a build on the local ``spark`` target: the raw zone (Parquet per raw table)
    exported from the warehouse the ingest assets loaded, and the paths dbt's profile reads. On
    a cluster target the cluster's ingest writes the raw zone (``dbt.raw_parquet_path``)."""
    from orchestration.lib.spark_raw import export_raw_parquet

    raw = settings.raw_parquet.absolute()
    counts = export_raw_parquet(Path(warehouse_path), raw)
    log.info(f"raw zone for Spark: {len(counts)} tables, {sum(counts.values())} rows -> {raw}")
    os.environ["TRADEWINDS_RAW_PARQUET"] = str(raw)
    os.environ["TRADEWINDS_SPARK_WAREHOUSE"] = str(settings.spark_warehouse.absolute())
