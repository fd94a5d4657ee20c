"""orchestration.lib.frames: query results through Arrow, frame for frame what DuckDB's .df() gives."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from orchestration.lib.frames import fetch_frame, iter_frames

#: One column of every type the contracts and marts use (and a few more), each with a NULL row.
TYPED = """
    SELECT * FROM (VALUES
        (1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UTINYINT, 6::UINTEGER, true, 1.5::FLOAT, 2.5::DOUBLE,
         'a', DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', TIMESTAMPTZ '2024-01-02 03:04:05+00'),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (7, 8, 9, 10, 11, 12, false, -1.0, -2.0, 'b', DATE '1999-12-31', TIMESTAMP '1999-12-31 23:59:59.123456',
         TIMESTAMPTZ '1999-12-31 23:59:59+00')
    ) t(ti, si, i, bi, uti, ui, bo, fl, db, s, d, ts, tz)
"""


@pytest.fixture
def conn():
    with duckdb.connect() as c:
        c.execute("SET TimeZone = 'UTC'")
        c.execute(f"CREATE TABLE typed AS {TYPED}")
        yield c


@pytest.mark.parametrize(
    "where",
    [
        "TRUE",  # NULLs present: nullable integer and boolean dtypes
        "ti IS NOT NULL",  # no NULL: NumPy dtypes
        "FALSE",  # empty: object strings
        "ti = 1",
    ],
)
def test_fetch_frame_is_the_frame_df_gives(conn, where):
    sql = f"SELECT * FROM typed WHERE {where}"
    expected = conn.execute(sql).df()
    got = fetch_frame(conn, sql)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.dtypes) == list(expected.dtypes)


def test_fetch_frame_with_parameters_and_a_pending_result(conn):
    """A count fetched with fetchone() leaves a result pending on the connection; the fetch still works."""
    assert conn.execute("SELECT count(*) FROM typed").fetchone()[0] == 3
    sql = "SELECT s, d FROM typed WHERE d >= ?"
    got = fetch_frame(conn, sql, ["2000-01-01"])
    pd.testing.assert_frame_equal(got, conn.execute(sql, ["2000-01-01"]).df())
    assert got["s"].tolist() == ["a"]


def test_other_types_fall_back_to_df(conn):
    """DECIMAL, lists, HUGEINT and duplicate names are fetched with .df(): the same frame, whatever it is."""
    for sql in (
        "SELECT 1.25::DECIMAL(10, 2) AS amount, [1, 2] AS items, 7::HUGEINT AS big",
        "SELECT 1 AS x, 'a' AS x",
        "SELECT sum(i) AS total FROM typed",  # HUGEINT
    ):
        pd.testing.assert_frame_equal(fetch_frame(conn, sql), conn.execute(sql).df())


def test_iter_frames_streams_the_rows_in_frames_of_the_size_asked(conn):
    conn.execute(
        """
        CREATE TABLE big AS
        SELECT range AS id, 'sku-' || (range % 97) AS sku, DATE '2024-01-01' + (range % 400)::INTEGER AS day,
               CASE WHEN range % 13 = 0 THEN NULL ELSE range % 7 END::INTEGER AS qty
        FROM range(50000)
        """
    )
    sql = "SELECT * FROM big WHERE id % 3 <> 0 ORDER BY id"
    frames = list(iter_frames(conn, sql, rows=4096))
    assert [len(f) for f in frames[:-1]] == [4096] * (len(frames) - 1)
    assert 0 < len(frames[-1]) <= 4096
    whole = pd.concat(frames, ignore_index=True)
    # per frame the dtypes .df() would give that frame's rows (qty: nullable where the frame has a NULL)
    pd.testing.assert_frame_equal(whole, conn.execute(sql).df(), check_dtype=False)
    assert str(frames[0]["qty"].dtype) == "Int32"
    assert frames[0]["sku"].dtype == conn.execute(sql).df()["sku"].dtype


def test_iter_frames_of_other_types_uses_df_chunks(conn):
    sql = "SELECT range AS id, (range / 4)::DECIMAL(10, 2) AS amount FROM range(10000)"
    frames = list(iter_frames(conn, sql, rows=2048))
    assert sum(len(f) for f in frames) == 10000
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), conn.execute(sql).df())


def test_iter_frames_of_no_rows(conn):
    assert list(iter_frames(conn, "SELECT * FROM typed WHERE FALSE")) == []
