"""Where a project keeps its state: one home folder for Delta tables, fitted stages, Dagster
and MLflow, so two copies of a project can run side by side and tests can use a temp folder.

Read when called, never at import: `FF_ASSETS_HOME` (default `.ff_assets` under the current
folder), `DAGSTER_HOME` (default `<home>/dagster`), `FF_DATA_DIR`, the folder source
functions read their input files from (default `../shared/data`), and Spark's master
(`FF_ASSETS_SPARK_MASTER`, default `local[*]`) and extra settings (`FF_ASSETS_SPARK_CONF`, a
file in Spark's `spark-defaults.conf` format), and the storage root of the Delta tables, view
recipes and fitted stages (`FF_ASSETS_STORAGE`, default the home: a URI such as
`s3a://bucket/prefix` puts them on object storage, the rest of the home stays local).
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
STORAGE_ENV = "FF_ASSETS_STORAGE"
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


_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)")
# Schemes with no FileSystem in Apache Hadoop (EMR's own `s3` is not in the pyspark wheel).
_NOT_HADOOP = {"s3": "s3a", "s3n": "s3a"}
_STORAGE_FIX = (
    "use an absolute path or a Hadoop file system URI: s3a://bucket/prefix, gs://bucket/prefix, "
    "abfss://container@account.dfs.core.windows.net/prefix or file:///absolute/path"
)


def storage_root(configured: str | None = None) -> str:
    """Where Delta tables, view recipes and fitted stages live: the root configured, else
    `$FF_ASSETS_STORAGE`, else `""` (the home's own folders).

    An absolute path is returned resolved; a URI (`scheme://authority/path`, any scheme Hadoop
    has a file system for) without its trailing `/`. Anything else, a relative path
    included, is refused naming where it came from.
    """
    chosen = (configured or os.environ.get(STORAGE_ENV) or "").strip()
    if not chosen:
        return ""
    source = "storage" if configured else f"${STORAGE_ENV}"
    if chosen.startswith(("/", "~")):
        return str(Path(chosen).expanduser().resolve())
    match = _URI.fullmatch(chosen)
    if match is None:
        raise ConfigurationError(
            f"{source} is {chosen!r}, neither an absolute path nor a URI: {_STORAGE_FIX}."
        )
    scheme, authority, path = match.groups()
    scheme = scheme.lower()
    if scheme in _NOT_HADOOP:
        raise ConfigurationError(
            f"{source} is {chosen!r}: Hadoop has no file system for {scheme}://, use "
            f"{_NOT_HADOOP[scheme]}://{authority}{path} (and the hadoop-aws package)."
        )
    if scheme == "file":
        if authority not in ("", "localhost") or not path.startswith("/"):
            raise ConfigurationError(
                f"{source} is {chosen!r}, not a local file URI: write file:///absolute/path."
            )
        return "file://" + str(Path(path).resolve())
    if not authority:
        raise ConfigurationError(
            f"{source} is {chosen!r}, a URI without a bucket, container or host: {_STORAGE_FIX}."
        )
    return f"{scheme}://{authority}{path.rstrip('/')}"


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


# A folder of the project's storage: a local path, or a URI (`s3a://bucket/prefix/tables`).
Location = Path | str


@dataclass(frozen=True)
class ProjectPaths:
    """The folders and URIs under one home, and its storage root (`storage_root`: "" for
    the home itself)."""

    home: Path
    storage: str = ""

    @classmethod
    def resolve(
        cls, home: str | os.PathLike[str] | None = None, storage: str | None = None
    ) -> ProjectPaths:
        """The paths for `home`, else `$FF_ASSETS_HOME`, else `./.ff_assets`; `storage` is
        taken as it is (resolve it with `storage_root` where the environment is read)."""
        chosen = home or os.environ.get(HOME_ENV) or Path.cwd() / ".ff_assets"
        return cls(home=Path(chosen).expanduser().resolve(), storage=storage or "")

    def _stored(self, name: str) -> Location:
        if not self.storage:
            return self.home / name
        if self.storage.startswith("/"):
            return Path(self.storage) / name
        return f"{self.storage}/{name}"

    @property
    def tables(self) -> Location:
        """Delta tables, one folder per asset key."""
        return self._stored("tables")

    @property
    def fitted(self) -> Location:
        """Fitted Spark ML stages, one folder per asset key and run."""
        return self._stored("fitted")

    @property
    def views(self) -> Location:
        """View recipes, one JSON file per asset key."""
        return self._stored("views")

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
