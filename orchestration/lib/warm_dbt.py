"""A dbt process started ahead of the build, so that its imports are done when the build begins.

A ``dbt build`` spends ~2.5 s of a one-day night importing dbt and its DuckDB adapter before it
reads a file (timestamps of its log against the step's). The nightly run starts that process
when its resources are set up (:func:`start`, from ``TradewindsDbtCliResource``): it imports
dbt while the ingest runs, then waits on a Unix socket. dagster-dbt runs the build as always,
through the executable ``tradewinds-dbt`` (:func:`launch`): it hands the warm process its
arguments, environment, working directory and its own stdin, stdout and stderr, and exits with
the build's exit code. So dagster-dbt reads the same structured log from the same pipe; only
who imported dbt, and when, changed.

The warm process runs one dbt command and exits. ``tradewinds-dbt`` runs the installed ``dbt``
in its place (``exec``) when no warm process was started for it (any run but the nightly one,
a second dbt command in a run) or it cannot be reached before the command is handed over.

**Pre-parsed manifest.** Started with a :class:`ParseSpec` (the nightly's: the build's ``--vars``,
target and environment, known when the run starts), the process also parses the project while
the ingest runs (``dbtRunner().invoke(["parse", ...])``, partially, from the project's parse
state), and runs the build on that manifest (dbt's documented reuse of a parsed manifest) instead
of parsing again and writing ``manifest.json``: ~1 s at the head of the build. Only when nothing
the parse read can differ: the same project files (their digest, before the parse and when the
command comes), the same ``--vars``, ``--target``, ``--profile`` and project and profiles folders,
and the same value of every ``TRADEWINDS_*`` and ``DBT_*`` variable (but the build's own target
and log folders and day window, unless the parse read them) and of every variable the parse
recorded or ``profiles.yml`` and ``dbt_project.yml`` read. Otherwise dbt parses as always; the
process says which in ``parse-status.txt`` of its folder (:meth:`WarmDbt.parse_status`).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

#: Where ``tradewinds-dbt`` finds the warm process: the path of its socket.
SOCKET_ENV = "TRADEWINDS_DBT_WARM_SOCKET"
#: What the warm process imports before it waits: dbt's CLI and the adapter the profile loads.
IMPORTS = ("dbt.cli.main", "dbt.adapters.duckdb")
_MAX_MESSAGE = 1 << 20
#: Files of the warm process's folder: the parse to do ahead, and whether the command used it.
PARSE_SPEC_FILE = "parse.json"
PARSE_STATUS_FILE = "parse-status.txt"
#: The parse ahead's target folder (its manifest, log and parse state), inside the process's folder.
PARSE_TARGET = "parse"
#: The options of a command that change what dbt parses.
PARSE_OPTIONS = ("--vars", "--target", "-t", "--profile", "--project-dir", "--profiles-dir")
#: The variables that differ between the parse and the build without changing what was parsed:
#: the build's own artifact and log folders, and its day window (read when models run), unless
#: the parse recorded reading them.
PER_COMMAND_ENV = ("DBT_TARGET_PATH", "DBT_LOG_PATH", "TRADEWINDS_DBT_MIN_DATE", "TRADEWINDS_DBT_MAX_DATE")
_ENV_PREFIXES = ("TRADEWINDS_", "DBT_")
_ENV_VAR_CALL = re.compile(r"env_var\(\s*['\"]([^'\"]+)['\"]")


@dataclass(frozen=True)
class ParseSpec:
    """A ``dbt parse`` for the warm process to run ahead: its arguments (``["parse", ...]``),
    environment and folder (the project); ``parse_state``: the project's ``partial_parse.msgpack``,
    copied into the parse's own target folder (:func:`start` sets ``target_path``) so that it
    parses partially."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    parse_state: str | None = None
    target_path: str = ""


@dataclass
class WarmDbt:
    """A started warm dbt process (the parent's handle)."""

    process: subprocess.Popen
    socket_path: Path
    folder: Path
    #: Whether a command was handed to it (it serves one).
    taken: bool = False

    def stop(self) -> None:
        """End the process if it is still waiting (nothing was handed to it) and remove its folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def parse_target(self) -> Path:
        """The parse ahead's target folder (its ``partial_parse.msgpack`` once it parsed)."""
        return self.folder / PARSE_TARGET

    def parse_status(self) -> str | None:
        """Whether the command ran on the manifest parsed ahead (``"used"``), else why not; None when
        no parse was asked for or no command came."""
        path = self.folder / PARSE_STATUS_FILE
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def stderr_text(self) -> str:
        """What the process wrote before it took over a build's output (import errors)."""
        path = self.folder / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start(parse: ParseSpec | None = None) -> WarmDbt:
    """Start a warm dbt process; it imports dbt in the background (and runs ``parse``, when given)
    and serves one command."""
    folder = Path(tempfile.mkdtemp(prefix="tw-dbt-warm-"))
    socket_path = folder / "dbt.sock"
    if parse is not None:
        target = folder / PARSE_TARGET
        target.mkdir()
        if parse.parse_state and Path(parse.parse_state).is_file():
            shutil.copyfile(parse.parse_state, target / "partial_parse.msgpack")
        env = {**parse.env, "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
        spec = replace(parse, env=env, target_path=str(target))
        (folder / PARSE_SPEC_FILE).write_text(json.dumps(asdict(spec)), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # as dagster-dbt runs dbt: every log line at once
    with (folder / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(socket_path), str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            start_new_session=True,  # a Ctrl-C of the run reaches dbt through tradewinds-dbt, once
        )
    return WarmDbt(process, socket_path, folder)


def launcher_path() -> str:
    """``tradewinds-dbt`` beside this interpreter (installed with the project)."""
    path = Path(sys.executable).parent / "tradewinds-dbt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is not installed: run ./run setup (it installs the project's scripts)")
    return str(path)


# ---------------------------------------------------------------- the warm process


def serve(socket_path: str, parent_pid: int) -> int:
    """Listen, import dbt, run the one command handed over; its exit code (also sent back)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)
    for module in IMPORTS:
        __import__(module)
    folder = Path(socket_path).parent
    spec_path = folder / PARSE_SPEC_FILE
    parsed = (
        _parse_ahead(ParseSpec(**json.loads(spec_path.read_text(encoding="utf-8")))) if spec_path.exists() else None
    )
    listener.settimeout(1.0)
    while True:
        try:
            conn, _ = listener.accept()
            break
        except TimeoutError:
            if os.getppid() != parent_pid:  # the run is gone: nobody will hand a command over
                listener.close()
                shutil.rmtree(Path(socket_path).parent, ignore_errors=True)
                return 0
    listener.close()
    conn.settimeout(None)
    message, fds = _receive(conn)
    conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(message["env"])
    os.chdir(message["cwd"])
    sys.argv = list(message["argv"])
    manifest = None
    if parsed is not None:
        why_not = parsed if isinstance(parsed, str) else parsed.mismatch(sys.argv[1:], message["env"], message["cwd"])
        manifest = parsed.manifest if why_not is None and not isinstance(parsed, str) else None
        (folder / PARSE_STATUS_FILE).write_text("used" if why_not is None else why_not, encoding="utf-8")
    code = _run_dbt(sys.argv[1:], manifest)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    conn.close()
    return code


def _run_dbt(args: list[str], manifest: Any = None) -> int:
    """dbt's console script (``dbt.cli.main:cli``) on ``args``, its exit code; on ``manifest`` when
    given (as ``dbtRunner(manifest=...)`` runs a command, but with the console script's exit codes)."""
    from dbt.cli.main import cli

    try:
        cli.main(args=args, prog_name="dbt", obj={"manifest": manifest} if manifest is not None else None)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    return 0


@dataclass
class _Parsed:
    """The manifest parsed ahead, and what it was parsed from."""

    spec: ParseSpec
    manifest: Any
    files: str
    #: Variables whose values the parse depends on beyond the prefixed ones (recorded by dbt, or
    #: read by ``profiles.yml`` and ``dbt_project.yml``).
    watched: frozenset[str]

    def mismatch(self, argv: list[str], env: dict[str, str], cwd: str) -> str | None:
        """Why a command cannot run on this manifest (None: it can)."""
        if os.path.realpath(cwd) != os.path.realpath(self.spec.cwd):
            return f"not used: the command runs in {cwd}, the parse ran in {self.spec.cwd}"
        theirs, ours = _parse_options(argv), _parse_options(self.spec.argv[1:])
        if theirs != ours:
            return f"not used: the command's parse options {theirs} differ from the parse's {ours}"
        names = {k for k in (*env, *self.spec.env) if k.startswith(_ENV_PREFIXES)} | self.watched
        names -= set(PER_COMMAND_ENV) - self.watched
        changed = sorted(n for n in names if env.get(n) != self.spec.env.get(n))
        if changed:
            return f"not used: environment variables differ from the parse's: {', '.join(changed)}"
        from orchestration.lib.dbt_files import project_files_digest

        if project_files_digest(Path(cwd)) != self.files:
            return "not used: the project's files changed since the parse"
        return None


def _parse_options(args: list[str]) -> list[tuple[str, str]]:
    """The (option, value) pairs of ``args`` that change what dbt parses, in order."""
    out = []
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in PARSE_OPTIONS:
            out.append((name, value if eq else (args[i + 1] if i + 1 < len(args) else "")))
    return out


def _parse_ahead(spec: ParseSpec) -> _Parsed | str:
    """Run ``spec`` (a ``dbt parse``) in this process with its environment and folder, then put both
    back: the manifest and what it was parsed from, or why there is none (the command then parses
    as always; the parse's log is in the spec's target folder)."""
    from dbt.cli.main import dbtRunner

    from orchestration.lib.dbt_files import project_files_digest

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        os.environ.clear()
        os.environ.update(spec.env)
        os.chdir(spec.cwd)
        files = project_files_digest(Path(spec.cwd))
        result = dbtRunner().invoke(list(spec.argv))
    except Exception as exc:  # noqa: BLE001 - any failure here only means the command parses itself
        return f"not used: the parse ahead raised {type(exc).__name__}: {exc}"
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    if not result.success or result.result is None:
        return f"not used: the parse ahead failed: {result.exception}"
    watched = set(getattr(result.result, "env_vars", {}) or {})
    profiles_dir = spec.env.get("DBT_PROFILES_DIR", spec.cwd)
    for path in (Path(profiles_dir) / "profiles.yml", Path(spec.cwd) / "dbt_project.yml"):
        if path.is_file():
            watched |= set(_ENV_VAR_CALL.findall(path.read_text(encoding="utf-8")))
    return _Parsed(spec, result.result, files, frozenset(watched))


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(_MAX_MESSAGE, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    while not data.endswith(b"\n"):
        more = conn.recv(_MAX_MESSAGE)
        if not more:
            raise ConnectionError("the command was cut off")
        data += more
    if len(fds) != 3:
        raise ConnectionError(f"expected stdin, stdout and stderr, got {len(fds)} descriptors")
    return json.loads(data), list(fds)


# ---------------------------------------------------------------- tradewinds-dbt


def launch() -> None:
    """``tradewinds-dbt ARGS``: ``dbt ARGS`` in the warm process named by ``SOCKET_ENV``, else the installed dbt."""
    path = os.environ.get(SOCKET_ENV)
    if path:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
        except OSError:
            conn.close()  # not started, or gone: run dbt here instead
        else:
            sys.exit(_delegate(conn))
    # The dbt the resource ran before (``transform.dbt_executable``): from PATH, else beside this interpreter.
    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    os.execv(dbt, [dbt, *sys.argv[1:]])


def _delegate(conn: socket.socket) -> int:
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    message = json.dumps({"argv": ["dbt", *sys.argv[1:]], "env": env, "cwd": os.getcwd()}).encode() + b"\n"
    conn.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    reader = conn.makefile("rb")
    started = reader.readline()
    if not started:
        print("tradewinds-dbt: the warm dbt process ended before it took the command", file=sys.stderr)
        return 1
    pid = json.loads(started)["pid"]

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    finished = reader.readline()
    if not finished:
        print("tradewinds-dbt: the warm dbt process ended without an exit code", file=sys.stderr)
        return 1
    return int(json.loads(finished)["exit"])


def wait_until_listening(warm: WarmDbt, timeout: float = 30.0) -> bool:
    """Whether the process's socket exists within ``timeout`` (tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if warm.socket_path.exists():
            return True
        if warm.process.poll() is not None:
            return False
        time.sleep(0.02)
    return False


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
