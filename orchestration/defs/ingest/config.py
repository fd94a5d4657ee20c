"""Which connector fetches a raw table, with what options: the settings of one source, resolved.

A family's settings (``sources.<family>``) apply to each of its tables unless the table has its
own (``sources.<family>.tables.<table>``; fields set there win, ``options`` are merged). The
``options`` dict is validated here, so a typo fails before any fetch with the settings key named.

Connectors (mode x format) and the tables they serve:

============  ==================================  =====================================================
mode          format                              tables
============  ==================================  =====================================================
sample        (none)                              every table (embedded generator / bundled reference)
file          canonical (default)                 every table: ``<path>/<table>/<day>.csv``, ``snapshot.csv``
file          mapping                             every table: the seller's own CSV/Parquet + column map
file          amazon_all_orders                   orders: Amazon "All Orders Report" flat files (TSV)
file          shopify_orders_csv                  orders: Shopify admin "Export orders" CSV
http          shopify_orders (default, orders)    orders: Admin REST ``orders.json``, Link pagination
http | file   rate_index (default, freight_rates) freight_rates: JSON pages (page number) or CSV
http | file   ibericode (default, vat_rates)      vat_rates: ibericode/vat-rates ``vat-rates.json``
http | file   uk_tariff (default, duty_rates)     duty_rates: UK Global Tariff CSV (UKGT + EU CET)
http | file   events_json (default, reg. events)  regulatory_events: JSON list of events
http | file   climatiq (default, emission f.)     emission_factors: Climatiq / BEIS CSV
http | file   price_series (default, carbon pr.)  carbon_prices: JSON pages (next token) or CSV
============  ==================================  =====================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from orchestration.lib.http import Auth, HttpOptions
from orchestration.lib.schemas import RawTable
from orchestration.lib.settings import Settings, SourceSettings

IBERICODE_URL = "https://raw.githubusercontent.com/ibericode/vat-rates/master/vat-rates.json"

#: The API / document format of each table in http mode when the settings name none.
HTTP_FORMATS: dict[str, str] = {
    "orders": "shopify_orders",
    "freight_rates": "rate_index",
    "vat_rates": "ibericode",
    "duty_rates": "uk_tariff",
    "regulatory_events": "events_json",
    "emission_factors": "climatiq",
    "carbon_prices": "price_series",
}
#: Formats each table accepts besides 'canonical' and 'mapping' (file mode).
TABLE_FORMATS: dict[str, set[str]] = {
    "orders": {"amazon_all_orders", "shopify_orders_csv", "shopify_orders"},
    **{t: {f} for t, f in HTTP_FORMATS.items() if t != "orders"},
}
#: Formats that can only come over HTTP (paginated APIs).
HTTP_ONLY = {"shopify_orders"}
#: File-drop formats of daily tables: a folder of export files, each ingested once.
DROP_FORMATS = {"amazon_all_orders", "shopify_orders_csv", "mapping"}


class SourceConfigError(ValueError):
    """A source is configured in a way that cannot work; the message says what to fix."""


class MappingOptions(BaseModel):
    """A seller's own export mapped onto the contract (``options.mapping``)."""

    model_config = ConfigDict(extra="forbid")

    # contract column -> column in the export (contract columns with the same name need no entry)
    columns: dict[str, str] = Field(default_factory=dict)
    # strptime format of DATE/TIMESTAMP columns, e.g. '%d/%m/%Y' or '%d.%m.%Y %H:%M'; None = ISO 8601
    date_format: str | None = None
    # fill the currency column with this when the export has none
    currency: str | None = None
    # export column holding the destination country (alias for columns.destination_country)
    country_column: str | None = None
    # fixed values for contract columns the export does not have, e.g. {"marketplace": "own_shop"}
    constants: dict[str, str] = Field(default_factory=dict)
    delimiter: str = ","
    decimal: str = "."  # ',' for exports written with a decimal comma
    file_format: Literal["csv", "parquet"] = "csv"


class ConnectorOptions(BaseModel):
    """``sources.<family>[.tables.<table>].options``."""

    model_config = ConfigDict(extra="forbid")

    http: dict[str, Any] = Field(default_factory=dict)
    mapping: MappingOptions = Field(default_factory=MappingOptions)
    # file-drop connectors: which files in the folder are exports, and their text encoding
    pattern: str | None = None
    encoding: str | None = None  # None = UTF-8 (a BOM is fine); e.g. 'cp1252' for Windows exports
    # a load (or a parse) fails instead of quarantining when more than this share of a file's rows is bad
    max_reject_ratio: float = Field(0.5, ge=0, le=1)
    # REST: records per page, extra query parameters, the overlap subtracted from the cursor
    page_size: int = Field(250, ge=1)
    params: dict[str, str] = Field(default_factory=dict)
    cursor_overlap_seconds: int = Field(600, ge=0)
    # series over HTTP: refetch this many days before the last one fetched (publishers restate)
    restate_days: int = Field(28, ge=0)
    # uk_tariff: also write the generated (not real) schedules of markets without a tariff file
    generated_duty_markets: bool = True
    # rate_index: lane -> distance in km for lanes whose records carry none
    lane_distances_km: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class TableSource:
    """The resolved source of one raw table."""

    table: RawTable
    mode: str
    format: str
    path: Path | None
    url: str | None
    token_env: str | None
    auth_header: str | None
    options: ConnectorOptions
    settings_key: str  # e.g. 'sources.platform.tables.orders', for error messages

    @property
    def label(self) -> str:
        return f"{self.table.family}.{self.table.name}"

    @property
    def connector(self) -> str:
        return f"{self.table.family}/{self.format if self.mode != 'sample' else 'sample'}"

    def http_options(self) -> HttpOptions:
        """Timeouts, retries and rate limit from ``options.http`` (strings from the environment are converted)."""
        unknown = set(self.options.http) - {f.name for f in dataclasses.fields(HttpOptions)}
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(HttpOptions))
            raise SourceConfigError(
                f"{self.settings_key}.options.http: unknown {', '.join(sorted(unknown))}; known: {known}"
            )
        try:
            return TypeAdapter(HttpOptions).validate_python(self.options.http, strict=False)
        except ValidationError as exc:
            raise SourceConfigError(f"{self.settings_key}.options.http: {exc}") from exc

    def auth(self) -> Auth | None:
        return Auth(self.token_env, self.auth_header) if self.token_env else None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(settings: Settings, table: RawTable) -> TableSource:
    """The source of ``table``: the family settings overridden by ``tables.<table>``, validated."""
    family = settings.source(table.family)
    over: SourceSettings | None = family.tables.get(table.name)
    key = f"sources.{table.family}" + (f".tables.{table.name}" if over is not None else "")
    fields: dict[str, Any] = {
        f: getattr(family, f) for f in ("mode", "path", "url", "format", "token_env", "auth_header")
    }
    options = dict(family.options)
    if over is not None:
        for f in over.model_fields_set - {"options", "tables"}:
            fields[f] = getattr(over, f)
        options = _merge(options, over.options)
        if over.tables:
            raise SourceConfigError(f"{key}.tables: tables cannot be nested")
    unknown = set(family.tables) - {t for t in _table_names()}
    if unknown:
        raise SourceConfigError(f"sources.{table.family}.tables: no raw table named {', '.join(sorted(unknown))}")
    try:
        opts = ConnectorOptions(**options)
    except ValidationError as exc:
        raise SourceConfigError(f"{key}.options: {exc}") from exc
    mode = fields["mode"]
    fmt = fields["format"]
    if mode == "sample":
        fmt = "sample"
    elif mode == "file":
        fmt = fmt or "canonical"
    else:
        fmt = fmt or HTTP_FORMATS.get(table.name)
        if fmt is None:
            raise SourceConfigError(
                f"{table.family}.{table.name} has no HTTP connector; set {key.split('.tables')[0]}.tables."
                f"{table.name}.mode to 'file' (an export in the landing layout or with a mapping) or 'sample'"
            )
    if mode != "sample" and fmt not in {"canonical", "mapping"} | TABLE_FORMATS.get(table.name, set()):
        allowed = sorted({"canonical", "mapping"} | TABLE_FORMATS.get(table.name, set()))
        raise SourceConfigError(
            f"{key}.format = {fmt!r} cannot feed {table.family}.{table.name}; choose one of {', '.join(allowed)}"
        )
    if mode == "file" and fmt in HTTP_ONLY:
        raise SourceConfigError(f"{key}: format {fmt!r} is an API; set mode = 'http' and url")
    if mode == "http" and fmt in {"canonical", "mapping"} | DROP_FORMATS:
        raise SourceConfigError(f"{key}: format {fmt!r} is read from files; set mode = 'file' and path")
    url = fields["url"]
    if mode == "http" and not url:
        if fmt == "ibericode":
            url = IBERICODE_URL
        else:
            env = "TRADEWINDS_" + key.upper().replace(".", "__") + "__URL"
            raise SourceConfigError(
                f"{table.family}.{table.name} is in http mode but has no URL: set {key}.url (or {env})"
            )
    if mode == "file" and fields["path"] is None:
        env = "TRADEWINDS_" + key.upper().replace(".", "__") + "__PATH"
        raise SourceConfigError(
            f"source '{table.family}' is in file mode but has no path: set {key}.path (or {env}) to the export "
            f"{'folder' if fmt in DROP_FORMATS or fmt == 'canonical' else 'file'}"
        )
    return TableSource(
        table=table,
        mode=mode,
        format=fmt,
        path=Path(fields["path"]) if fields["path"] is not None else None,
        url=url,
        token_env=fields["token_env"],
        auth_header=fields["auth_header"],
        options=opts,
        settings_key=key,
    )


def _table_names() -> list[str]:
    from orchestration.lib.schemas import RAW_TABLES

    return list(RAW_TABLES)
