"""A SparkSession with Delta Lake, its jars resolved from Maven Central and cached locally.

Jar resolution path: Spark's own Ivy resolver (`spark.jars.packages`, set by Delta's
`configure_spark_with_delta_pip`, the way Delta's docs tell pip users to do it). Spark reaches
Maven Central from this machine, so no Maven (`mvn dependency:get`) fallback exists here.
Packages a user configures (`spark.jars.packages`, e.g. `org.apache.hadoop:hadoop-aws:3.5.0`
for `s3a://` storage) are added to Delta's, never in place of them.
Resolved jars are kept in an Ivy directory (`spark.jars.ivy`) so later sessions start from the
cache: `ivy_dir=`, else `$FF_ASSETS_IVY_DIR`, else `~/.cache/ff_assets/ivy`.

delta-spark is pinned to 4.4.0: the pip release 4.4.1 asks for
`io.delta:delta-spark_4.2_2.13:4.4.1`, which Maven Central does not serve (HTTP 404, checked
2026-11-30), while 4.4.0's jars resolve.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

from ff_assets.spark import class_data

IVY_DIR_ENV = "FF_ASSETS_IVY_DIR"
LOOPBACK = "127.0.0.1"
PACKAGES = "spark.jars.packages"


def default_ivy_dir() -> Path:
    """The Ivy cache for resolved jars: `$FF_ASSETS_IVY_DIR` or `~/.cache/ff_assets/ivy`."""
    configured = os.environ.get(IVY_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "ff_assets" / "ivy"


def on_this_machine(master: str) -> bool:
    """Whether every executor of `master` runs on this machine: `local[...]`, or a
    standalone master on loopback (`spark://127.0.0.1:7077`)."""
    host = master.partition("://")[2].partition(":")[0]
    return master.startswith("local") or host in (LOOPBACK, "localhost")


def session_conf(
    *,
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    ivy_dir: Path | None = None,
) -> dict[str, str]:
    """Every setting `spark_session` applies on top of Delta's packages; `conf` wins.

    With a master on this machine the driver listens on loopback only (its RPC and block
    manager ports; the UI is off). A cluster's executors must reach the driver, so with any
    other master Spark's defaults stand: set `spark.driver.host` (and `bindAddress`) to the
    address the executors can reach.
    """
    settings = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.jars.ivy": str((ivy_dir or default_ivy_dir()).expanduser().resolve()),
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if on_this_machine(master):
        settings |= {"spark.driver.bindAddress": LOOPBACK, "spark.driver.host": LOOPBACK}
    settings.update({str(key): str(value) for key, value in (conf or {}).items()})
    # Delta rebuilds a table's state with 50 tasks unless told otherwise: 3-10x slower on
    # small local tables. Follow the shuffle partitions, so a cluster setting scales both.
    settings.setdefault(
        "spark.databricks.delta.snapshotPartitions", settings["spark.sql.shuffle.partitions"]
    )
    return settings


def extra_packages(settings: Mapping[str, str]) -> list[str]:
    """The Maven coordinates of `spark.jars.packages` in `settings` (comma-separated, as
    Spark takes them), to resolve beside Delta's own."""
    return [p.strip() for p in settings.get(PACKAGES, "").split(",") if p.strip()]


def spark_session(
    *,
    master: str = "local[*]",
    app_name: str = "ff_assets",
    conf: Mapping[str, str] | None = None,
    ivy_dir: Path | None = None,
    class_data_dir: Path | None = None,
) -> SparkSession:
    """Get or create the SparkSession with Delta Lake enabled.

    The first call in a process resolves the Delta jars (from the Ivy cache once they are in
    it) and starts the JVM, which maps the class-data archive of an earlier driver or dumps
    one when it exits (`class_data`, in `class_data_dir`, default
    `~/.cache/ff_assets/class-data`); later calls return the same session and cannot change
    static settings such as `master` or the jars.
    """
    settings = session_conf(master=master, conf=conf, ivy_dir=ivy_dir)
    archive = None
    if SparkSession.getActiveSession() is None:  # a new JVM: its options still count
        archive = class_data.with_archive(settings, class_data_dir or class_data.default_dir())
    builder = SparkSession.builder.master(master).appName(app_name)
    builder = configure_spark_with_delta_pip(builder, extra_packages=extra_packages(settings))
    for key, value in settings.items():
        if key != PACKAGES:  # set above, with Delta's: this one would replace them
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    if archive is not None and archive.dumping():
        archive.record_driver(class_data.driver_pid())
    return session
