"""Settings: defaults without any file, TOML file, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestration.lib.settings import Settings, get_settings


def test_defaults_run_in_sample_mode_without_a_file():
    s = get_settings()
    assert all(s.source(f).mode == "sample" for f in ("platform", "freight", "policy", "carbon"))
    assert s.warehouse == Path("data/warehouse.duckdb")
    assert s.thresholds.freight_spike_wow_pct == 25
    assert s.notifiers.routes[0].channels == ["outbox"]


def test_toml_file_then_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path / "tw.toml"
    cfg.write_text(
        'data_dir = "/srv/tw"\n[thresholds]\nfreight_spike_wow_pct = 30\ntransit_delay_hours = 72\n'
        '[sources.freight]\nmode = "file"\npath = "/drops/freight"\n'
    )
    monkeypatch.setenv("TRADEWINDS_SETTINGS", str(cfg))
    monkeypatch.setenv("TRADEWINDS_THRESHOLDS__TRANSIT_DELAY_HOURS", "48")
    s = Settings()
    assert s.warehouse == Path("/srv/tw/warehouse.duckdb")
    assert s.thresholds.freight_spike_wow_pct == 30
    assert s.thresholds.transit_delay_hours == 48
    assert s.source("freight").mode == "file"
    assert s.source("platform").mode == "sample"


def test_missing_named_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TRADEWINDS_SETTINGS", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        Settings()


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRADEWINDS_SAMPLE__SCALE", "-1")
    with pytest.raises(ValidationError, match="scale"):
        Settings()
    monkeypatch.delenv("TRADEWINDS_SAMPLE__SCALE")
    monkeypatch.setenv("TRADEWINDS_SOURCES__FREIGHT__MODE", "ftp")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("TRADEWINDS_SOURCES__FREIGHT__MODE")
    monkeypatch.setenv("TRADEWINDS_DUCKDB__THREADS", "0")  # DuckDB refuses SET threads = 0 mid-run
    with pytest.raises(ValidationError, match="threads"):
        Settings()
