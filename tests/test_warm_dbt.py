"""The warm dbt process (``orchestration/lib/warm_dbt.py``) and ``tradewinds-dbt``, with the real dbt."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.lib.warm_dbt import SOCKET_ENV, launcher_path, start, wait_until_listening

DBT = str(Path(sys.executable).parent / "dbt")


def run_launcher(
    args: list[str], socket_path: str | None, cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV} | (extra_env or {})
    if socket_path is not None:
        env[SOCKET_ENV] = socket_path
    return subprocess.run([launcher_path(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_command_runs_in_the_warm_process_with_the_callers_output_and_exit_code(tmp_path: Path) -> None:
    warm = start()
    try:
        assert wait_until_listening(warm), warm.stderr_text()
        done = run_launcher(["--version"], str(warm.socket_path), tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"installed: {importlib.metadata.version('dbt-core')}" in done.stdout  # the caller's stdout
        assert warm.process.wait(timeout=30) == 0  # it ran there, once, and ended
    finally:
        warm.stop()
    assert not warm.folder.exists()

    # A failing command: the same exit code and message as the installed dbt's, through the caller's pipes.
    missing = tmp_path / "no-such-project"
    cold = subprocess.run(
        [DBT, "parse", "--project-dir", str(missing)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    warm = start()
    try:
        assert wait_until_listening(warm), warm.stderr_text()
        done = run_launcher(["parse", "--project-dir", str(missing)], str(warm.socket_path), tmp_path)
        assert warm.process.wait(timeout=30) == done.returncode
    finally:
        warm.stop()
    assert cold.returncode != 0 and done.returncode == cold.returncode
    assert str(missing) in done.stdout + done.stderr


def test_without_a_warm_process_tradewinds_dbt_runs_the_installed_dbt(tmp_path: Path) -> None:
    for socket_path in (None, str(tmp_path / "gone.sock")):
        done = run_launcher(["--version"], socket_path, tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"installed: {importlib.metadata.version('dbt-core')}" in done.stdout


def test_a_warm_process_whose_run_ended_does_not_stay_behind(tmp_path: Path) -> None:
    """The run's process died without stopping it (killed): the warm process notices and exits."""
    code = (
        "import time; from orchestration.lib.warm_dbt import start, wait_until_listening\n"
        "w = start(); assert wait_until_listening(w); print(w.process.pid, w.folder, flush=True)\n"
    )
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    pid, folder = parent.stdout.split()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_alive(int(pid)) or Path(folder).exists()):
        time.sleep(0.1)
    assert not _alive(int(pid)) and not Path(folder).exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited (nobody reaps it in this test)


def test_the_warm_process_takes_the_callers_environment_and_folder(tmp_path: Path) -> None:
    """dbt reads its project folder and profile from the caller's working directory and environment."""
    from orchestration.defs.transform import DBT_PROJECT_DIR

    warm = start()
    try:
        assert wait_until_listening(warm), warm.stderr_text()
        env_target = tmp_path / "target"
        extra = {"DBT_TARGET_PATH": str(env_target), "TRADEWINDS_WAREHOUSE": str(tmp_path / "w.duckdb")}
        done = run_launcher(["--no-use-colors", "parse"], str(warm.socket_path), DBT_PROJECT_DIR, extra)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (env_target / "manifest.json").is_file()  # DBT_TARGET_PATH of the caller, project of its folder
    finally:
        warm.stop()


def _tiny_project(root: Path) -> Path:
    """A one-model dbt-duckdb project whose model reads a var and an environment variable."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        # As the project's: no usage statistics (dbt would write .user.yml into the profiles folder).
        "name: tiny\nversion: '1.0'\nprofile: tiny\nmodel-paths: ['models']\n"
        "flags:\n  send_anonymous_usage_stats: false\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(
        "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('TINY_WAREHOUSE') }}\"\n      threads: 1\n",
        encoding="utf-8",
    )
    (root / "models" / "answer.sql").write_text(
        "{{ config(materialized='table', alias=env_var('TRADEWINDS_TINY_ALIAS', 'answer')) }}\n"
        "select {{ var('answer') }} as answer\n",
        encoding="utf-8",
    )
    return root


def _answer(warehouse: Path, table: str = "answer") -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(f"SELECT answer FROM main.{table}").fetchone()[0]


def test_a_command_runs_on_the_manifest_parsed_ahead_only_when_nothing_it_parsed_changed(tmp_path: Path) -> None:
    """The nightly's warm process parses while the ingest runs and builds on that manifest; a command
    with other vars, another value of a variable the parse read, or edited project files parses
    again (the status says why), so the build never runs on a stale manifest."""
    from orchestration.lib.warm_dbt import ParseSpec

    project = _tiny_project(tmp_path / "tiny")
    warehouse = tmp_path / "tiny.duckdb"
    base_env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    env = base_env | {"TINY_WAREHOUSE": str(warehouse), "DBT_PROFILES_DIR": str(project)}
    parse = ParseSpec(argv=["parse", "--vars", '{"answer": 42}'], env=env, cwd=str(project))

    def build(answer: int, extra: dict[str, str] | None = None, edit: bool = False) -> tuple[str | None, int]:
        warm = start(parse)
        try:
            assert wait_until_listening(warm), warm.stderr_text()
            if edit:  # the project changes between the parse ahead and the command
                deadline = time.monotonic() + 120
                while not (warm.parse_target / "manifest.json").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                (project / "models" / "answer.sql").write_text(
                    "{{ config(materialized='table') }}\nselect {{ var('answer') }} + 1 as answer\n", encoding="utf-8"
                )
            target = {"DBT_TARGET_PATH": str(tmp_path / f"target-{answer}"), "DBT_PROFILES_DIR": str(project)}
            done = run_launcher(
                ["build", "--vars", json.dumps({"answer": answer})],
                str(warm.socket_path),
                project,
                {"TINY_WAREHOUSE": str(warehouse), **target, **(extra or {})},
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return warm.parse_status(), _answer(warehouse)
        finally:
            warm.stop()

    status, answer = build(42)
    assert status == "used" and answer == 42
    assert not (tmp_path / "target-42" / "partial_parse.msgpack").exists()  # dbt did not parse
    assert (tmp_path / "target-42" / "run_results.json").is_file()

    status, answer = build(7)
    assert status.startswith("not used: the command's parse options") and answer == 7
    assert (tmp_path / "target-7" / "partial_parse.msgpack").is_file()  # this one parsed

    status, _ = build(42, {"TRADEWINDS_TINY_ALIAS": "renamed"})
    assert status == "not used: environment variables differ from the parse's: TRADEWINDS_TINY_ALIAS"
    assert _answer(warehouse, "renamed") == 42

    status, answer = build(42, edit=True)
    assert status == "not used: the project's files changed since the parse" and answer == 43
