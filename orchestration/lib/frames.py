"""DuckDB query results as pandas frames through Arrow: the frames ``.df()`` gives, several times faster.

DuckDB's ``.df()`` makes a Python ``str`` of every string value, which pandas 3 then copies
into its Arrow-backed ``str`` columns: 1.5 s for the 804k rows of ``marts.shipment_transit``
at SF 10, 25.5 s for the 7.4M rows of ``raw.orders``. Fetched as Arrow and converted column by
column, the strings go from buffer to buffer: 0.35 s and 2.5 s.

The frames are those ``.df()`` returns, dtype for dtype (``tests/test_frames.py`` compares
both on every type the contracts use, with and without NULLs, and on empty results):

- VARCHAR: pandas' ``str`` (Arrow storage, NaN for NULL; ``object`` in an empty result);
- DATE and TIMESTAMP: ``datetime64[us]`` (with the time zone for TIMESTAMPTZ);
- integers and BOOLEAN: NumPy dtypes, or pandas' nullable ``Int32``/``boolean``... when the
  column holds a NULL (as ``.df()`` decides per result, hence per chunk);
- floats: NumPy.

A result with any other type (DECIMAL, lists, structs, intervals, nanosecond timestamps, ...)
or with a repeated column name is fetched with ``.df()`` as before: never a different frame,
at worst not a faster one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

_STRING = pd.StringDtype("pyarrow", na_value=np.nan)
#: The nullable pandas dtype ``.df()`` gives an integer or boolean column that holds a NULL.
_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


#: DuckDB types (as the relation names them) whose frames this module makes as ``.df()`` does.
_CONVERTIBLE_TYPES = frozenset(
    {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
        "BOOLEAN", "FLOAT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE",
    }
)  # fmt: skip


def _convertible(relation: duckdb.DuckDBPyRelation) -> bool:
    """Whether every column has a type converted as ``.df()`` does, under distinct names (else: ``.df()``)."""
    names = relation.columns
    return len(set(names)) == len(names) and all(str(t) in _CONVERTIBLE_TYPES for t in relation.types)


def _column(values: pa.ChunkedArray) -> Any:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        # .df() gives an empty result's strings the object dtype
        if not len(values):
            return np.array([], dtype=object)
        # one Arrow chunk, as .df() leaves it: pandas' element access through many chunks is slower
        return pd.array(values.combine_chunks() if values.num_chunks > 1 else values, dtype=_STRING)
    if t in _NULLABLE and values.null_count:
        return values.to_pandas(types_mapper={t: _NULLABLE[t]}.get)
    if pa.types.is_date32(t):
        return values.to_pandas(date_as_object=False).astype("datetime64[us]")
    return values.to_pandas()


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` (of the types in ``_CONVERTIBLE_TYPES``) as the frame ``.df()`` would give."""
    return pd.DataFrame({name: _column(table.column(i)) for i, name in enumerate(table.column_names)})


def _relation(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None) -> duckdb.DuckDBPyRelation:
    # A result the connection still holds from execute() (a fetchone() of a count, say) is run to its
    # end first, as the next execute() would: a relation is refused while one is pending.
    conn.complete()
    return conn.sql(sql, params=list(params) if params else None)


def fetch_frame(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """The rows of the query ``sql`` as ``conn.execute(sql, params).df()`` returns them, through Arrow."""
    relation = _relation(conn, sql, params)
    if not _convertible(relation):
        return conn.execute(sql, list(params) if params else []).df()
    return arrow_to_frame(relation.to_arrow_table())


def iter_frames(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None, rows: int = 1_000_000
) -> Iterator[pd.DataFrame]:
    """The rows of the query ``sql`` in frames of ``rows`` rows (the last one: the rest), as
    :func:`fetch_frame` makes them.

    Streams: about one frame's rows are in memory at a time. A result of types
    :func:`fetch_frame` leaves to ``.df()`` is fetched with ``fetch_df_chunk`` instead (frames
    of up to ``rows`` rows).
    """
    relation = _relation(conn, sql, params)
    if not _convertible(relation):
        cursor = conn.execute(sql, list(params) if params else [])
        while True:
            chunk = cursor.fetch_df_chunk(max(1, rows // 2048))
            if chunk is None or len(chunk) == 0:
                return
            yield chunk
    reader = relation.to_arrow_reader(rows)
    # DuckDB's batches hold what each scan thread had: regrouped into frames of exactly ``rows``.
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        while size >= rows:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield arrow_to_frame(table.slice(0, rows))
            rest = table.slice(rows)
            pending, size = rest.to_batches(), rest.num_rows
    if size:
        yield arrow_to_frame(pa.Table.from_batches(pending, schema=reader.schema))
