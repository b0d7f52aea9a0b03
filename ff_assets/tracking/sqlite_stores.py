"""New SQLite MLflow stores, created from a template migrated once per machine and MLflow
version.

MLflow creates the tables of a new SQL store with alembic migrations, and alembic keeps the
migration it runs in module globals (`alembic.op`, `alembic.context`) that every thread shares.
Dagster uses alembic too, under its own lock: each new Dagster instance, and each new run's
SQLite event log, stamps its schema. A thread migrating a new MLflow store while another stamps
breaks one or both ("KeyError: 'script'", `op` None, DDL run on the other thread's connection).
Only another process keeps alembic to itself, so the migration runs in a child process.

That child costs about 7 s (MLflow's import and some forty migrations), paid by every new
project home, every test store and every first CLI run. MLflow has no API to copy a store,
and a migrated SQLite store is one file, so the child migrates a template once (per machine,
user and MLflow version, under the temp folder) and each new store is a copy of it. The one
value MLflow fills from the creating process, the `Default` experiment's artifact location
(`./mlruns/0` resolved against the working directory), and its creation time are set in the
copy as MLflow would have set them, with the standard library's `sqlite3`: that is the only
write to MLflow's tables outside MLflow (its `experiments` table has kept these columns since
MLflow 1.0).
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

_CREATE_STORE = (
    "import sys; from mlflow.tracking import MlflowClient; "
    "MlflowClient(tracking_uri=sys.argv[1]).search_experiments(max_results=1)"
)
_DEFAULT_EXPERIMENT = "0"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI; None for another scheme or in-memory."""
    scheme, _, rest = uri.partition(":///")
    database = rest.split("?", 1)[0]
    if scheme != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database)


def create_sqlite_store(uri: str, timeout: float = 300.0) -> None:
    """Create the tables of a new SQLite store (a copy of the migrated template). Nothing to
    do for an existing store, another scheme or an in-memory database. Two processes creating
    the same store at once both end with the same, complete store."""
    path = _sqlite_path(uri)
    if path is None or _exists(path):
        return
    template = _template(timeout)
    path.parent.mkdir(parents=True, exist_ok=True)  # as MLflow does for a new SQLite store
    staged = path.with_name(f".{path.name}.{_unique()}.new")
    try:
        staged.write_bytes(template.read_bytes())
        _as_if_created_here(staged)
        try:
            os.link(staged, path)  # fails when another process created the store first
        except OSError:  # it exists (an empty file is not a store yet), or no hard links here
            if not _exists(path):
                os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _unique() -> str:
    """A name no other thread or process stages under."""
    return f"{os.getpid()}-{threading.get_ident()}"


def _exists(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _template(timeout: float) -> Path:
    """The migrated, never-used template store of this MLflow version (made when missing)."""
    folder = Path(tempfile.gettempdir()) / f"ff_assets-{getpass.getuser()}-mlflow-stores"
    template = folder / f"mlflow-{mlflow.__version__}.db"
    if _exists(template):
        return template
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".{template.name}.{_unique()}.new"
    staged.unlink(missing_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-c", _CREATE_STORE, f"sqlite:///{staged}"],
            check=True, capture_output=True, text=True, timeout=timeout, cwd=folder,
        )  # fmt: skip
        os.replace(staged, template)  # atomic: a reader sees no template or a whole one
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
        raise MlflowException(f"creating the new store failed: {last[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise MlflowException(f"creating the new store took over {timeout:.0f} s") from exc
    finally:
        staged.unlink(missing_ok=True)
    return template


def _as_if_created_here(database: Path) -> None:
    """Set the `Default` experiment's artifact location and times as MLflow sets them when
    it creates a store in this process: `./mlruns/0` under the working directory, now."""
    location = str(Path.cwd() / "mlruns" / _DEFAULT_EXPERIMENT)
    now = int(time.time() * 1000)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
            "last_update_time = ? WHERE experiment_id = ?",
            (location, now, now, int(_DEFAULT_EXPERIMENT)),
        )
    connection.close()
