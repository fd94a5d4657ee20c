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
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Where ``tradewinds-dbt`` finds the warm process: the path of its socket.
SOCKET_ENV = "TRADEWINDS_DBT_WARM_SOCKET"
#: What the warm process imports before it waits: dbt's CLI and the adapter the profile loads.
IMPORTS = ("dbt.cli.main", "dbt.adapters.duckdb")
_MAX_MESSAGE = 1 << 20


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

    def stderr_text(self) -> str:
        """What the process wrote before it took over a build's output (import errors)."""
        path = self.folder / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start() -> WarmDbt:
    """Start a warm dbt process; it imports dbt in the background and serves one command."""
    folder = Path(tempfile.mkdtemp(prefix="tw-dbt-warm-"))
    socket_path = folder / "dbt.sock"
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
    code = _run_dbt(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    conn.close()
    return code


def _run_dbt(args: list[str]) -> int:
    """dbt's console script (``dbt.cli.main:cli``) on ``args``, its exit code."""
    from dbt.cli.main import cli

    try:
        cli.main(args=args, prog_name="dbt")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    return 0


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
