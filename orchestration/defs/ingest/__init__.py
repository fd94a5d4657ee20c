"""Ingest domain: platform, freight, policy and carbon sources into ``raw.*``."""

import dagster as dg

from orchestration.defs.ingest.assets import build_ingest_assets


def build_defs(column_docs: dict[str, dict[str, str]] | None = None) -> dg.Definitions:
    """``column_docs``: ``{table: {column: description}}`` (the dbt sources' column docs)."""
    return dg.Definitions(assets=build_ingest_assets(column_docs))
