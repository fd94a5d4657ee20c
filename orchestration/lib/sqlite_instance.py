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

It also makes Dagster reuse one SQLAlchemy engine per SQLite file (:func:`_reuse_engines`),
and that engine's connections. Dagster's SQLite run, event log and schedule storages create an
engine for every connection they open (two or three per event: the run's file, the index) and
dispose of it, and each engine's compiled-statement cache goes with it: every INSERT was
compiled again, ~1 ms each. With one engine per file an event cost 2.6-3.2 ms to store instead
of 4.4-5.3 ms (600 events of a one-day night replayed), ~2 s of a night's ~1,100 events; with
its connections pooled too (no new SQLite connection per use) an engine event costs 0.35 ms
instead of 0.75 ms (300 events on a new instance).

Only SQLite files under the given folder are touched; a PostgreSQL instance (``deploy/``) is
left alone.
"""

from __future__ import annotations

import atexit
import sqlite3
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_roots: list[str] = []
_held: dict[str, sqlite3.Connection] = {}


def _database_file(dbapi_connection: sqlite3.Connection) -> str | None:
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else None


def _under_roots(path: str) -> bool:
    """Whether the SQLite file ``path`` (absolute, resolved) is under a folder given to keep_history_open."""
    return any(path.startswith(root) for root in _roots)


def _on_connect(dbapi_connection: object, _record: object) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection) or not _roots:
        return
    path = _database_file(dbapi_connection)
    if path is None or not _under_roots(path):
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
    """Close the pooled and the idle connections (the last close checkpoints each file)."""
    with _lock:
        for engine in _engines.values():
            type(engine).dispose(engine)  # the engine's own dispose: closes its pooled connections
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
    _reuse_engines()
    atexit.register(close_held)


#: Dagster's modules that create an engine per connection, by the name they import it under.
ENGINE_MODULES = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
)
_engines: dict[str, Any] = {}


def _sqlite_file(url: object) -> str | None:
    text = str(url)
    return text[len("sqlite:///") :] if text.startswith("sqlite:///") else None


def _reuse_engines() -> None:
    """Have Dagster's SQLite storages reuse one engine, and its connections, per file under the folders given.

    Replaces the ``create_engine`` those modules call (SQLAlchemy's) with one that returns the
    engine it made before for the same file, when the call is the storages' own (``NullPool``,
    nothing else but ``connect_args``); any other call gets a new engine as before. The engine
    made keeps its connections in a pool (SQLAlchemy's ``QueuePool``) instead of Dagster's
    ``NullPool``, and Dagster's ``dispose()`` after each use leaves it alone: a ``NullPool``
    opened a new SQLite connection for every use (two or three per event, ~0.4 ms each with this
    module's connect listener), and disposing of a pooled engine would close its connections. A
    connection goes back to the pool with its transaction rolled back (SQLAlchemy's reset on
    return), so it holds no lock and no read snapshot between uses; SQLite in WAL mode lets the
    webserver's and daemon's own connections read and write beside it, as beside the idle
    connection :func:`keep_history_open` holds. ``check_same_thread`` is off because a pooled
    connection may be checked out by another thread than the one that opened it (one at a time).
    ``tests/test_sqlite_instance.py`` fails if a Dagster upgrade stops calling it so.
    """
    import importlib

    from sqlalchemy.pool import NullPool, QueuePool

    for name in ENGINE_MODULES:
        module = importlib.import_module(name)
        original = module.create_engine
        if getattr(original, "reuses_engines", False):
            continue

        def create_engine(url: object, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if args or kwargs.get("poolclass") is not NullPool or set(kwargs) - {"poolclass", "connect_args"}:
                return _original(url, *args, **kwargs)
            key = f"{url}|{sorted((kwargs.get('connect_args') or {}).items())}"
            with _lock:
                engine = _engines.get(key)  # only files found under the folders are ever cached
            if engine is not None:
                return engine
            path = _sqlite_file(url)
            if path is None or not _under_roots(str(Path(path).resolve())):
                return _original(url, *args, **kwargs)
            connect_args = {**(kwargs.get("connect_args") or {}), "check_same_thread": False}
            with _lock:
                engine = _engines.get(key)
                if engine is None:
                    engine = _original(url, poolclass=QueuePool, connect_args=connect_args)
                    engine.dispose = _keep_pool  # Dagster's dispose() after each use: see above
                    _engines[key] = engine
                return engine

        create_engine.reuses_engines = True  # type: ignore[attr-defined]
        module.create_engine = create_engine


def _keep_pool(*_args: Any, **_kwargs: Any) -> None:
    """``Engine.dispose`` of the reused engines: their pooled connections stay open for the next use."""
