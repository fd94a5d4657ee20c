"""What `./run setup` leaves behind besides the packages: their bytecode.

The nightly imports Dagster, dbt, GX, pandas and Prophet in every run (and dbt again in its own
process). Without .pyc files, and where Python may not write them (PYTHONDONTWRITEBYTECODE), each
import compiled the source again: about 10 s of every night (README, Performance, round 8).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

# The heavy imports of a night, in the run's process and in the dbt build's.
MODULES = [
    "dagster",
    "dagster_dbt",
    "dbt.cli.main",
    "great_expectations.core.validation_definition",
    "prophet.forecaster",
    "pandas.core.frame",
    "duckdb",
    "orchestration.definitions",
]


@pytest.mark.parametrize("name", MODULES)
def test_installed_modules_have_their_bytecode(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin, name
    source = Path(spec.origin)
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.is_file(), (
        f"{name}: no bytecode at {cached}: `./run setup` installs with `uv pip sync --compile-bytecode` "
        "and compiles the project (compileall); without it every run compiles its imports again"
    )
    assert cached.stat().st_mtime >= source.stat().st_mtime, f"{name}: {cached} is older than {source}"
