"""Parsers: raw fetched bytes (API pages, export files, published documents) -> canonical contract rows.

Every parser returns a :class:`Parsed`: the good rows (contract columns and types), tombstones
(keys a source says are gone, e.g. cancelled orders), the rejected rows with the file or URL,
the line and the reason (they go to ``raw._quarantine``), and the schema drift it saw. Structural
problems that make a whole file unusable (a missing required column, the wrong delimiter, no
header, an encoding that is not the one configured) raise :class:`SchemaDriftError` or
:class:`FileFormatError` naming the source, the file and the fix; nothing is landed then.

Formats and where their layout comes from: ``tests/fixtures/connectors/SOURCE.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from orchestration.lib.schemas import RATE_UNIT_BY_MODE, RAW_TABLES, RawTable


class SchemaDriftError(ValueError):
    """Required columns or fields are missing (or renamed); the message names them, the file and the fix."""


class FileFormatError(ValueError):
    """A file cannot be read at all (encoding, delimiter, no header); the message names the file and the fix."""


class RowError(ValueError):
    def __init__(self, column: str | None, reason: str):
        self.column = column
        super().__init__(reason)


@dataclass
class Parsed:
    """What a parser made of one raw fetch."""

    table: RawTable
    rows: list[dict[str, Any]] = field(default_factory=list)
    tombstones: list[tuple[dt.date, tuple]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    records_in: int = 0
    skipped: int = 0  # records deliberately not loaded (e.g. non-Amazon MCF orders)
    extra_columns: set[str] = field(default_factory=set)
    missing_optional: set[str] = field(default_factory=set)
    max_updated: str | None = None  # highest source update time seen (ISO, UTC) for cursors
    max_partition: dt.date | None = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(self.table.columns))

    def reject(self, origin: str, line: int | None, column: str | None, reason: str, raw: Any) -> None:
        raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str, ensure_ascii=False)
        self.rejects.append(
            {"origin": origin, "line": line, "column_name": column, "reason": reason, "raw_record": raw_text[:4000]}
        )

    def merge(self, other: Parsed) -> None:
        self.rows += other.rows
        self.tombstones += other.tombstones
        self.rejects += other.rejects
        self.records_in += other.records_in
        self.skipped += other.skipped
        self.extra_columns |= other.extra_columns
        self.missing_optional |= other.missing_optional
        if other.max_updated and (self.max_updated is None or other.max_updated > self.max_updated):
            self.max_updated = other.max_updated
        if other.max_partition and (self.max_partition is None or other.max_partition > self.max_partition):
            self.max_partition = other.max_partition

    @property
    def drift(self) -> dict[str, list[str]]:
        return {
            k: sorted(v) for k, v in (("extra", self.extra_columns), ("missing_optional", self.missing_optional)) if v
        }


# ------------------------------------------------------------------------------------ values


def text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def number(v: Any, decimal: str = ".") -> float | None:
    s = text(v)
    if s is None:
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    t = s.replace("\u00a0", "").replace(" ", "")
    if decimal == ",":
        t = t.replace(".", "").replace(",", ".")
    try:
        out = float(t)
    except ValueError:
        raise ValueError(f"unparseable amount {s!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise ValueError(f"unparseable amount {s!r}")
    return out


def integer(v: Any) -> int | None:
    s = text(v)
    if s is None:
        return None
    try:
        f = float(s)
    except ValueError:
        raise ValueError(f"unparseable integer {s!r}") from None
    if f != int(f):
        raise ValueError(f"not a whole number: {s!r}")
    return int(f)


def field_value(column: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with a ValueError turned into a RowError naming the export column."""
    try:
        return fn(*args)
    except ValueError as exc:
        raise RowError(column, f"{column}: {exc}") from None


def timestamp(v: Any, fmt: str | None = None) -> dt.datetime | None:
    """A timestamp as naive UTC (offsets converted; a value without offset is taken as UTC)."""
    s = text(v)
    if s is None:
        return None
    try:
        if fmt:
            ts = dt.datetime.strptime(s, fmt)
        elif "T" in s and (s[-6:-5] in "+-" or s.endswith("Z")):  # ISO 8601 with offset: the fast path
            ts = dt.datetime.fromisoformat(s)
        else:
            t = s.replace(" +", "+").replace(" -", "-").replace("+ ", "+").replace("Z", "+00:00")
            t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)  # +0200 -> +02:00 (Shopify export)
            ts = dt.datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"unparseable date/time {s!r}" + (f" (expected format {fmt})" if fmt else "")) from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.replace(microsecond=0)


def date(v: Any, fmt: str | None = None) -> dt.date | None:
    s = text(v)
    if s is None:
        return None
    if fmt is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        try:
            return dt.date.fromisoformat(s)
        except ValueError:
            raise ValueError(f"unparseable date {s!r}") from None
    ts = timestamp(s, fmt)
    return ts.date() if ts else None


def boolean(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    s = text(v)
    if s is None:
        return None
    low = s.lower()
    if low in ("true", "t", "1", "yes", "y"):
        return True
    if low in ("false", "f", "0", "no", "n"):
        return False
    raise ValueError(f"not a boolean: {s!r}")


def coerce(table: RawTable, rec: dict[str, Any], *, date_format: str | None = None, decimal: str = ".") -> dict:
    """A record with contract column names -> contract types; RowError names the column that failed."""
    out: dict[str, Any] = {}
    for col, typ in table.columns.items():
        v = rec.get(col)
        # already typed by the parser (timestamps converted to UTC, ints, dates): keep as is
        if (typ == "TIMESTAMP" and isinstance(v, dt.datetime)) or (
            typ == "DATE" and isinstance(v, dt.date) and not isinstance(v, dt.datetime)
        ):
            out[col] = v
            continue
        try:
            if typ == "VARCHAR":
                out[col] = text(v)
            elif typ == "DOUBLE":
                out[col] = number(v, decimal)
            elif typ in ("INTEGER", "BIGINT"):
                out[col] = integer(v)
            elif typ == "DATE":
                out[col] = date(v, date_format)
            elif typ == "TIMESTAMP":
                out[col] = timestamp(v, date_format)
            elif typ == "BOOLEAN":
                out[col] = boolean(v)
            else:  # pragma: no cover - the contract uses only the types above
                out[col] = v
        except ValueError as exc:
            raise RowError(col, f"{col}: {exc}") from None
    for col in (*table.primary_key, *table.required):
        if out.get(col) is None:
            raise RowError(col, f"{col}: required value is empty")
    return out


def _partition(table: RawTable, row: dict[str, Any]) -> dt.date | None:
    v = row.get(table.partition_column) if table.partition_column else None
    return v.date() if isinstance(v, dt.datetime) else v


def accept(parsed: Parsed, row: dict[str, Any]) -> None:
    parsed.rows.append(row)
    p = _partition(parsed.table, row)
    if p is not None and (parsed.max_partition is None or p > parsed.max_partition):
        parsed.max_partition = p


# ------------------------------------------------------------------------------- delimited files


def decode(data: bytes, origin: str, encoding: str | None, source: str) -> str:
    enc = encoding or "utf-8"
    try:
        return data.decode("utf-8-sig" if enc.lower().replace("-", "") == "utf8" else enc)
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{source}: {origin} is not {enc} text (byte {data[exc.start : exc.start + 1]!r} at offset {exc.start}); "
            f"set options.encoding to the export's encoding (e.g. 'cp1252' for Windows exports) or re-export it as UTF-8"
        ) from None


def norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def check_header(
    header: list[str],
    required: Iterable[str],
    optional: Iterable[str],
    *,
    source: str,
    origin: str,
    delimiter: str,
    fix: str,
) -> tuple[set[str], set[str]]:
    """Missing required columns raise; returns (extra columns, missing optional columns)."""
    required, optional = list(required), list(optional)
    present = set(header)
    missing = [c for c in required if c not in present]
    extra = present - set(required) - set(optional)
    if missing:
        if len(header) == 1 and any(d in header[0] for d in (",", "\t", ";", "|")):
            found = next(d for d in (",", "\t", ";", "|") if d in header[0])
            raise FileFormatError(
                f"{source}: {origin} is not {_delim_name(delimiter)}-separated (the header is one column that contains "
                f"{_delim_name(found)}s); export it {_delim_name(delimiter)}-separated"
                + (" or set options.mapping.delimiter" if "mapping" in fix else "")
            )
        if not any(c in present for c in [*required, *optional]):
            raise FileFormatError(
                f"{source}: {origin} has no header row with the expected column names (first line: "
                f"{delimiter.join(header)[:120]!r}); the file must start with the export's header ({', '.join(required[:4])}, ...)"
            )
        renamed = []
        for m in missing:
            cands = [e for e in extra if norm(e) == norm(m)] or difflib.get_close_matches(
                m, sorted(extra), n=1, cutoff=0.75
            )
            if cands:
                renamed.append(f"{m!r} -> {cands[0]!r}?")
        raise SchemaDriftError(
            f"{source}: {origin} is missing required column(s) {', '.join(missing)}"
            + (f" (renamed: {', '.join(renamed)})" if renamed else "")
            + (f"; extra column(s): {', '.join(sorted(extra))}" if extra else "")
            + f". {fix}"
        )
    return extra, {c for c in optional if c not in present}


def _delim_name(d: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}.get(d, repr(d))


def read_delimited(
    data: bytes, origin: str, *, delimiter: str, encoding: str | None, source: str
) -> tuple[list[str], list[tuple[int, dict[str, str], str]]]:
    """Header and (line number, record, raw line) of a delimited text file; the header is line 1."""
    txt = decode(data, origin, encoding, source)
    if not txt.strip():
        raise FileFormatError(f"{source}: {origin} is empty (no header, no rows); re-export it")
    reader = csv.reader(io.StringIO(txt, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    lines = txt.splitlines()
    records = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        raw = lines[line - 1] if 0 < line <= len(lines) else delimiter.join(row)
        if len(row) != len(header):
            records.append((line, {"__width__": f"{len(row)} fields, header has {len(header)}"}, raw))
            continue
        records.append((line, dict(zip(header, row, strict=True)), raw))
    return header, records


# ------------------------------------------------------------------------------- orders exports

AMAZON_REQUIRED = ("amazon-order-id", "purchase-date", "order-status", "sales-channel", "sku", "quantity", "currency", "item-price", "ship-country")  # fmt: skip
AMAZON_OPTIONAL = ("merchant-order-id", "last-updated-date", "fulfillment-channel", "order-channel", "ship-service-level", "product-name", "asin", "number-of-items", "item-status", "tax-collection-model", "tax-collection-responsible-party", "item-tax", "shipping-price", "shipping-tax", "gift-wrap-price", "gift-wrap-tax", "item-promotion-discount", "ship-promotion-discount", "address-type", "ship-city", "ship-state", "ship-postal-code", "promotion-ids", "cpf", "is-business-order", "purchase-order-number", "price-designation", "signature-confirmation-recommended")  # fmt: skip


def parse_amazon_all_orders(data: bytes, origin: str, *, source: str, encoding: str | None = None) -> Parsed:
    """Amazon "All Orders Report" flat file (tab-separated, one row per order item) -> orders.

    - ``order_line_id`` = ``<amazon-order-id>:<sku>`` (the report has no order-item id), a second
      row of the same SKU in the same order gets ``:2``;
    - ``unit_price`` = ``item-price / quantity`` (Amazon's amounts are totals of the quantity);
    - ``ordered_at`` = ``purchase-date`` in UTC; ``marketplace`` = ``amazon``;
    - ``Cancelled`` orders are tombstones (their lines are removed from landing if loaded before);
    - ``Non-Amazon`` sales channel rows (multi-channel fulfilment of other shops' orders) are skipped.
    """
    table = RAW_TABLES["orders"]
    parsed = Parsed(table)
    header, records = read_delimited(data, origin, delimiter="\t", encoding=encoding, source=source)
    parsed.extra_columns, _ = check_header(
        header, AMAZON_REQUIRED, AMAZON_OPTIONAL, source=source, origin=origin, delimiter="\t",
        fix="Download the 'All Orders' report (flat file) from Seller Central unchanged, or use format = 'mapping'.",
    )  # fmt: skip
    seen: dict[str, int] = {}
    for line, rec, raw in records:
        parsed.records_in += 1
        if "__width__" in rec:
            parsed.reject(origin, line, None, f"wrong number of fields: {rec['__width__']}", raw)
            continue
        if (rec.get("sales-channel") or "").strip().lower() == "non-amazon":
            parsed.skipped += 1
            continue
        try:
            order_id = text(rec["amazon-order-id"])
            sku = text(rec["sku"])
            if order_id is None or sku is None:
                raise RowError("amazon-order-id" if order_id is None else "sku", "order id or sku is empty")
            ordered_at = field_value("purchase-date", timestamp, rec["purchase-date"])
            if ordered_at is None:
                raise RowError("purchase-date", "purchase-date is empty")
            base = f"{order_id}:{sku}"
            seen[base] = seen.get(base, 0) + 1
            line_id = base if seen[base] == 1 else f"{base}:{seen[base]}"
            if (rec.get("order-status") or "").strip().lower() == "cancelled":
                parsed.tombstones.append((ordered_at.date(), (line_id,)))
                continue
            qty = field_value("quantity", integer, rec["quantity"])
            price = field_value("item-price", number, rec["item-price"])
            if price is None:
                raise RowError("item-price", f"item-price is empty (order-status {rec.get('order-status')!r})")
            if not qty:
                raise RowError("quantity", f"quantity is {qty!r} on a {rec.get('order-status')!r} order")
            row = coerce(
                table,
                {
                    "order_line_id": line_id,
                    "order_id": order_id,
                    "ordered_at": ordered_at,
                    "marketplace": "amazon",
                    "destination_country": (text(rec["ship-country"]) or "").upper() or None,
                    "sku": sku,
                    "quantity": qty,
                    "unit_price": round(price / qty, 4),
                    "currency": text(rec["currency"]),
                },
            )
            upd = field_value("last-updated-date", timestamp, rec.get("last-updated-date"))
            if upd is not None and (parsed.max_updated is None or upd.isoformat() > parsed.max_updated):
                parsed.max_updated = upd.isoformat()
        except (RowError, ValueError) as exc:
            col = getattr(exc, "column", None)
            parsed.reject(origin, line, col, str(exc), raw)
            continue
        accept(parsed, row)
    return parsed


SHOPIFY_CSV_REQUIRED = ("Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem sku", "Currency", "Shipping Country")  # fmt: skip
SHOPIFY_CSV_OPTIONAL = ("Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method", "Lineitem name", "Lineitem compare at price", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip", "Shipping Province", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References")  # fmt: skip
_SHOPIFY_ORDER_LEVEL = ("Id", "Currency", "Created at", "Shipping Country", "Billing Country", "Cancelled at")


def parse_shopify_orders_csv(data: bytes, origin: str, *, source: str, encoding: str | None = None) -> Parsed:
    """Shopify admin "Export orders" CSV (one row per line item; order fields on the order's first row) -> orders.

    - order fields (Id, Currency, Created at, countries, Cancelled at) are carried from the order's first row;
    - ``order_id`` = ``Id`` (``Name`` when the export has no Id column), ``order_line_id`` =
      ``<order_id>:<n>`` with n the line's position in the order;
    - ``unit_price`` = ``Lineitem price``; ``destination_country`` = Shipping Country, else Billing Country;
    - orders with ``Cancelled at`` set are tombstones.
    """
    table = RAW_TABLES["orders"]
    parsed = Parsed(table)
    header, records = read_delimited(data, origin, delimiter=",", encoding=encoding, source=source)
    parsed.extra_columns, _ = check_header(
        header, SHOPIFY_CSV_REQUIRED, SHOPIFY_CSV_OPTIONAL, source=source, origin=origin, delimiter=",",
        fix="Export the orders from Shopify admin (Orders > Export > CSV for Excel...) unchanged, or use format = 'mapping'.",
    )  # fmt: skip
    orders: dict[str, dict[str, str]] = {}
    positions: dict[str, int] = {}
    for line, rec, raw in records:
        parsed.records_in += 1
        if "__width__" in rec:
            parsed.reject(origin, line, None, f"wrong number of fields: {rec['__width__']}", raw)
            continue
        name = text(rec.get("Name"))
        if name is None:
            parsed.reject(origin, line, "Name", "Name (order number) is empty", raw)
            continue
        first = orders.setdefault(name, {k: rec.get(k, "") for k in _SHOPIFY_ORDER_LEVEL})
        for k in _SHOPIFY_ORDER_LEVEL:
            if not text(first.get(k)) and text(rec.get(k)):
                first[k] = rec[k]
        positions[name] = positions.get(name, 0) + 1
        order_id = text(first.get("Id")) or name
        line_id = f"{order_id}:{positions[name]}"
        try:
            ordered_at = field_value("Created at", timestamp, first.get("Created at"))
            if ordered_at is None:
                raise RowError("Created at", "Created at is empty on the order's rows")
            if text(first.get("Cancelled at")):
                parsed.tombstones.append((ordered_at.date(), (line_id,)))
                continue
            country = text(first.get("Shipping Country")) or text(first.get("Billing Country"))
            row = coerce(
                table,
                {
                    "order_line_id": line_id,
                    "order_id": order_id,
                    "ordered_at": ordered_at,
                    "marketplace": "shopify",
                    "destination_country": country.upper() if country else None,
                    "sku": rec.get("Lineitem sku"),
                    "quantity": rec.get("Lineitem quantity"),
                    "unit_price": rec.get("Lineitem price"),
                    "currency": first.get("Currency"),
                },
            )
        except (RowError, ValueError) as exc:
            parsed.reject(origin, line, getattr(exc, "column", None), str(exc), raw)
            continue
        accept(parsed, row)
    return parsed


# Shopify Admin REST orders.json (records of the 'orders' array).
SHOPIFY_ORDER_KEYS = ("id", "created_at", "updated_at", "currency", "line_items")


def check_shopify_page(doc: Any, source: str, url: str, first_keys: set[str] | None) -> set[str]:
    """Structure of one orders.json page; a missing array or keys missing from every order is a schema change."""
    if not isinstance(doc, dict) or not isinstance(doc.get("orders"), list):
        found = sorted(doc)[:10] if isinstance(doc, dict) else type(doc).__name__
        raise SchemaDriftError(
            f"{source}: {url} has no 'orders' array (found {found}); the API changed or the URL is wrong"
        )
    orders = [o for o in doc["orders"] if isinstance(o, dict)]
    if not orders:
        return first_keys or set()
    common = set.intersection(*(set(o) for o in orders))
    missing = [k for k in SHOPIFY_ORDER_KEYS if k not in common and not any(k in o for o in orders)]
    if missing:
        where = " in the middle of the pagination" if first_keys else ""
        raise SchemaDriftError(
            f"{source}: the orders on {url} have no {', '.join(missing)}{where} (keys: {', '.join(sorted(common))[:200]}); "
            f"the API version changed: pin the version in the URL (/admin/api/<version>/orders.json)"
        )
    return first_keys if first_keys is not None else common


def parse_shopify_orders_page(doc: dict[str, Any], origin: str, parsed: Parsed) -> None:
    """One orders.json page into ``parsed`` (lines of cancelled orders become tombstones)."""
    table = parsed.table
    for i, order in enumerate(doc.get("orders", []), start=1):
        parsed.records_in += 1
        try:
            if not isinstance(order, dict):
                raise RowError(None, "order is not an object")
            for k in SHOPIFY_ORDER_KEYS:
                if k not in order:
                    raise RowError(k, f"order has no {k}")
            ordered_at = field_value("created_at", timestamp, order["created_at"])
            updated = field_value("updated_at", timestamp, order["updated_at"])
            if ordered_at is None:
                raise RowError("created_at", "created_at is empty")
            if updated is not None and (parsed.max_updated is None or updated.isoformat() > parsed.max_updated):
                parsed.max_updated = updated.isoformat()
            order_id = str(order["id"])
            lines = order["line_items"]
            if not isinstance(lines, list):
                raise RowError("line_items", "line_items is not a list")
            if order.get("cancelled_at"):
                parsed.tombstones += [(ordered_at.date(), (str(li.get("id")),)) for li in lines if isinstance(li, dict)]
                continue
            address = order.get("shipping_address") or order.get("billing_address") or {}
            country = text(address.get("country_code")) if isinstance(address, dict) else None
            rows = []
            for li in lines:
                rows.append(
                    coerce(
                        table,
                        {
                            "order_line_id": li.get("id"),
                            "order_id": order_id,
                            "ordered_at": ordered_at,
                            "marketplace": "shopify",
                            "destination_country": country.upper() if country else None,
                            "sku": li.get("sku"),
                            "quantity": li.get("quantity"),
                            "unit_price": li.get("price"),
                            "currency": order.get("currency"),
                        },
                    )
                )
        except (RowError, ValueError, AttributeError, TypeError) as exc:
            parsed.reject(origin, i, getattr(exc, "column", None), str(exc), order)
            continue
        for row in rows:
            accept(parsed, row)


# ---------------------------------------------------------------------------------- mapping


def mapped_fields(table: RawTable, mapping: Any) -> dict[str, str]:
    """Contract column -> export column for a ``mapping`` source."""
    fields = {c: mapping.columns.get(c, c) for c in table.columns}
    if mapping.country_column and "destination_country" in table.columns:
        fields["destination_country"] = mapping.country_column
    return fields


def parse_mapped_records(
    table: RawTable,
    records: Iterable[tuple[int, dict[str, Any], Any]],
    header: list[str],
    origin: str,
    mapping: Any,
    *,
    source: str,
    fix: str = "Map it in options.mapping.columns (contract column = export column) or fix the export.",
) -> Parsed:
    """Records keyed by export columns -> contract rows through a column map, constants and a date format."""
    parsed = Parsed(table)
    fields = mapped_fields(table, mapping)
    provided = set(mapping.constants) | ({"currency"} if mapping.currency else set())
    needed = [c for c in (*table.primary_key, *table.required) if c not in provided]
    required = list(dict.fromkeys(fields[c] for c in needed))
    optional = [fields[c] for c in table.columns if c not in needed and c not in provided]
    parsed.extra_columns, missing_opt = check_header(
        header, required, optional, source=source, origin=origin, delimiter=mapping.delimiter, fix=fix
    )
    parsed.missing_optional = missing_opt
    for line, rec, raw in records:
        parsed.records_in += 1
        if "__width__" in rec:
            parsed.reject(origin, line, None, f"wrong number of fields: {rec['__width__']}", raw)
            continue
        values = {c: rec.get(src) for c, src in fields.items()}
        values.update(mapping.constants)
        if mapping.currency and "currency" in table.columns and not text(values.get("currency")):
            values["currency"] = mapping.currency
        try:
            row = coerce(table, values, date_format=mapping.date_format, decimal=mapping.decimal)
        except RowError as exc:
            src = fields.get(exc.column or "", exc.column)
            parsed.reject(origin, line, src, str(exc) + (f" (export column {src!r})" if src != exc.column else ""), raw)
            continue
        accept(parsed, row)
    return parsed


def parse_mapping_file(
    table: RawTable, data: bytes, origin: str, mapping: Any, *, source: str, encoding: str | None = None
) -> Parsed:
    if mapping.file_format == "parquet":
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as exc:
            raise FileFormatError(f"{source}: {origin} is not a readable Parquet file ({exc}); re-export it") from exc
        header = [str(c) for c in frame.columns]
        records = [
            (i + 2, {k: (None if pd.isna(v) else v) for k, v in r.items()}, json.dumps(r, default=str))
            for i, r in enumerate(frame.to_dict("records"))
        ]
    else:
        header, records = read_delimited(data, origin, delimiter=mapping.delimiter, encoding=encoding, source=source)
    return parse_mapped_records(table, records, header, origin, mapping, source=source)


# --------------------------------------------------------------------------- freight and carbon

RATE_INDEX_FIELDS = {
    "rate_week": ("week", "rate_week"),
    "lane_id": ("lane", "lane_id"),
    "mode": ("mode",),
    "rate": ("rate",),
    "currency": ("currency",),
    "transit_days": ("transit_days", "transit_time_days"),
    "distance_km": ("distance_km",),
    "rate_unit": ("rate_unit",),
    "origin_port": ("origin_port",),
    "destination_port": ("destination_port",),
    "origin_country": ("origin_country",),
    "destination_country": ("destination_country",),
}


def _pick(rec: dict[str, Any], names: tuple[str, ...]) -> Any:
    for n in names:
        if n in rec:
            return rec[n]
    return None


def records_of(doc: Any, keys: tuple[str, ...]) -> list:
    """The record list of a JSON document: a list, or the first of ``keys`` holding one."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for k in keys:
            if isinstance(doc.get(k), list):
                return doc[k]
    raise SchemaDriftError(
        f"expected a JSON list or an object with one of {', '.join(keys)} holding the records, "
        f"found {type(doc).__name__} with keys {sorted(doc)[:8] if isinstance(doc, dict) else ''}"
    )


def parse_rate_index_records(
    records: Iterable[tuple[int, dict[str, Any], Any]], origin: str, distances: dict[str, float], parsed: Parsed
) -> None:
    """Rate-index records (lane, week, mode, rate, currency, transit days) -> freight_rates rows.

    Ports come from the lane id ``<origin LOCODE>-<destination LOCODE>``, countries from the LOCODEs,
    the rate unit from the mode (per container, cbm or kg), the distance from the record or from
    ``options.lane_distances_km``.
    """
    table = parsed.table
    distances = {k.upper(): v for k, v in distances.items()}
    for line, rec, raw in records:
        parsed.records_in += 1
        try:
            if not isinstance(rec, dict):
                raise RowError(None, "record is not an object")
            values = {c: _pick(rec, names) for c, names in RATE_INDEX_FIELDS.items()}
            lane = text(values["lane_id"])
            if lane is None or not re.fullmatch(r"[A-Z]{5}-[A-Z]{5}", lane):
                raise RowError("lane_id", f"lane {lane!r} is not '<origin UN/LOCODE>-<destination UN/LOCODE>'")
            o, d = lane.split("-")
            values["origin_port"] = values["origin_port"] or o
            values["destination_port"] = values["destination_port"] or d
            values["origin_country"] = values["origin_country"] or o[:2]
            values["destination_country"] = values["destination_country"] or d[:2]
            mode = text(values["mode"])
            if mode not in RATE_UNIT_BY_MODE:
                raise RowError("mode", f"mode {mode!r} is not one of {', '.join(RATE_UNIT_BY_MODE)}")
            values["rate_unit"] = values["rate_unit"] or RATE_UNIT_BY_MODE[mode]
            if text(values["distance_km"]) is None and lane in distances:
                values["distance_km"] = distances[lane]
            row = coerce(table, values)
            if row["rate_week"].weekday() != 0:
                raise RowError("rate_week", f"rate_week {row['rate_week']} is not a Monday")
        except (RowError, ValueError) as exc:
            parsed.reject(origin, line, getattr(exc, "column", None), str(exc), raw)
            continue
        accept(parsed, row)


PRICE_FIELDS = {
    "price_date": ("date", "price_date"),
    "scheme": ("scheme",),
    "price": ("price",),
    "currency": ("currency",),
}


def parse_price_records(records: Iterable[tuple[int, dict[str, Any], Any]], origin: str, parsed: Parsed) -> None:
    """Carbon-price records (date, scheme, price, currency) -> carbon_prices rows."""
    for line, rec, raw in records:
        parsed.records_in += 1
        try:
            if not isinstance(rec, dict):
                raise RowError(None, "record is not an object")
            row = coerce(parsed.table, {c: _pick(rec, n) for c, n in PRICE_FIELDS.items()})
        except (RowError, ValueError) as exc:
            parsed.reject(origin, line, getattr(exc, "column", None), str(exc), raw)
            continue
        accept(parsed, row)


def parse_events(doc: Any, origin: str, parsed: Parsed) -> None:
    """A JSON list of regulatory events with the contract's fields -> regulatory_events rows."""
    for i, rec in enumerate(records_of(doc, ("events", "data", "items")), start=1):
        parsed.records_in += 1
        try:
            if not isinstance(rec, dict):
                raise RowError(None, "event is not an object")
            row = coerce(parsed.table, rec)
        except (RowError, ValueError) as exc:
            parsed.reject(origin, i, getattr(exc, "column", None), str(exc), rec)
            continue
        accept(parsed, row)
    unknown = {k for r in records_of(doc, ("events", "data", "items")) if isinstance(r, dict) for k in r}
    parsed.extra_columns |= unknown - set(parsed.table.columns)


def json_records(doc: Any, keys: tuple[str, ...]) -> list[tuple[int, Any, Any]]:
    return [(i, r, r) for i, r in enumerate(records_of(doc, keys), start=1)]


def csv_records(
    data: bytes, origin: str, source: str, required: Iterable[str], optional: Iterable[str], encoding: str | None = None
):
    header, records = read_delimited(data, origin, delimiter=",", encoding=encoding, source=source)
    extra, _ = check_header(
        header, required, optional, source=source, origin=origin, delimiter=",",
        fix="Publish the file with these column names (see the README section on real sources).",
    )  # fmt: skip
    return extra, records


# ----------------------------------------------------------------------------- policy and carbon
# These reuse orchestration.lib.reference (the parsers of the bundled copies of the same documents);
# tests check that parsing the bundled files here gives exactly the reference tables.


def parse_ibericode(data: bytes, origin: str, *, source: str) -> Parsed:
    """The ibericode/vat-rates JSON document -> vat_rates (EU-27 + GB periods plus the curated non-EU rows)."""
    from orchestration.lib import reference as ref

    table = RAW_TABLES["vat_rates"]
    parsed = Parsed(table)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise FileFormatError(
            f"{source}: {origin} is not valid JSON ({exc}); the document was truncated or changed"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), dict):
        raise SchemaDriftError(
            f"{source}: {origin} has no 'items' object (keys: {sorted(doc)[:8] if isinstance(doc, dict) else type(doc).__name__}); the vat-rates.json layout changed"
        )
    rows = []
    for country, periods in sorted(doc["items"].items()):
        try:
            ordered = sorted(periods, key=lambda p: p["effective_from"])
            for i, period in enumerate(ordered):
                start = period["effective_from"]
                nxt = ordered[i + 1]["effective_from"] if i + 1 < len(ordered) else None
                rows.append(
                    {
                        "country_code": country,
                        "effective_from": ref.SINCE_EVER if start.startswith("0000") else dt.date.fromisoformat(start),
                        "effective_to": ref._d(nxt),
                        "standard_rate_pct": float(period["rates"]["standard"]),
                        "reduced_rate_pct": ref._main_reduced_rate(period["rates"]),
                        "source": ref.VAT_SOURCE,
                    }
                )
                parsed.records_in += 1
        except (KeyError, TypeError, ValueError) as exc:
            parsed.records_in += 1
            parsed.reject(origin, None, None, f"{country}: {type(exc).__name__}: {exc}", {country: periods})
    curated = ref.vat_rates()
    curated = curated[curated["source"].str.startswith(ref.CURATED_VAT_SOURCE)]
    for rec in curated.to_dict("records"):
        rows.append({k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()})
    for row in rows:
        accept(parsed, coerce(table, row))
    return parsed


UKGT_REQUIRED = ("commodity", "description", "cet_duty_rate", "ukgt_duty_rate")
UKGT_OPTIONAL = ("change", "trade_remedy_applies", "cet_applies_until_trade_remedy_transition_reviews_concluded", "suspension_applies", "atq_applies")  # fmt: skip


def parse_uk_tariff(data: bytes, origin: str, *, source: str, generated_markets: bool = True) -> Parsed:
    """The UK Global Tariff CSV (UKGT beside the EU CET) -> duty_rates, as the reference parser builds them.

    GB: the CET until 2020-12-31, the UKGT from 2021-01-01; the EU markets: the CET. Commodity codes are
    zero-padded, rate texts parsed with :func:`orchestration.lib.reference.parse_duty_rate` (ad valorem,
    specific, compound). With ``generated_markets`` the generated (not real) schedules of the other
    markets are added, labelled as such in ``source``.
    """
    from orchestration.lib import reference as ref

    table = RAW_TABLES["duty_rates"]
    parsed = Parsed(table)
    header, records = read_delimited(data, origin, delimiter=",", encoding=None, source=source)
    parsed.extra_columns, _ = check_header(
        header, UKGT_REQUIRED, UKGT_OPTIONAL, source=source, origin=origin, delimiter=",",
        fix="Use the UK Global Tariff CSV as published (commodity, description, cet_duty_rate, ukgt_duty_rate, ...).",
    )  # fmt: skip
    good = []
    for line, rec, raw in records:
        parsed.records_in += 1
        if "__width__" in rec:
            parsed.reject(origin, line, None, f"wrong number of fields: {rec['__width__']}", raw)
            continue
        code = (rec.get("commodity") or "").strip()
        if not re.fullmatch(r"\d{6,10}", code):
            parsed.reject(origin, line, "commodity", f"commodity code {code!r} is not 6-10 digits", raw)
            continue
        good.append(rec)
    df = pd.DataFrame(good, columns=header, dtype=str).fillna("")
    df["commodity_code"] = df["commodity"].map(ref.pad_commodity_code)
    df["hs6"] = df["commodity_code"].str[:6]
    frames = [
        ref._duty_rows(df, "cet_duty_rate", "GB", ref.SINCE_EVER, dt.date(2021, 1, 1), ref.CET_GB_SOURCE),
        ref._duty_rows(df, "ukgt_duty_rate", "GB", dt.date(2021, 1, 1), None, ref.UKGT_SOURCE),
    ]
    eu = ref._duty_rows(df, "cet_duty_rate", "XX", ref.SINCE_EVER, None, ref.CET_EU_SOURCE)
    frames += [eu.assign(destination_country=c) for c in ref.EU_MARKETS]
    if generated_markets:
        generated = ref.duty_rates()
        frames.append(generated[generated["source"] == ref.GENERATED_DUTY_SOURCE])
    out = pd.concat(frames, ignore_index=True)
    for col in ("ad_valorem_pct", "specific_amount", "specific_per"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    parsed.rows = out[list(table.columns)].to_dict("records")
    for row in parsed.rows:
        for k, v in row.items():
            if isinstance(v, float) and v != v:
                row[k] = None
    return parsed


CLIMATIQ_REQUIRED = ("activity_id", "category", "name", "activity_unit", "kgCO2e-AR4", "kgCO2e-AR5", "lca_activity", "source", "year_released", "region")  # fmt: skip


def parse_climatiq(data: bytes, origin: str, *, source: str) -> Parsed:
    """A Climatiq Open Emission Factors CSV (BEIS/DEFRA rows among others) -> emission_factors.

    Same rules as :func:`orchestration.lib.reference.emission_factors`: ``not-supplied`` is NULL,
    AR5 else AR4, only freight factors per tonne-km or ton-mile (converted), a unique activity id.
    """
    from orchestration.lib import reference as ref

    table = RAW_TABLES["emission_factors"]
    parsed = Parsed(table)
    header, records = read_delimited(data, origin, delimiter=",", encoding=None, source=source)
    parsed.extra_columns, _ = check_header(
        header, CLIMATIQ_REQUIRED, (), source=source, origin=origin, delimiter=",",
        fix="Use the Open Emission Factors DB CSV layout (activity_id, category, name, activity_unit, kgCO2e-AR4, kgCO2e-AR5, ...).",
    )  # fmt: skip
    parsed.extra_columns = set()  # the OEFDB has dozens of other columns; they are not drift
    for line, rec, raw in records:
        parsed.records_in += 1
        if "__width__" in rec:
            parsed.reject(origin, line, None, f"wrong number of fields: {rec['__width__']}", raw)
            continue
        vals = {k: (None if v in ("not-supplied", "") else v) for k, v in rec.items()}
        try:
            ar5, ar4 = number(vals["kgCO2e-AR5"]), number(vals["kgCO2e-AR4"])
        except ValueError as exc:
            parsed.reject(origin, line, "kgCO2e-AR5", str(exc), raw)
            continue
        value = ar5 if ar5 is not None else ar4
        unit = vals["activity_unit"]
        if value is None or unit not in ("tonne-km", "ton-mile"):
            parsed.skipped += 1
            continue
        if unit == "ton-mile":
            value = value / ref.TONNE_KM_PER_TON_MILE
        key = "/".join(vals[k] or "" for k in ("activity_id", "source", "region", "year_released", "lca_activity"))
        try:
            row = coerce(
                table,
                {
                    "activity_id": key,
                    "category": vals["category"],
                    "name": vals["name"],
                    "activity_unit": "tonne-km",
                    "kg_co2e_per_unit": value,
                    "lca_activity": vals["lca_activity"],
                    "source": vals["source"],
                    "year_released": vals["year_released"],
                    "region": vals["region"],
                },
            )
        except (RowError, ValueError) as exc:
            parsed.reject(origin, line, getattr(exc, "column", None), str(exc), raw)
            continue
        row["kg_co2e_per_unit"] = value  # unrounded, as the reference table keeps it
        accept(parsed, row)
    return parsed


Parser = Callable[..., Parsed]
