"""Ingest domain: platform, freight, policy and carbon sources into ``raw.*``."""

import dagster as dg

from orchestration.defs.ingest.assets import build_ingest_assets


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=build_ingest_assets())
