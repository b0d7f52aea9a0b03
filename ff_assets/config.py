"""Where a project keeps its state: one home folder for Delta tables, fitted stages, Dagster
and MLflow, so two copies of a project can run side by side and tests can use a temp folder.

Read when called, never at import: `FF_ASSETS_HOME` (default `.ff_assets` under the current
folder), `DAGSTER_HOME` (default `<home>/dagster`), `FF_DATA_DIR`, the folder source
functions read their input files from (default `../shared/data`), and Spark's master
(`FF_ASSETS_SPARK_MASTER`, default `local[*]`) and extra settings (`FF_ASSETS_SPARK_CONF`, a
file in Spark's `spark-defaults.conf` format).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ff_assets.core.errors import ConfigurationError

HOME_ENV = "FF_ASSETS_HOME"
DATA_DIR_ENV = "FF_DATA_DIR"
SPARK_MASTER_ENV = "FF_ASSETS_SPARK_MASTER"
SPARK_CONF_ENV = "FF_ASSETS_SPARK_CONF"
LOCAL_MASTER = "local[*]"
# The master URL schemes Spark's own launcher accepts (SparkContext's master parsing).
_MASTER_PREFIXES = ("local", "spark://", "yarn", "k8s://", "mesos://")


def data_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the one configured, else `$FF_DATA_DIR`, else `../shared/data`."""
    chosen = configured or os.environ.get(DATA_DIR_ENV) or Path.cwd().parent / "shared" / "data"
    return Path(chosen).expanduser().resolve()


def spark_master(configured: str | None = None) -> str:
    """Spark's master URL: the one configured, else `$FF_ASSETS_SPARK_MASTER`, else
    `local[*]`; refused (naming where it came from) unless it is a URL Spark takes."""
    chosen = configured or os.environ.get(SPARK_MASTER_ENV) or LOCAL_MASTER
    if not chosen.strip().startswith(_MASTER_PREFIXES):
        source = "spark_master" if configured else f"${SPARK_MASTER_ENV}"
        raise ConfigurationError(
            f"{source} is {chosen!r}, not a Spark master URL: use local[*], local[N], "
            "spark://host:7077, yarn or k8s://https://host:port."
        )
    return chosen.strip()


def spark_conf(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Extra Spark settings from a file in `spark-defaults.conf` format (`key value` per
    line, `#` comments): the one given, else `$FF_ASSETS_SPARK_CONF`, else none."""
    chosen = path or os.environ.get(SPARK_CONF_ENV)
    if not chosen:
        return {}
    source = Path(chosen).expanduser()
    if not source.is_file():
        raise ConfigurationError(
            f"${SPARK_CONF_ENV} names {source}, which is not a file: point it at a "
            "spark-defaults.conf style file, or unset it."
        )
    settings = {}
    for number, line in enumerate(source.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        # Spark's loader is java.util.Properties: `key value`, `key=value` or `key: value`.
        match = re.fullmatch(r"(spark\.[^\s=:]+)\s*[\s=:]\s*(\S.*)", text)
        if match is None:
            raise ConfigurationError(
                f"{source}:{number}: {text!r} is not a Spark setting: write one "
                "`spark.some.key value` per line."
            )
        key, value = match.groups()
        settings[key] = value.strip()
    return settings


def redact_uri(uri: str) -> str:
    """`uri` with the password of its user info replaced by `***`: what metadata, logs and
    errors show of a tracking or database URI (`http://ml:***@mlflow:5000`)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def redact(text: str, uri: str) -> str:
    """`text` with the password of `uri`, wherever it appears, replaced by `***`."""
    password = urlsplit(uri).password
    return text.replace(uri, redact_uri(uri)).replace(password, "***") if password else text


@dataclass(frozen=True)
class ProjectPaths:
    """The folders and URIs under one home."""

    home: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> ProjectPaths:
        """The paths for `home`, else `$FF_ASSETS_HOME`, else `./.ff_assets`."""
        chosen = home or os.environ.get(HOME_ENV) or Path.cwd() / ".ff_assets"
        return cls(home=Path(chosen).expanduser().resolve())

    @property
    def tables(self) -> Path:
        """Delta tables, one folder per asset key."""
        return self.home / "tables"

    @property
    def fitted(self) -> Path:
        """Fitted Spark ML stages, one folder per asset key and run."""
        return self.home / "fitted"

    @property
    def views(self) -> Path:
        """View recipes, one JSON file per asset key."""
        return self.home / "views"

    @property
    def dagster_home(self) -> Path:
        """`$DAGSTER_HOME` when set, else `<home>/dagster`."""
        configured = os.environ.get("DAGSTER_HOME")
        return Path(configured).expanduser().resolve() if configured else self.home / "dagster"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The default MLflow tracking and registry store: SQLite under the home."""
        return f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"
