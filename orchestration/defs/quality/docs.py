"""GX Data Docs as an asset of the nightly run: rebuilt once the marts passed their gates.

On a night a gate fails, the asset does not run (it is downstream of the gated marts); the
on-call page for the failed gate rebuilds the docs instead (``rebuild_data_docs_quietly``),
so the failure is in the docs the page links to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from orchestration.lib.catalog import OWNERS

DATA_DOCS_KEY = dg.AssetKey(["quality", "gx_data_docs"])
QUALITY_GROUP = "quality"

log = logging.getLogger(__name__)


def data_docs_index() -> Path:
    """Where the site's index is: ``<data_dir>/gx/data_docs/index.html``."""
    from orchestration.defs.quality.validation import gx_dirs

    return gx_dirs()[1] / "index.html"


def rebuild_data_docs_quietly() -> Path | None:
    """Build the Data Docs; log and return None instead of raising (paging must not fail on docs)."""
    from orchestration.defs.quality.validation import build_data_docs, gx_dirs

    try:
        return build_data_docs(gx_dirs()[1])
    except Exception as exc:  # noqa: BLE001 - best effort, reported in the log
        log.warning("GX Data Docs could not be built: %s: %s", type(exc).__name__, exc)
        return None


def build_data_docs_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=DATA_DOCS_KEY,
        group_name=QUALITY_GROUP,
        deps=list(deps),
        kinds={"great_expectations", "html"},
        owners=[OWNERS["quality"]],
        description=(
            "GX Data Docs of the night: every suite and the validation results of the last 30 days, rendered to "
            "<data_dir>/gx/data_docs/index.html (also: python -m orchestration.defs.quality docs)."
        ),
    )
    def gx_data_docs(context) -> dg.MaterializeResult:  # context: AssetExecutionContext
        from orchestration.defs.quality.validation import build_data_docs, gx_dirs

        index = build_data_docs(gx_dirs()[1])
        context.log.info(f"GX Data Docs: {index.as_uri()}")
        return dg.MaterializeResult(
            metadata={"index": dg.MetadataValue.path(str(index)), "url": dg.MetadataValue.url(index.as_uri())}
        )

    return gx_data_docs
