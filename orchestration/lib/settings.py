"""One typed settings object for the whole pipeline.

Values come, highest priority first, from environment variables (``TRADEWINDS_`` prefix,
``__`` between nested names, e.g. ``TRADEWINDS_THRESHOLDS__FREIGHT_SPIKE_WOW_PCT=30``), then
from a TOML file (``TRADEWINDS_SETTINGS`` names it; ``tradewinds.toml`` in the working
directory is used when present), then from the defaults below. With no file and no
environment at all, everything runs in sample mode under ``./data``.

Secrets (API tokens, SMTP passwords, routing keys) are never stored here: settings hold
the *name* of the environment variable that carries the secret.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SourceMode = Literal["sample", "file", "http"]

#: The repository root (the package is installed editable from it).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SourceSettings(BaseModel):
    """How one source family (or, under ``tables``, one of its tables) is fetched into the landing folder.

    The connectors and their options are described in ``orchestration/defs/ingest/config.py``.
    """

    mode: SourceMode = "sample"
    # file mode: folder holding <table>/<YYYY-MM-DD>.csv and <table>/snapshot.csv (landing layout),
    # or, with a format other than 'canonical', the export file or the folder sellers drop exports in
    path: Path | None = None
    # http mode: URL of the API endpoint or document
    url: str | None = None
    # What the fetched data looks like: canonical (the landing layout), amazon_all_orders,
    # shopify_orders_csv, mapping, shopify_orders (REST), ibericode, uk_tariff, climatiq, ...
    # None: 'canonical' in file mode, the table's own API format in http mode.
    format: str | None = None
    # Name of the environment variable holding a bearer token or API key (never the secret itself).
    token_env: str | None = None
    # Send the token in this header (e.g. X-Shopify-Access-Token) instead of 'Authorization: Bearer'.
    auth_header: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    # Per-table overrides of the fields above, e.g. sources.platform.tables.orders.
    tables: dict[str, SourceSettings] = Field(default_factory=dict)


class SampleSettings(BaseModel):
    """The embedded sample-data generator."""

    seed: int = 42
    scale: float = 1.0
    # Last day with data. Default: yesterday (UTC), so the nightly schedule always finds data.
    end_date: dt.date | None = None
    history_days: int = 730
    # Freight and carbon-price history start (covers the 2021 peak and the 2024 Red Sea spike).
    freight_start: dt.date = dt.date(2019, 1, 7)

    @field_validator("scale")
    @classmethod
    def _positive_scale(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"sample.scale must be > 0, got {v}")
        return v

    def resolved_end_date(self) -> dt.date:
        return self.end_date or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))

    def resolved_start_date(self) -> dt.date:
        return self.resolved_end_date() - dt.timedelta(days=self.history_days - 1)


class Thresholds(BaseModel):
    """Alert and gate thresholds (defaults from the domain brief)."""

    freight_spike_wow_pct: float = 25.0
    freight_spike_zscore: float = 3.0
    freight_spike_critical_pct: float = 100.0
    transit_delay_hours: float = 48.0
    policy_window_days: int = 30
    add_to_cart_surge_rate: float = 0.40
    add_to_cart_surge_days: int = 7
    first_response_sla_hours: float = 24.0
    csat_drop_points: float = 10.0
    return_rate_multiple: float = 2.0
    supplier_concentration_share: float = 0.80
    # Critical levels and minimum evidence of the alert rules (orchestration/defs/alerts/rules.py).
    transit_delay_critical_hours: float = 168.0
    # Shipments that arrived late count for their lane this many days after arrival.
    transit_delay_lookback_days: int = 14
    policy_critical_days: int = 7
    # Stock-out critical when on-hand plus inbound covers less than this share of lead-time demand.
    stockout_critical_coverage: float = 0.5
    # First response critical when this share of tickets breaches the SLA (0.5: the median is over it).
    first_response_critical_breach_share: float = 0.5
    csat_drop_critical_points: float = 20.0
    # Service rules judge a market or channel only with at least this many tickets (rated, for CSAT) per window.
    service_min_tickets: int = 20
    # The return-rate rule judges a SKU x market only with at least this many units sold in 90 days.
    return_rate_min_units: int = 20
    # Quality gates: row count of a load within this fraction of the median of the previous loads;
    # of a mart, of its rows at the latest earlier evaluation whose lower band held (after 4 of the
    # last 7 under their band, a lasting drop: the median of those 7; checks.mart_baseline).
    row_count_band: float = 0.5


class ForecastSettings(BaseModel):
    top_series: int = 20
    horizon_days: int = 90
    freight_horizon_weeks: int = 12
    uncertainty_samples: int = 0
    seed: int = 7
    # Also give their own model to every SKU x market series needed to reach this share of the
    # 90-day revenue (0: top_series alone decides). The rest are forecast per category x market.
    top_revenue_share: float = 0.0
    # Processes fitting series in parallel (None: one per CPU; 1: inside the run's process).
    workers: int | None = None
    # How the worker processes start. forkserver: one server process imports Prophet once (the
    # nightly starts it when the dbt build is done) and forks each worker from it, ready;
    # spawn: each worker starts a fresh interpreter and imports Prophet itself (~2.5 s).
    mp_start_method: Literal["spawn", "forkserver"] = "forkserver"
    backtest_origins: int = 2
    # Demand series are backtested again every this many nights, each on its own night of the
    # cycle; in between the last verdict stands and only the final fit runs (1: every night).
    backtest_every_days: int = Field(default=7, ge=1)
    freight_backtest_origins: int = 3
    history_days: int = 730
    freight_history_weeks: int = 156
    min_days_with_sales: int = 28
    # Average days per day with sales above which demand is modelled in weekly buckets.
    intermittent_adi: float = 1.32
    # Top series plotted (actual vs forecast) on the assets and under <data_dir>/forecast/plots.
    plot_series: int = 6


class ChannelSettings(BaseModel):
    """One notification channel. Secrets come from the named environment variables."""

    kind: Literal["outbox", "webhook", "slack", "email", "pagerduty"]
    url: str | None = None
    # Environment variable holding the URL instead (a Slack webhook URL carries its token).
    url_env: str | None = None
    path: Path | None = None
    # CA bundle (PEM) to verify the HTTPS or STARTTLS server with, instead of the system's.
    ca_file: Path | None = None
    # e-mail
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user_env: str | None = None
    smtp_password_env: str | None = None
    mail_from: str | None = None
    mail_to: list[str] = Field(default_factory=list)
    # PagerDuty
    routing_key_env: str | None = None


class Route(BaseModel):
    """Send alerts whose rule matches (``*`` = any) at or above a severity to channels."""

    rule: str = "*"
    min_severity: Literal["info", "warning", "critical"] = "info"
    channels: list[str] = Field(default_factory=lambda: ["outbox"])


class NotifierSettings(BaseModel):
    channels: dict[str, ChannelSettings] = Field(default_factory=lambda: {"outbox": ChannelSettings(kind="outbox")})
    routes: list[Route] = Field(default_factory=lambda: [Route()])
    # Delivery: attempts per message and run, exponential backoff between them, timeout per attempt.
    # A message still failing is kept and retried on the next run.
    attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=30.0, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0)


class DuckDBSettings(BaseModel):
    """DuckDB limits for every connection of the pipeline and of dbt (None: DuckDB's defaults)."""

    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    # GX validates at most this many rows in memory at a time (pandas frames), chunk by chunk.
    validation_chunk_rows: int = Field(default=1_000_000, ge=10_000)


class DbtSettings(BaseModel):
    """Where the dbt marts are built: a target of dbt_project/profiles.yml.

    ``duckdb`` (default): the warehouse file. ``spark``: Apache Spark (pyspark local mode; the
    ``spark_thrift`` / ``spark_databricks`` targets reach a cluster), reading the raw tables
    from the Parquet folders under ``raw_parquet_path`` (default ``<data_dir>/spark/raw``). On
    ``spark`` the dbt asset exports them from the warehouse's ``raw`` schema before each build;
    on a cluster target ``raw_parquet_path`` is the lake's raw zone, written by its ingest.
    """

    target: str = "duckdb"
    # A folder, or on a cluster target a URI the cluster reads (s3://..., abfss://...).
    raw_parquet_path: str | None = None
    spark_warehouse_path: Path | None = None
    # dagster-dbt writes each build's artifacts (manifest, compiled SQL, run_results.json, logs;
    # ~30 MB) to dbt_project/target/dbt_models-<run>-<id>: the newest this many are kept.
    keep_invocations: int = Field(default=7, ge=1)
    # dbt nodes run at once (dbt's `threads`). More than the cores: much of a node is dbt's own
    # Python (compiling, bookkeeping) that can overlap another node's query. Measured at SF 10:
    # a one-day build 17.4-20.6 s with 4 against 20.1-20.2 s with 2 (within this machine's
    # noise), a full refresh 71.1 s against 71.7 s. DuckDB's threads per query are
    # duckdb.threads; its memory limit bounds all the nodes together.
    threads: int = Field(default=4, ge=1)
    # Level of the dbt.log each build writes beside its run_results.json (dbt's --log-level-file).
    # dbt's default, debug, logs every SQL statement of every node: at SF 10 a one-day build spent
    # ~4 s of its threads' time writing it. "debug" when chasing a dbt problem; the run's Dagster
    # log has every node's result at any level.
    log_level_file: Literal["debug", "info", "warn", "error", "none"] = "info"
    # Leave out of the nightly build the models, seeds, snapshots and data tests whose inputs are
    # as their last build in this warehouse found them (orchestration/defs/transform/unchanged.py):
    # a one-day night does not rebuild the views over the VAT, duty or emission tables that did not
    # change. false: build everything (the night after raw rows were changed by hand).
    skip_unchanged: bool = True


class PublishSettings(BaseModel):
    """The BI publication (``orchestration/defs/publish``) under ``publish_path``."""

    # Releases kept under <published>/releases: the current one and the one before it at least,
    # since a reader may still hold the previous night open while the switch happens.
    keep_releases: int = Field(default=3, ge=2)


class Settings(BaseSettings):
    """Everything configurable about a Tradewinds deployment."""

    model_config = SettingsConfigDict(
        env_prefix="TRADEWINDS_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path("data")
    warehouse_path: Path | None = None
    landing_path: Path | None = None
    outbox_path: Path | None = None
    publish_path: Path | None = None
    webserver_base_url: str = "http://127.0.0.1:3000"
    reporting_currency: str = "USD"

    sources: dict[str, SourceSettings] = Field(
        default_factory=lambda: {f: SourceSettings() for f in ("platform", "freight", "policy", "carbon")}
    )
    sample: SampleSettings = Field(default_factory=SampleSettings)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    notifiers: NotifierSettings = Field(default_factory=NotifierSettings)
    duckdb: DuckDBSettings = Field(default_factory=DuckDBSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    dbt: DbtSettings = Field(default_factory=DbtSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # Derived paths: everything defaults to a folder under data_dir.
    @property
    def warehouse(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse.duckdb"

    @property
    def landing(self) -> Path:
        return self.landing_path or self.data_dir / "landing"

    @property
    def outbox(self) -> Path:
        return self.outbox_path or self.data_dir / "outbox" / "alerts.jsonl"

    @property
    def raw_parquet(self) -> Path:
        return Path(self.dbt.raw_parquet_path) if self.dbt.raw_parquet_path else self.data_dir / "spark" / "raw"

    @property
    def spark_warehouse(self) -> Path:
        return self.dbt.spark_warehouse_path or self.data_dir / "spark" / "warehouse"

    @property
    def published(self) -> Path:
        return self.publish_path or self.data_dir / "published"

    def source(self, family: str) -> SourceSettings:
        return self.sources.get(family) or SourceSettings()


def settings_file() -> Path | None:
    """The TOML settings file in force, or None. A named file that is missing is an error."""
    named = os.environ.get("TRADEWINDS_SETTINGS")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(
                f"TRADEWINDS_SETTINGS names {path}, which does not exist: create it or unset the variable"
            )
        return path
    default = Path("tradewinds.toml")
    return default if default.is_file() else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
