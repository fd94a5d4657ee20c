"""The nightly keeps the local instance's SQLite files open (``lib/sqlite_instance.py``).

Each test runs its Dagster instance in a child process: the SQLAlchemy listener is installed
for the rest of the process that calls ``keep_history_open``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    home = Path(sys.argv[1]); keep = sys.argv[2] == "keep"
    os.environ["DAGSTER_HOME"] = str(home)
    (home / "dagster.yaml").touch()
    if keep:
        from orchestration.lib.sqlite_instance import keep_history_open
        keep_history_open(home)
    import dagster as dg
    import sqlalchemy as sa

    engines = []  # every engine Dagster connects through (kept referenced: ids stay distinct)
    sa.event.listen(sa.engine.Engine, "engine_connect", lambda conn: engines.append(conn.engine))
    opened = []  # every new SQLite connection (DB-API connect) any engine makes
    sa.event.listen(sa.engine.Engine, "connect", lambda dbapi, record: opened.append(1))

    @dg.op
    def noop():
        return 1

    @dg.job
    def job():
        noop()

    def written():
        for line in open("/proc/self/io"):
            if line.startswith("write_bytes"):
                return int(line.split()[1])

    with dg.DagsterInstance.get() as instance:
        run = instance.create_run_for_job(job)
        before, opened_before = written(), len(opened)
        for i in range(40):
            instance.report_engine_event(f"event {i}", run)
        per_event = (written() - before) / 40
        connects = len(opened) - opened_before
        shard = home / "history" / "runs" / f"{run.run_id}.db"
        wal_between_events = Path(str(shard) + "-wal").exists()
        # Another process (the webserver) reads the events while this one still holds the file.
        seen = int(os.popen(
            f"{sys.executable} -c \\"import os; os.environ['DAGSTER_HOME']={str(home)!r}; import dagster as dg; "
            f"print(len(dg.DagsterInstance.get().all_logs({run.run_id!r})))\\""
        ).read().strip())
    inside = sa.create_engine(f"sqlite:///{home / 'inside.db'}")
    outside = sa.create_engine(f"sqlite:///{home.parent / 'outside.db'}")
    sync = [e.connect().exec_driver_sql("PRAGMA synchronous").scalar() for e in (inside, outside)]
    dagster_engines = len({id(e) for e in engines if str(home) in str(e.url) and "side.db" not in str(e.url)})
    print(json.dumps({"per_event": per_event, "wal": wal_between_events, "seen": seen, "sync": sync,
                      "shard": str(shard), "run_id": run.run_id, "engines": dagster_engines,
                      "connects": connects}))
    """
)


def _run(tmp_path: Path, mode: str) -> dict:
    home = tmp_path / mode / "home"
    home.mkdir(parents=True)
    script = tmp_path / "instance.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(home), mode], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kept_open_the_wal_survives_between_events_and_is_checkpointed_at_exit(tmp_path: Path) -> None:
    kept = _run(tmp_path, "keep")
    assert kept["wal"]  # Dagster's connection was not the last one: no checkpoint, no new WAL per event
    assert kept["seen"] == 40  # every event so far, read by another process
    assert kept["sync"] == [1, 2]  # NORMAL under DAGSTER_HOME; a SQLite file elsewhere keeps its FULL
    assert not Path(kept["shard"] + "-wal").exists()  # the process's exit checkpointed and removed it


def test_kept_open_an_event_writes_a_fraction_of_the_bytes(tmp_path: Path) -> None:
    kept, plain = _run(tmp_path, "keep"), _run(tmp_path, "plain")
    assert not plain["wal"] and plain["sync"] == [2, 2]  # Dagster's default: a checkpoint after each event
    assert plain["seen"] == kept["seen"] == 40
    # 39 KB against 107 KB here; on the 65 MB index of an SF 10 instance 32 KB against 380 KB.
    assert kept["per_event"] * 2 < plain["per_event"], (kept, plain)


def test_kept_open_dagster_reuses_one_engine_per_file(tmp_path: Path) -> None:
    """Dagster's SQLite storages create an engine per connection (and with it a new compiled-statement
    cache); under keep_history_open they get the one made before for the same file."""
    kept, plain = _run(tmp_path, "keep"), _run(tmp_path, "plain")
    assert plain["engines"] > 40  # one or more per event
    assert kept["engines"] <= 4, kept  # the run's file, the index, runs.db, schedules.db
    assert kept["seen"] == plain["seen"] == 40


def test_kept_open_dagster_reuses_its_sqlite_connections(tmp_path: Path) -> None:
    """Each use of a storage opened a new SQLite connection (NullPool); the reused engines pool them, and
    Dagster's dispose() after each use does not close them."""
    kept, plain = _run(tmp_path, "keep"), _run(tmp_path, "plain")
    assert plain["connects"] >= 40, plain  # one or more per event
    assert kept["connects"] <= 2, kept  # the run's file and the index were opened before the first of them
    assert kept["seen"] == plain["seen"] == 40
