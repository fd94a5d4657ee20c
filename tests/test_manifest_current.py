"""The manifest Dagster loads is parsed from the dbt project's files on disk.

After a pull or a deployment that changes a model, loading the definitions (``tradewinds
nightly``, the webserver, the daemon, a run's worker) parses the project again instead of
building tonight's asset graph and dbt selection from the old manifest. Real ``dbt parse`` runs
on a copy of the project.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
from pathlib import Path

import pytest
from dagster_dbt import DbtProject

from orchestration.defs.transform import DBT_PROJECT_DIR, ensure_manifest_current
from orchestration.defs.transform.unchanged import FILES_DIGEST_NAME
from orchestration.lib.settings import Settings

NEW_MODEL = "stg_manifest_probe"


@pytest.fixture
def project(tmp_path: Path) -> DbtProject:
    copy = tmp_path / "project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return DbtProject(project_dir=copy, profiles_dir=copy, target="duckdb")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def model_names(project: DbtProject) -> set[str]:
    manifest = json.loads(project.manifest_path.read_text(encoding="utf-8"))
    return {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_a_missing_or_stale_manifest_is_parsed_again_and_a_current_one_is_kept(
    project: DbtProject, settings: Settings
) -> None:
    assert ensure_manifest_current(project, settings) == "missing"
    digest = project.manifest_path.with_name(FILES_DIGEST_NAME)
    assert project.manifest_path.is_file() and digest.is_file()
    assert (project.project_dir / "target" / "partial_parse.msgpack").is_file()
    assert NEW_MODEL not in model_names(project)
    parsed_at = project.manifest_path.stat().st_mtime_ns

    assert ensure_manifest_current(project, settings) is None  # current: not parsed again
    assert project.manifest_path.stat().st_mtime_ns == parsed_at

    # A pull adds a model: the next load of the definitions sees it.
    (project.project_dir / "models" / "staging" / f"{NEW_MODEL}.sql").write_text("select 1 as probe\n")
    assert ensure_manifest_current(project, settings) == "parsed from other project files than the ones on disk"
    assert NEW_MODEL in model_names(project)
    assert ensure_manifest_current(project, settings) is None
    # dbt parsed in a folder of its own, removed afterwards.
    assert not list((project.project_dir / "target").glob(".prepare-*"))


def test_a_project_that_does_not_parse_keeps_the_previous_manifest(project: DbtProject, settings: Settings) -> None:
    ensure_manifest_current(project, settings)
    before = project.manifest_path.read_bytes()
    broken = project.project_dir / "models" / "staging" / f"{NEW_MODEL}.sql"
    broken.write_text("select * from {{ ref('no_such_model') }}\n")
    with pytest.raises(RuntimeError, match=r"(?s)dbt parse of .* failed .*previous manifest is kept.*no_such_model"):
        ensure_manifest_current(project, settings)
    assert project.manifest_path.read_bytes() == before
    with pytest.raises(RuntimeError):  # still not current: the next load tries again
        ensure_manifest_current(project, settings)
    broken.unlink()
    assert ensure_manifest_current(project, settings) is None  # the files are those it was parsed from again


def test_a_process_that_waited_for_another_ones_parse_does_not_parse_again(
    project: DbtProject, settings: Settings, tmp_path: Path
) -> None:
    ensure_manifest_current(project, settings)
    target = project.project_dir / "target"
    current = {name: (target / name).read_bytes() for name in ("manifest.json", FILES_DIGEST_NAME)}
    digest = target / FILES_DIGEST_NAME
    digest.write_text("stale\n")  # as after a pull, before any process parsed
    results: list[str | None] = []
    with open(target / ".prepare.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is parsing
        waiting = threading.Thread(target=lambda: results.append(ensure_manifest_current(project, settings)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive()  # it waits for the lock
        for name, content in current.items():  # what the other process's parse leaves
            (target / name).write_bytes(content)
        parsed_at = project.manifest_path.stat().st_mtime_ns
    waiting.join(timeout=120)
    assert results == [None]
    assert project.manifest_path.stat().st_mtime_ns == parsed_at
