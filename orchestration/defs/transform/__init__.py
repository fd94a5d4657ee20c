"""Transform domain: the dbt project (dbt-duckdb) as Dagster assets.

dbt sources map onto the ingest assets (``raw/<table>``), models onto ``<schema>/<model>``
with the group taken from the folder they live in (``staging``, ``intermediate``,
``selection``, ``service``, ``risk``; seeds ``reference``, snapshots ``snapshots``), and dbt
tests show as asset checks. Descriptions and column schemas come from the dbt docs (the
``.yml`` files), owners from ``meta: {owner: ...}`` or the domain's team, and the marts
carry the daily freshness policy of the night's products (``orchestration/lib/catalog.py``).
"""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from orchestration.defs.ingest.partitions import run_window
from orchestration.lib.catalog import OWNERS, WAREHOUSE_POOL, daily_product_freshness, table_schema
from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import PROJECT_ROOT, Settings, get_settings
from orchestration.lib.warehouse import RAW_SCHEMA, WarehouseResource

if TYPE_CHECKING:
    from orchestration.defs.transform.unchanged import SkipPlan

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "reference", "snapshots")
#: The columns dbt adds to every snapshot (check strategy).
SNAPSHOT_META_COLUMNS = {
    "dbt_scd_id": ("varchar", "Unique id of this version of the row (dbt snapshot)."),
    "dbt_updated_at": ("timestamp", "When dbt recorded this version."),
    "dbt_valid_from": ("timestamp", "Load time from which this version was current (knowledge time)."),
    "dbt_valid_to": ("timestamp", "Load time at which a newer version replaced it or it vanished; NULL while current."),
}


class TradewindsTranslator(DagsterDbtTranslator):
    """Keys and groups derived from dbt metadata, never from hard-coded model names."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([RAW_SCHEMA, dbt_resource_props["name"]])
        return dg.AssetKey([model_schema(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return group_from_path(dbt_resource_props.get("original_file_path", ""))

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        """``meta: {owner: ...}`` (a string or a list) or dagster-dbt's ``meta.dagster.owners``, else the team."""
        meta = {**(dbt_resource_props.get("config", {}).get("meta") or {}), **(dbt_resource_props.get("meta") or {})}
        owners = meta.get("owner") or (meta.get("dagster") or {}).get("owners")
        if owners:
            return [owners] if isinstance(owners, str) else list(owners)
        return [OWNERS["transform"]]

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "snapshot" and not props.get("columns"):
            spec = spec.replace_attributes(
                metadata={**spec.metadata, "dagster/column_schema": snapshot_column_schema(manifest, props)}
            )
        if props["resource_type"] == "model" and model_schema(props) == "marts":
            spec = spec.replace_attributes(freshness_policy=daily_product_freshness())
        return spec


def model_schema(props: Mapping[str, Any]) -> str:
    """The warehouse schema of a model: its configured schema, else its top folder."""
    schema = props.get("config", {}).get("schema") or props.get("schema")
    if schema in MODEL_SCHEMAS:
        return schema
    fqn = props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else "main"


def snapshot_column_schema(manifest: Mapping[str, Any], props: Mapping[str, Any]) -> dg.TableSchema:
    """A snapshot's columns: those of the relation it snapshots (as documented there) and dbt's own."""
    upstream = [manifest["nodes"][u] for u in props.get("depends_on", {}).get("nodes", []) if u in manifest["nodes"]]
    columns: dict[str, str] = {}
    docs: dict[str, str] = {}
    for node in upstream[:1]:
        for name, col in node.get("columns", {}).items():
            columns[name] = col.get("data_type") or "?"
            docs[name] = col.get("description") or ""
    for name, (kind, doc) in SNAPSHOT_META_COLUMNS.items():
        columns[name], docs[name] = kind, doc
    return table_schema(columns, docs)


def source_column_docs(manifest_path: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """``{raw table: {column: description}}`` from the dbt sources (shown on the ingest assets)."""
    path = manifest_path or dbt_project().manifest_path
    with open(path) as f:
        manifest = json.load(f)
    docs: dict[str, dict[str, str]] = {}
    for source in manifest.get("sources", {}).values():
        if source.get("schema") != RAW_SCHEMA:
            continue
        columns = {name: col.get("description") or "" for name, col in source.get("columns", {}).items()}
        docs.setdefault(source["name"], {}).update({k: v for k, v in columns.items() if v})
    return docs


def group_from_path(path: str) -> str | None:
    """``models/marts/risk/x.sql`` -> ``risk``; ``models/staging/platform/x.sql`` -> ``staging``;
    seeds (markets, FX-free reference lists) -> ``reference``; snapshots -> ``snapshots``."""
    parts = path.split("/")
    if parts[0] == "seeds":
        return "reference"
    if parts[0] == "snapshots":
        return "snapshots"
    if len(parts) < 3 or parts[0] != "models":
        return None
    if parts[1] == "marts" and len(parts) > 3:
        return parts[2]
    return parts[1]


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The thresholds dbt models read as vars, from the one settings object."""
    t = settings.thresholds
    return {
        "freight_spike_wow_pct": t.freight_spike_wow_pct,
        "freight_spike_zscore": t.freight_spike_zscore,
        "freight_spike_critical_pct": t.freight_spike_critical_pct,
        "first_response_sla_hours": t.first_response_sla_hours,
        "transit_delay_hours": t.transit_delay_hours,
        "supplier_concentration_share": t.supplier_concentration_share,
        "add_to_cart_surge_rate": t.add_to_cart_surge_rate,
        "add_to_cart_surge_days": t.add_to_cart_surge_days,
        "tickets_restatement_days": RAW_TABLES["tickets"].restatement_days,
        "reporting_currency": settings.reporting_currency,
    }


def build_dbt_args(settings: Settings) -> list[str]:
    """The dbt command line of the nightly build (pure, unit-tested).

    Unit tests are left out: their inputs are fixed, so they check the code, not the night's
    data (``tests/test_dbt_project.py`` runs them in CI).
    """
    return ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars(settings), sort_keys=True)]


def window_env(window: tuple[str, str] | None) -> dict[str, str]:
    """The run's day range for dbt (``macros/partition_window.sql``): the incremental models
    recompute only those days; empty values (no window) rebuild them in full. Environment
    variables rather than ``--vars``: a var changing every night would make dbt re-parse the
    whole project every night. ``TRADEWINDS_DBT_WINDOWED`` (1 with a window) is what the
    models' configs read while dbt parses them; the days are read only when they run, so a
    new night's days re-parse nothing."""
    start, end = window or ("", "")
    return {
        "TRADEWINDS_DBT_MIN_DATE": start,
        "TRADEWINDS_DBT_MAX_DATE": end,
        "TRADEWINDS_DBT_WINDOWED": "1" if window else "",
    }


def dbt_environment(settings: Settings, warehouse: WarehouseResource, window: tuple[str, str] | None) -> dict[str, str]:
    """What the nightly's dbt process reads from the environment (``profiles.yml``, the window macros).

    ``warehouse``: the run's WarehouseResource (its path, DuckDB memory limit and threads; the
    threads are set by the on-run-start macro ``duckdb_threads``).
    """
    env = {
        "TRADEWINDS_WAREHOUSE": str(os.path.abspath(warehouse.path)),
        "TRADEWINDS_DBT_THREADS": str(settings.dbt.threads),
        "DBT_LOG_LEVEL_FILE": settings.dbt.log_level_file,
        **window_env(window),
    }
    if warehouse.memory_limit:
        env["TRADEWINDS_DUCKDB_MEMORY_LIMIT"] = warehouse.memory_limit
    if warehouse.threads:
        env["TRADEWINDS_DUCKDB_THREADS"] = str(warehouse.threads)
    if settings.dbt.target != "spark" and settings.dbt.raw_parquet_path:
        env["TRADEWINDS_RAW_PARQUET"] = settings.dbt.raw_parquet_path
    return env


def dbt_executable() -> str:
    """dbt from PATH, else the one installed beside this interpreter (``.venv/bin/dbt``).

    ``.venv/bin/tradewinds`` runs without the venv activated; dagster-dbt's preparer looks
    for ``dbt`` on PATH, so the interpreter's bin folder is appended to PATH when needed.
    """
    found = shutil.which("dbt")
    if found:
        return found
    bin_dir = os.path.dirname(sys.executable)
    candidate = os.path.join(bin_dir, "dbt")
    if not os.path.exists(candidate):
        raise FileNotFoundError(f"dbt is not installed: neither on PATH nor at {candidate}; run ./run setup")
    os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + bin_dir
    return candidate


def dbt_launcher() -> str:
    """The dbt executable of the nightly's dbt resource: ``tradewinds-dbt`` (``lib/warm_dbt.py``),
    which runs the command in the run's warm dbt process, or execs the installed dbt."""
    from orchestration.lib.warm_dbt import launcher_path

    dbt_executable()  # dbt must be installed (and its folder on PATH for dagster-dbt) all the same
    return launcher_path()


@lru_cache(maxsize=1)
def dbt_project() -> DbtProject:
    """The one cached DbtProject, its manifest parsed from the project's current files (see
    ``ensure_manifest_current``)."""
    project = new_dbt_project()
    if ensure_manifest_current(project) is None:
        project.prepare_if_dev()
    return project


def new_dbt_project() -> DbtProject:
    """The project as the settings target it, its manifest as it is on disk (``tradewinds prepare``)."""
    dbt_executable()
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=get_settings().dbt.target)


def ensure_manifest_current(project: DbtProject, settings: Settings | None = None) -> str | None:
    """Prepare the manifest (``prepare_manifest``) when it is missing or was parsed from other
    project files than the ones on disk (``dbt_project/target/manifest.files.sha256``: a pull or
    a deployment changed a model, and nobody ran ``tradewinds prepare``). Otherwise Dagster's
    asset graph and the build's selection would come from the old models. Returns why it parsed
    (None: the manifest was current; checking costs a few milliseconds).

    Processes loading the definitions at once (the webserver, the daemon, a run's worker) parse
    one at a time under a lock on the target folder, and a process that waited finds the
    manifest current."""
    import fcntl

    from orchestration.defs.transform.unchanged import manifest_matches_files

    def why() -> str | None:
        if not project.manifest_path.exists():
            return "missing"
        if manifest_matches_files(project.project_dir, project.manifest_path) is None:
            return "parsed from other project files than the ones on disk"
        return None

    if why() is None:
        return None
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".prepare.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = why()
        if reason is None:  # another process prepared it while this one waited
            return None
        log = dg.get_dagster_logger()
        log.info(f"dbt manifest {project.manifest_path} {reason}: parsing the project (tradewinds prepare)")
        prepare_manifest(project, settings)
        return reason


def prepare_manifest(project: DbtProject, settings: Settings | None = None) -> Path:
    """``dbt parse`` with the nightly build's vars, target and environment (warehouse path,
    threads, memory limit): the manifest Dagster loads, and a parse state the first night's build
    can reuse. dbt re-parses the whole project when the vars or the rendered profile differ from
    the saved state's (~2 s more at the start of the build); dagster-dbt's own preparer parses
    without them. Returns the manifest's path.

    dbt parses into a folder of its own (from the project's parse state, so partially); the
    manifest, the parse state and the record of the files parsed then replace the project's one
    file at a time, each in one step: a process loading the definitions meanwhile reads either the
    old manifest or the new one, never half a file. A failed parse leaves the previous ones."""
    from orchestration.defs.transform.unchanged import FILES_DIGEST_NAME, project_files_digest, write_files_digest
    from orchestration.lib.warehouse import WarehouseResource

    settings = settings or get_settings()
    warehouse = WarehouseResource.from_settings(settings)
    files = project_files_digest(project.project_dir)
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    parsing = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target))
    try:
        if (target / "partial_parse.msgpack").is_file():
            shutil.copyfile(target / "partial_parse.msgpack", parsing / "partial_parse.msgpack")
        args = [dbt_executable(), "--no-use-colors", "parse", "--quiet", "--target", settings.dbt.target]
        args += ["--project-dir", str(project.project_dir), "--profiles-dir", str(project.profiles_dir)]
        args += ["--target-path", str(parsing)]
        args += ["--vars", json.dumps(dbt_vars(settings), sort_keys=True)]
        # As a nightly build parses: with a window (the days are not read while parsing). Without
        # the flag the state records it empty, and the first build re-parsed the six models whose
        # configs read it (~0.5 s), as every --next-night of the benchmark did.
        env = {**os.environ, **dbt_environment(settings, warehouse, None), "TRADEWINDS_DBT_WINDOWED": "1"}
        done = subprocess.run(args, env=env, cwd=project.project_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"dbt parse of {project.project_dir} failed (exit {done.returncode}); the previous manifest is "
                f"kept. Fix the project and run `tradewinds prepare`: {(done.stdout + done.stderr).strip()[-4000:]}"
            )
        write_files_digest(project.project_dir, parsing / "manifest.json", files)
        # The record of the files last: until it is in place, the old one says "not current".
        for name in ("partial_parse.msgpack", "semantic_manifest.json", "manifest.json", FILES_DIGEST_NAME):
            if (parsing / name).is_file():
                os.replace(parsing / name, target / name)
    finally:
        shutil.rmtree(parsing, ignore_errors=True)
    return project.manifest_path


def keep_partial_parse(invocation_target: Path, project_target: Path) -> bool:
    """Keep this build's parse state as the project's, so the next night parses partially.

    dagster-dbt seeds each invocation with the project's ``partial_parse.msgpack``, but the
    prepared one was parsed without the nightly's ``--vars`` and warehouse path, which makes
    dbt re-parse the whole project every night. The state of a finished build has both.
    """
    source = Path(invocation_target) / "partial_parse.msgpack"
    if not source.is_file():
        return False
    destination = Path(project_target) / "partial_parse.msgpack"
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(".msgpack.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, destination)  # atomic: a concurrent dbt never reads half a file
    return True


def prune_invocations(project_target: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` build folders dagster-dbt left under the project's target."""
    folders = sorted(
        (p for p in Path(project_target).glob("dbt_models-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in folders[keep:]:
        shutil.rmtree(old)
    return folders[keep:]


#: The warm dbt process of each nightly run in this process (``lib/warm_dbt.py``), until the run's
#: resources are torn down (``WarmDbt.taken`` once it has a command).
_WARM_DBT: dict[str, Any] = {}
#: The job whose runs start a warm dbt process (``orchestration.defs.jobs.NIGHTLY_JOB``).
WARM_DBT_JOB = "nightly"


class TradewindsDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource, minus a ``dbt --version`` subprocess per run (2.6 s here).

    dagster-dbt asks the dbt executable for its version before every build (to tell dbt Core
    from the Fusion engine). The dbt this project runs is dbt Core from the same environment
    (``dbt_executable``; dagster-dbt imports it in-process too), so its version comes from the
    package metadata instead.

    Nor does it open a dbt Core adapter in the Dagster process before each build: dagster-dbt
    uses that handle only for ``fetch_row_counts()`` and ``fetch_column_metadata()``, which this
    project does not call, and opening it imports dbt's adapter and parses its macros
    in-process: 1.7 s of every night (timing ``_initialize_dbt_core_adapter`` in a fresh
    process).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None

    # The nightly run's dbt process is started with the run (``lib/warm_dbt.py``): it imports dbt
    # while the ingest runs, and the build hands it its command through ``tradewinds-dbt`` (the
    # executable of this resource). Only the nightly job (in-process executor: resources are set up
    # once per run); other runs (a mart materialized from the UI) start dbt when they run it.

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        run = context.run
        if run is not None and run.job_name == WARM_DBT_JOB and run.run_id not in _WARM_DBT:
            from orchestration.lib.warm_dbt import start

            _WARM_DBT[run.run_id] = start(self.build_parse_spec(run.tags))

    def build_parse_spec(self, run_tags: Mapping[str, str]) -> Any:
        """The ``dbt parse`` the nightly's warm process runs while the ingest does (``lib/warm_dbt.py``):
        the build's ``--vars``, target and environment as the dbt step and dagster-dbt will set them
        (the warm process checks they did before using it)."""
        from orchestration.lib.warm_dbt import ParseSpec

        settings = get_settings()
        warehouse = WarehouseResource.from_settings(settings)
        env = {
            **os.environ,
            **dbt_environment(settings, warehouse, run_window(run_tags)),
            # What dagster-dbt adds to every dbt command's environment (DbtCliResource.cli).
            "DAGSTER_DBT_CLI": "true",
            "PYTHONUNBUFFERED": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_LOG_FORMAT": "json",
            "DBT_PROJECT_DIR": str(self.project_dir),
            **({"DBT_PROFILES_DIR": str(self.profiles_dir)} if self.profiles_dir else {}),
        }
        argv = ["parse", "--vars", json.dumps(dbt_vars(settings), sort_keys=True)]
        argv += ["--target", self.target] if self.target else []
        state = Path(self.project_dir) / "target" / "partial_parse.msgpack"
        return ParseSpec(argv=argv, env=env, cwd=str(self.project_dir), parse_state=str(state))

    def warm_parse_target(self, run_id: str) -> Path | None:
        """The target folder of the run's parse ahead (its ``partial_parse.msgpack``)."""
        warm = _WARM_DBT.get(run_id)
        return warm.parse_target if warm is not None else None

    def warm_parse_status(self, run_id: str) -> str | None:
        """Whether the run's dbt command ran on the manifest its warm process parsed ahead (``"used"``),
        else why not (None: no warm process, or no command yet)."""
        warm = _WARM_DBT.get(run_id)
        return warm.parse_status() if warm is not None else None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        warm = _WARM_DBT.pop(run.run_id, None) if run is not None else None
        if warm is not None:
            warm.stop()
        super().teardown_after_execution(context)

    def cli(self, args: Sequence[str], **kwargs: Any) -> Any:  # type: ignore[override]
        """dagster-dbt's ``cli``, handing the command to the run's warm dbt process when it has one."""
        from orchestration.lib.warm_dbt import SOCKET_ENV

        context = kwargs.get("context")
        warm = _WARM_DBT.get(context.run.run_id) if context is not None else None
        if warm is None or warm.taken or warm.process.poll() is not None:
            if warm is not None and not warm.taken:
                detail = warm.stderr_text().strip().splitlines()[-1:] or ["no output"]
                context.log.warning(f"the warm dbt process had ended ({detail[0]}): dbt starts afresh")
            return super().cli(args, **kwargs)
        context.log.info(
            f"dbt: the run's warm dbt process (pid {warm.process.pid}, started with the run, its imports done "
            "meanwhile) takes the command"
        )
        warm.taken = True
        os.environ[SOCKET_ENV] = str(warm.socket_path)
        try:
            return super().cli(args, **kwargs)  # dagster-dbt copies the environment here
        finally:
            del os.environ[SOCKET_ENV]


def tests_left_to_gates(manifest: Mapping[str, Any]) -> list[str]:
    """Names of the mart data tests the nightly ``dbt build`` leaves out: those the mart's GX gate
    (``gx_mart_<name>``, run right after the build and blocking every consumer) repeats on the
    same rows. They stay declared in the marts' yml, where the gates' suites are derived from."""
    from orchestration.defs.quality.repeats import MART_SUITE_PREFIX, load_suites, mart_tests_repeated_by_gates
    from orchestration.defs.quality.suites import CONTEXT_DIRNAME, EXPECTATIONS_DIR

    suites = load_suites(EXPECTATIONS_DIR / CONTEXT_DIRNAME / "expectations", MART_SUITE_PREFIX)
    return sorted(t["name"] for t in mart_tests_repeated_by_gates(manifest, suites, DBT_PROJECT_DIR).values())


def build_defs() -> dg.Definitions:
    project = dbt_project()
    manifest = json.loads(project.manifest_path.read_text(encoding="utf-8"))
    left_to_gates = tests_left_to_gates(manifest)

    @dbt_assets(
        manifest=manifest,
        project=project,
        exclude=" ".join(left_to_gates),
        dagster_dbt_translator=TradewindsTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=False)
        ),
        name="dbt_models",
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        settings = get_settings()
        window = run_window(context.run.tags)
        os.environ.update(dbt_environment(settings, warehouse, window))
        args = build_dbt_args(settings)
        unchanged = plan_unchanged(context, settings, manifest, project, warehouse, args, left_to_gates)
        if unchanged is not None and unchanged.skipped:
            # `empty`: leave out exactly these nodes. dbt's default (`eager`) would also leave out
            # every test reading one of them, such as a relationships test from tonight's orders
            # to an unchanged catalog.
            names = [manifest["nodes"][u]["name"] for u in unchanged.skipped]
            args += ["--indirect-selection", "empty", "--exclude", " ".join(names)]
        if context.run.job_name == WARM_DBT_JOB and boot_forecast_workers(settings):
            context.log.info("forecast workers' forkserver booting beside the build (Prophet imported ahead of them)")
        # dbt runs in its own process; its profile reads the warehouse path from the environment.
        warehouse.suspend()
        if settings.dbt.target == "spark":
            prepare_spark_build(settings, warehouse.path, context.log)
        if window:
            context.log.info(
                f"dbt build for the days {window[0]}..{window[1]}: incremental models recompute only those"
            )
        if left_to_gates:
            context.log.info(
                f"{len(left_to_gates)} mart tests are left to the marts' GX gates, which check the same "
                "rules on the same rows after the build"
            )
        invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
        parse_status = dbt.warm_parse_status(context.run.run_id) if isinstance(dbt, TradewindsDbtCliResource) else None
        if parse_status is not None:
            context.log.info(
                "dbt: the build ran on the manifest its warm process parsed during the ingest"
                if parse_status == "used"
                else f"dbt: the manifest parsed ahead was {parse_status}; dbt parsed again"
            )
        if unchanged is not None:
            from orchestration.defs.transform.unchanged import record

            with warehouse.connect() as conn:
                recorded = record(
                    conn,
                    invocation.get_artifact("run_results.json"),
                    unchanged.signatures,
                    unchanged.fingerprints,
                    context.run.run_id,
                )
            context.log.info(f"dbt: {recorded} nodes built or passed tonight, recorded with what they were built from")
        if parse_status == "used":  # the build did not parse: the parse ahead's state is tonight's
            keep_partial_parse(dbt.warm_parse_target(context.run.run_id), project.project_dir / project.target_path)
        else:
            keep_partial_parse(invocation.target_path, project.project_dir / project.target_path)
        removed = prune_invocations(project.project_dir / project.target_path, settings.dbt.keep_invocations)
        if removed:
            context.log.info(
                f"removed {len(removed)} older dbt build folders (keeping {settings.dbt.keep_invocations})"
            )
        if settings.dbt.target == "spark":
            expose_spark_marts(settings, warehouse.path, context)

    return dg.Definitions(
        assets=[dbt_models],
        resources={
            "dbt": TradewindsDbtCliResource(
                project_dir=project, dbt_executable=dbt_launcher(), target=get_settings().dbt.target
            )
        },
    )


def boot_forecast_workers(settings: Settings) -> bool:
    """The nightly's forecast workers' forkserver, booted as the build starts (``forecast.engine.
    boot_forkserver``): its Prophet imports take the core dbt's parsing and planning leave idle, and
    the forecasts' head start after the build forks its worker at once. Only with more than one
    worker (the head start's condition); the server's ~150 MB then sit beside the build."""
    from orchestration.defs.forecast.assets import resolve_workers
    from orchestration.defs.forecast.engine import boot_forkserver

    return resolve_workers(settings.forecast) > 1 and boot_forkserver(settings.forecast.mp_start_method)


def plan_unchanged(
    context: dg.AssetExecutionContext,
    settings: Settings,
    manifest: Mapping[str, Any],
    project: DbtProject,
    warehouse: WarehouseResource,
    args: list[str],
    left_to_gates: list[str],
) -> "SkipPlan | None":
    """What tonight's build leaves out as unchanged (``unchanged.py``); None: nothing is left out or
    recorded (the setting is off, the target is not the DuckDB warehouse, or the run builds a
    subset of the dbt assets). Forgets, before the build, the records of every node it runs."""
    from orchestration.defs.transform import unchanged as u

    if not settings.dbt.skip_unchanged or settings.dbt.target != "duckdb":
        return None
    assets_def = context.assets_def
    if (
        assets_def.keys_by_output_name != assets_def.node_keys_by_output_name
        or assets_def.check_specs_by_output_name != assets_def.node_check_specs_by_output_name
    ):
        # A subset materialized from the UI: dagster-dbt selects it (and the tests of what it
        # selects) itself. Nothing is left out and no record changes: what it rebuilds from the
        # same inputs is what the records describe, and a node it fails keeps its previous relation.
        return None
    files = u.manifest_matches_files(project.project_dir, project.manifest_path)
    trusted = files is not None
    build_key = [
        files or u.project_files_digest(project.project_dir),
        importlib.metadata.version("dbt-core"),
        importlib.metadata.version("dbt-duckdb"),
        settings.dbt.target,
        str(Path(warehouse.path).resolve()),
        args,
    ]
    with warehouse.connect() as conn:
        fingerprints = u.source_fingerprints(conn, manifest)
        schemas = u.source_schemas(conn, manifest)
        signatures = u.node_signatures(manifest, fingerprints, dict(os.environ), json.dumps(build_key), schemas)
        never_run = set(left_to_gates)  # the build never runs these, so they are neither left out nor recorded
        signatures = {n: sig for n, sig in signatures.items() if manifest["nodes"][n]["name"] not in never_run}
        recorded = u.read_records(conn) if trusted else {}
        plan = u.plan_skips(manifest, signatures, recorded, u.existing_relations(conn), fingerprints)
        skipped = set(plan.skipped)
        u.forget(conn, [n for n in signatures if n not in skipped])
    if not trusted:
        context.log.info(
            "dbt: the project's files are not those the prepared manifest was parsed from "
            "(run `tradewinds prepare`): every node is built tonight"
        )
    context.log.info(f"dbt: {len(plan.skipped)} of {len(signatures)} nodes {plan.summary(manifest)}")
    if plan.skipped:
        context.log.info(
            f"dbt: raw tables as the last build read them: {', '.join(plan.unchanged_sources) or 'none'}; "
            f"changed since: {', '.join(plan.changed_sources) or 'none'}"
        )
    return plan


def expose_spark_marts(settings: Settings, warehouse_path: str, context: dg.AssetExecutionContext) -> None:
    """After a build on the local ``spark`` target: the marts it built become views of the
    warehouse over their Parquet files, for the steps after dbt that read the warehouse."""
    from orchestration.lib.spark_raw import expose_spark_tables

    marts = sorted(key.path[-1] for key in context.selected_asset_keys if len(key.path) == 2 and key.path[0] == "marts")
    if marts:
        expose_spark_tables(Path(warehouse_path), settings.spark_warehouse.absolute(), "marts", marts)
        context.log.info(f"{len(marts)} Spark marts exposed as views in the warehouse")


def prepare_spark_build(settings: Settings, warehouse_path: str, log: Any) -> None:
    """Before a build on the local ``spark`` target: the raw zone (Parquet per raw table)
    exported from the warehouse the ingest assets loaded, and the paths dbt's profile reads. On
    a cluster target the cluster's ingest writes the raw zone (``dbt.raw_parquet_path``)."""
    from orchestration.lib.spark_raw import export_raw_parquet

    raw = settings.raw_parquet.absolute()
    counts = export_raw_parquet(Path(warehouse_path), raw)
    log.info(f"raw zone for Spark: {len(counts)} tables, {sum(counts.values())} rows -> {raw}")
    os.environ["TRADEWINDS_RAW_PARQUET"] = str(raw)
    os.environ["TRADEWINDS_SPARK_WAREHOUSE"] = str(settings.spark_warehouse.absolute())
