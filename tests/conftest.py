"""Shared fixtures: a temporary Tradewinds deployment on a small sample.

Settings are read from the environment (``TRADEWINDS_*``); each fixture that changes them
clears the cached settings so the code under test sees the new values.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.lib.settings import get_settings

# A fixed end date keeps every test run on identical sample data.
SAMPLE_END = dt.date(2025, 6, 30)
SAMPLE_ENV = {
    "TRADEWINDS_SAMPLE__SCALE": "0.01",
    "TRADEWINDS_SAMPLE__SEED": "42",
    "TRADEWINDS_SAMPLE__END_DATE": SAMPLE_END.isoformat(),
    "TRADEWINDS_SAMPLE__HISTORY_DAYS": "400",
    # Freight history from 2023 covers the 2024 Red Sea spike while keeping tests fast.
    "TRADEWINDS_SAMPLE__FREIGHT_START": "2023-01-02",
    "TRADEWINDS_FORECAST__TOP_SERIES": "3",
}


@pytest.fixture(autouse=True)
def _no_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Tests never pick up a developer's tradewinds.toml or a DAGSTER_HOME."""
    monkeypatch.delenv("TRADEWINDS_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def apply_env(env: dict[str, str]) -> dict[str, str | None]:
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for k, v in previous.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


def use_file_export(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, family: str, table: str) -> None:
    """``family.table`` read from a file export under tmp_path/export/<table>, the data under tmp_path/data."""
    monkeypatch.setenv("TRADEWINDS_DATA_DIR", str(tmp_path / "data"))
    prefix = f"TRADEWINDS_SOURCES__{family.upper()}__TABLES__{table.upper()}__"
    monkeypatch.setenv(prefix + "MODE", "file")
    monkeypatch.setenv(prefix + "PATH", str(tmp_path / "export"))
    get_settings.cache_clear()


@pytest.fixture
def sample_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings pointing at a fresh data dir under tmp_path with the small sample."""
    data = tmp_path / "data"
    for k, v in {**SAMPLE_ENV, "TRADEWINDS_DATA_DIR": str(data)}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    return data
