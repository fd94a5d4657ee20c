"""A throwaway local PostgreSQL server, for the tests and the benchmark of the production instance.

``deploy/dagster.yaml`` keeps Dagster's runs, events and schedules in PostgreSQL. The tests
(``tests/test_instance_postgres.py``) and the benchmark harness (``--instance postgres``) start
their own server with Debian's postgresql binaries (``initdb``, ``pg_ctl``): a new data folder,
127.0.0.1 on a free port, password authentication (scram-sha-256, as a production server), run
as the ``postgres`` system user when the caller is root (the server refuses root). Nothing here
is used by the pipeline itself.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or no user to run them as."""


@dataclass(frozen=True)
class PgServer:
    host: str
    port: str
    user: str
    password: str

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres"
        )
        try:
            conn.autocommit = True
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def instance_env(self, database: str) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables ``deploy/dagster.yaml`` reads (no TLS on a local server)."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": self.port,
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_SSLMODE": "disable",
        }


def pg_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder, else ``initdb`` on PATH."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_postgres(
    user: str = "dagster", password: str = "throwaway-local-password", fsync: bool = False
) -> Iterator[PgServer]:
    """Start a server in a new temporary folder, yield it, stop it and remove the folder.

    ``fsync=False`` (tests): commits skip the disk flush. The benchmark keeps it on, as a
    production server would.
    """
    bindir = pg_bin()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package"
        )
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="tw-pg-"))
    account = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError as exc:
            shutil.rmtree(root)
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' system user to run the server as"
            ) from exc
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}" + ("" if fsync else " -c fsync=off")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}") from exc
    try:
        yield PgServer(host="127.0.0.1", port=str(port), user=user, password=password)
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
