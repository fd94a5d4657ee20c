"""Publish domain: write-audit-publish of the marts and forecast tables for BI readers.

``build_defs(asset_graph)`` builds the publish asset over the gated marts and every asset of
the ``forecast`` group found in the graph of the other domains, refusing while any gate
upstream of them fails. Release layout and the atomic switch: ``release.py``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.defs.publish.assets import PUBLISH_GROUP, PUBLISH_KEY, build_publish_asset, run_as_of
from orchestration.defs.publish.release import (
    CURRENT,
    CURRENT_MANIFEST,
    RELEASES,
    VIEWS_FILE,
    PublishError,
    Release,
    current_release,
    prune_releases,
    publish_release,
    read_current_manifest,
    switch_current,
)

FORECAST_GROUP = "forecast"


def published_tables(asset_graph: Any) -> list[dg.AssetKey]:
    """The gated marts, then every warehouse table of the forecast group (``forecast/<table>``, kind duckdb)."""
    from orchestration.defs.quality import MART_TABLES

    marts = [dg.AssetKey(["marts", m]) for m in MART_TABLES]
    forecasts = sorted(
        (
            k
            for k in asset_graph.materializable_asset_keys
            if asset_graph.get(k).group_name == FORECAST_GROUP
            and len(k.path) == 2
            and "duckdb" in (asset_graph.get(k).kinds or set())
        ),
        key=lambda k: k.to_user_string(),
    )
    return [k for k in marts if asset_graph.has(k)] + forecasts


def build_defs(asset_graph: Any) -> dg.Definitions:
    """The publish asset for the assets of ``asset_graph`` (the other domains, merged)."""
    from orchestration.defs.quality.gating import gates_upstream_of

    tables = published_tables(asset_graph)
    gates = gates_upstream_of(asset_graph, tables, include_own=True)
    return dg.Definitions(assets=[build_publish_asset(tables, gates)])


__all__ = [
    "CURRENT",
    "CURRENT_MANIFEST",
    "PUBLISH_GROUP",
    "PUBLISH_KEY",
    "RELEASES",
    "VIEWS_FILE",
    "PublishError",
    "Release",
    "build_defs",
    "build_publish_asset",
    "current_release",
    "prune_releases",
    "publish_release",
    "published_tables",
    "read_current_manifest",
    "run_as_of",
    "switch_current",
]
