"""The local Dagster instance's SQLite files, written without a checkpoint per event.

README command 1 runs the nightly against the default local instance: SQLite files under
``$DAGSTER_HOME/history`` (one per run, plus an index) in WAL mode. Dagster stores each event
through a new connection and closes it; closing the last connection to a WAL database
checkpoints it (copies the WAL back into the file, with an fsync) and deletes the WAL. A one-day
night stores ~1,250 events that way and wrote 1.2 GB for them (380 KiB for an engine event,
1.2 MB for a materialization on the 65 MB index at SF 10), beside the warehouse's own IO.

:func:`keep_history_open` keeps one idle connection open to each of those files for the rest
of the process, so Dagster's connections are never the last: the WAL is checkpointed when it
grows (SQLite's ``wal_autocheckpoint``) and when the process ends, not after every event. It
also sets ``synchronous=NORMAL`` on them, SQLite's recommended setting for WAL mode: a commit
is not synced on its own, and a power cut can lose the last events but cannot corrupt the file.
Another process (the webserver) reads and writes the same files as before.

Only SQLite files under the given folder are touched; a PostgreSQL instance (``deploy/``) is
left alone.
"""

from __future__ import annotations

import atexit
import sqlite3
import threading
from pathlib import Path

_lock = threading.Lock()
_roots: list[str] = []
_held: dict[str, sqlite3.Connection] = {}


def _database_file(dbapi_connection: sqlite3.Connection) -> str | None:
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else None


def _on_connect(dbapi_connection: object, _record: object) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection) or not _roots:
        return
    path = _database_file(dbapi_connection)
    if path is None or not any(path.startswith(root) for root in _roots):
        return
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    with _lock:
        if path in _held:
            return
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        # A file Dagster has not switched to WAL yet (a new run's, on its first connection): an
        # idle connection opened now would not count as one of the WAL's, so try again next time.
        if holder.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            holder.close()
            return
        holder.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL index; no transaction left
        _held[path] = holder


def close_held() -> None:
    """Close the idle connections (the last close checkpoints each file)."""
    with _lock:
        for holder in _held.values():
            holder.close()
        _held.clear()


def held_files() -> list[str]:
    with _lock:
        return sorted(_held)


def keep_history_open(dagster_home: str | Path) -> None:
    """Apply the above to the SQLite files under ``dagster_home`` for the rest of this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    root = str(Path(dagster_home).resolve()) + "/"
    with _lock:
        first = not _roots  # the listener is installed with the first folder, once per process
        if root not in _roots:
            _roots.append(root)
    if not first:
        return
    event.listen(Engine, "connect", _on_connect)
    atexit.register(close_held)
