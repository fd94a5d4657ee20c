"""The production instance (``deploy/dagster.yaml``) against a real PostgreSQL server.

The test starts its own server (Debian's postgresql package: initdb and pg_ctl, on 127.0.0.1
and a free port, as the ``postgres`` system user when the tests run as root), renders the
instance file from environment variables, materializes a real Tradewinds asset with its
check on that instance, pauses the nightly schedule through the code location, and then
reads PostgreSQL directly: the run, its events and the schedule state are there, and the
``warehouse`` pool was held with its limit of one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.lib.catalog import WAREHOUSE_POOL
from orchestration.lib.instance import TEMPLATE, InstanceConfigError, render_instance_yaml, write_instance_yaml
from orchestration.lib.pgserver import PostgresUnavailable, throwaway_postgres
from tests.conftest import SAMPLE_ENV

DB = "tradewinds_dagster"
USER = "dagster"
PASSWORD = "test-only-password"  # a throwaway server that lives as long as this module's tests


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    try:
        with throwaway_postgres(USER, PASSWORD) as server:
            server.create_database(DB)
            yield {"host": server.host, "port": server.port, "user": USER, "password": PASSWORD, "db": DB}
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def query(pg: dict[str, str], sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=pg["db"])
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_render_fills_placeholders_from_the_environment_and_keeps_secrets_out() -> None:
    text = TEMPLATE.read_text()
    rendered = render_instance_yaml(text, {"TRADEWINDS_RUN_MAX_RETRIES": "3"})
    assert "max_retries: 3" in rendered
    assert "default_limit: 1" in rendered  # the default of the warehouse pool
    assert "password: {env: DAGSTER_PG_PASSWORD}" in rendered  # read by Dagster, never rendered
    assert "${" not in rendered.replace("${...", "")  # every placeholder filled (the comment names the syntax)
    with pytest.raises(InstanceConfigError, match="looks like a secret"):
        render_instance_yaml("password: ${DAGSTER_PG_PASSWORD}", {"DAGSTER_PG_PASSWORD": "x"})
    with pytest.raises(InstanceConfigError, match="NEEDED"):
        render_instance_yaml("x: ${NEEDED}", {})


@pytest.fixture(scope="module")
def instance(postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    base = tmp_path_factory.mktemp("pg_instance")
    home = base / "dagster_home"
    env = {
        "DAGSTER_PG_HOST": postgres["host"],
        "DAGSTER_PG_PORT": postgres["port"],
        "DAGSTER_PG_USER": postgres["user"],
        "DAGSTER_PG_PASSWORD": postgres["password"],
        "DAGSTER_PG_DB": postgres["db"],
        "DAGSTER_PG_SSLMODE": "disable",
        "TRADEWINDS_DAGSTER_LOGS": str(base / "logs"),
        "TRADEWINDS_RUN_MAX_RETRIES": "2",
        "TRADEWINDS_RUN_MAX_RUNTIME_SECONDS": "7200",
        **SAMPLE_ENV,
        "TRADEWINDS_SAMPLE__HISTORY_DAYS": "30",
        "TRADEWINDS_DATA_DIR": str(base / "data"),
        "DAGSTER_HOME": str(home),
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    from orchestration.lib.settings import get_settings

    get_settings.cache_clear()
    write_instance_yaml(home / "dagster.yaml", env=env)
    assert PASSWORD not in (home / "dagster.yaml").read_text()
    try:
        with dg.DagsterInstance.get() as inst:
            yield inst
    finally:
        mp.undo()
        get_settings.cache_clear()


def test_instance_settings_come_from_the_file(instance) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 7200
    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_a_run_its_events_and_the_schedule_state_are_stored_in_postgres(instance, postgres) -> None:
    from orchestration.defs.ingest.assets import build_ingest_asset
    from orchestration.lib.schemas import RAW_TABLES
    from orchestration.lib.settings import get_settings
    from orchestration.lib.warehouse import WarehouseResource

    vat = dg.AssetKey(["raw", "vat_rates"])
    warehouse = WarehouseResource(path=str(get_settings().warehouse))
    result = dg.materialize(
        [build_ingest_asset(RAW_TABLES["vat_rates"])], instance=instance, resources={"warehouse": warehouse}
    )
    assert result.success
    run_id = result.run_id

    assert query(postgres, "SELECT status FROM runs WHERE run_id = %s", (run_id,)) == [("SUCCESS",)]
    events = dict(
        query(postgres, "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", (run_id,))
    )
    assert events.get("ASSET_MATERIALIZATION") == 1
    assert events.get("ASSET_CHECK_EVALUATION") == 1  # gx_raw_vat_rates, the table's inline gate
    assert events.get("PIPELINE_SUCCESS") == 1  # RUN_SUCCESS, stored under its legacy name
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(vat, "gx_raw_vat_rates")]
    )
    assert list(check.values())[0].status.value == "SUCCEEDED"

    # The ingest step ran in the warehouse pool: the pool exists in PostgreSQL with the default
    # limit of one, and the slot was given back when the step finished.
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert info.slot_count == 1
    assert info.active_slot_count == 0
    assert query(postgres, "SELECT count(*) FROM concurrency_slots WHERE concurrency_key = %s", (WAREHOUSE_POOL,)) == [
        (1,)
    ]

    # Schedule state: pause the nightly schedule as the README's operator does; the state is a row in PostgreSQL.
    import sys

    from orchestration.lib.settings import PROJECT_ROOT

    dagster_cli = Path(sys.executable).with_name("dagster")
    stopped = subprocess.run(
        [str(dagster_cli), "schedule", "stop", "nightly_schedule", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert stopped.returncode == 0, stopped.stdout[-2000:] + stopped.stderr[-2000:]
    rows = query(postgres, "SELECT instigator_type, status, instigator_body FROM instigators")
    assert [(kind, status) for kind, status, body in rows if '"nightly_schedule"' in body] == [("SCHEDULE", "STOPPED")]


def test_cli_writes_the_instance_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from orchestration.cli import main

    monkeypatch.setenv("TRADEWINDS_WAREHOUSE_POOL_LIMIT", "2")
    out = tmp_path / "home" / "dagster.yaml"
    assert main(["instance-config", "--output", str(out)]) == 0
    text = out.read_text()
    assert "default_limit: 2" in text and "password: {env: DAGSTER_PG_PASSWORD}" in text
    monkeypatch.setenv("TRADEWINDS_RUN_MAX_RETRIES", "")  # empty: the default
    assert main(["instance-config"]) == 0
    assert "max_retries: 1" in capsys.readouterr().out
