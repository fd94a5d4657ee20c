"""Arrow helpers: build contract-typed tables fast from numpy arrays."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from orchestration.lib.schemas import RAW_TABLES

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
DAY_SECONDS = 86400

ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("s"),
}


def schema(table: str) -> pa.Schema:
    """The arrow schema of a raw table (contract columns, contract order)."""
    return pa.schema([(c, ARROW_TYPES[t]) for c, t in RAW_TABLES[table].columns.items()])


def day_start_seconds(ordinal: int) -> int:
    return (ordinal - EPOCH_ORDINAL) * DAY_SECONDS


def dates(ordinals: np.ndarray) -> pa.Array:
    """date32 array from day ordinals."""
    return pa.array(np.asarray(ordinals, dtype=np.int64) - EPOCH_ORDINAL, type=pa.int32()).view(pa.date32())


def timestamps(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """timestamp[s] array from epoch seconds; ``mask`` True = NULL."""
    arr = pa.array(np.asarray(seconds, dtype=np.int64), type=pa.int64(), mask=mask)
    return arr.view(pa.timestamp("s"))


def strings(codes: np.ndarray, labels: Sequence[str] | np.ndarray) -> pa.Array:
    """Decode integer codes into a string array through a small dictionary (fast for repeated values)."""
    dictionary = pa.array(list(labels), type=pa.string())
    idx = pa.array(np.asarray(codes, dtype=np.int32), type=pa.int32())
    return pa.DictionaryArray.from_arrays(idx, dictionary).dictionary_decode()


def constant(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type=type_) if n else pa.array([], type=type_)


def _array(v: object, type_: pa.DataType, n: int) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    if isinstance(v, pa.Array):
        return v if v.type == type_ else v.cast(type_)
    if v is None or isinstance(v, str | bool | int | float | dt.date):
        return constant(v, n, type_)
    a = np.asarray(v)
    if a.dtype == object or type_ == pa.string():
        return pa.array(a.tolist() if a.dtype != object else a, type=type_, from_pandas=True)
    return pa.array(a, type=type_, from_pandas=True)


def to_table(table: str, n: int, columns: dict[str, object]) -> pa.Table:
    """A table of ``n`` rows with exactly the contract columns; missing columns are NULL."""
    sch = schema(table)
    arrays = [_array(columns.get(f.name), f.type, n) for f in sch]
    return pa.Table.from_arrays(arrays, schema=sch)


def empty(table: str) -> pa.Table:
    return schema(table).empty_table()
