"""PostgreSQL from Debian's package (`postgresql`, binaries in /usr/lib/postgresql/<N>/bin):
a cluster initdb'd in a temp folder, served on 127.0.0.1 on a free port, with a role that logs
in with a password and a database it owns; stopped and removed when the block ends.

initdb and postgres refuse to run as root: as root (here and in CI) they run as the `postgres`
system user the package creates, in a temp folder that user owns.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql

from ff_assets_tests.services.process import LOOPBACK, Started, free_port, started

SERVER_USER = "postgres"  # the system user Debian's package creates
SUPERUSER = "postgres"  # the cluster's superuser, reached on the unix socket only (trust)


@dataclass(frozen=True)
class Postgres:
    """A running server: how a client reaches the database (TCP, password), and the process."""

    host: str
    port: int
    database: str
    username: str
    password: str
    server: Started

    @property
    def url(self) -> str:
        return (
            f"postgresql://{self.username}:{self.password}@{self.host}:{self.port}/{self.database}"
        )


def bindir() -> Path:
    """The newest installed PostgreSQL's binaries (`scripts/setup` installs the package)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): "
            "run scripts/setup, or apt-get install postgresql."
        )
    return Path(found[-1])


def _as_server_user(command: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return list(command)


def _run(command: Sequence[str]) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        raise RuntimeError(f"{command[0]} exited with {done.returncode}:\n{output}")


def _ready(pg_isready: Path, port: int) -> bool:
    command = [str(pg_isready), "-q", "-h", LOOPBACK, "-p", str(port)]
    return subprocess.run(command).returncode == 0


@contextmanager
def postgres_server(
    log: Path, *, database: str = "dagster", username: str = "dagster"
) -> Iterator[Postgres]:
    """A PostgreSQL server for the block, its output in `log`: `username` logs in over TCP on
    127.0.0.1 with a random password (scram-sha-256) and owns `database`."""
    binaries = bindir()
    folder = Path(tempfile.mkdtemp(prefix="ff_assets_pg_"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, SERVER_USER, SERVER_USER)
        data = folder / "data"
        _run([
            str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
        ])  # fmt: skip
        port = free_port()
        command = _as_server_user([
            str(binaries / "postgres"), "-D", str(data), "-c", f"listen_addresses={LOOPBACK}",
            "-c", f"port={port}", "-c", f"unix_socket_directories={folder}",
        ])  # fmt: skip
        ready = lambda: _ready(binaries / "pg_isready", port)  # noqa: E731
        with started(command, log=log, ready=ready) as server:
            try:
                password = secrets.token_urlsafe(18)
                _create(folder, port, database, username, password)
                yield Postgres(LOOPBACK, port, database, username, password, server)
            finally:
                # A fast shutdown (disconnects clients); `started` then kills what is left.
                subprocess.run(
                    _as_server_user(
                        [str(binaries / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]
                    ),
                    capture_output=True, timeout=60,
                )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _create(socket_dir: Path, port: int, database: str, username: str, password: str) -> None:
    """The role (with its password, sent as a parameter, never in a command line) and its
    database, through the superuser's unix socket."""
    connection = psycopg2.connect(
        host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres"
    )
    try:
        connection.autocommit = True  # CREATE DATABASE refuses a transaction block
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(username)),
                [password],
            )
            cursor.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(username)
                )
            )
    finally:
        connection.close()
