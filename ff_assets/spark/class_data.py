"""A class-data archive for the Spark driver's JVM (HotSpot's dynamic AppCDS): the classes a
driver loaded, dumped to a file when it exits, which later drivers map instead of loading,
parsing and verifying Spark's and Delta's classes again.

Why: a fresh driver of a short run spends most of its time warming up. On the 2-core CI kind
a plain PySpark script writing a 200-row Delta table took 43.8 s, of which the session's
start 13.8 s; with the archive 20.9 s and 8.7 s (measured, `BENCHMARKS.md`). Every
`ff-assets materialize` and every Dagster run worker starts such a driver.

Why by hand: Java 19's `-XX:+AutoCreateSharedArchive` does all of this, but the brief pins
Java 17, which only has the two halves, `-XX:ArchiveClassesAtExit` and
`-XX:SharedArchiveFile`, and Spark has no setting for either. And a Java 17 driver that maps a
truncated archive dies of SIGBUS (measured), so a dump is adopted only once a JVM has checked
it whole:
1. No archive yet: the driver dumps at exit to `<key>.<pid>.dump` (its own file, so drivers
   starting together never write one file), with checksums, and records the driver's pid
   and class path.
2. A later driver finds a dump whose writer and driver have both exited, maps it in a
   `java -version` on the writer's class path with `-Xshare:on -XX:+VerifySharedSpaces`
   (every page read, the checksums compared), and only if that exits 0 renames it to
   `<key>.jsa`. A bad dump is deleted, and this driver dumps anew.
3. With `<key>.jsa` there, a driver maps it. The JVM itself still checks that the archive
   matches (its build, its class path) and falls back to loading classes when it does not.

The key covers what decides the driver's classes: the Java binary, the pyspark install and the
jars Spark is told to add. The archive is about 200 MB per key; a driver touches its own at
each start and deletes the files of other keys untouched for 30 days (`STALE_S`). Turn it off
by giving the driver `-Xshare:off` (or any archive option of your own) in
`spark.driver.extraJavaOptions`.
Linux only (the driver's class path is read from `/proc`); elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JAVA_OPTIONS = "spark.driver.extraJavaOptions"
QUIET = "-Xlog:cds*=off"  # a mismatched archive is not the user's error: no warning
_OWN_OPTIONS = ("SharedArchiveFile", "ArchiveClassesAtExit", "-Xshare")
_KEYED = ("spark.jars.packages", "spark.jars", "spark.driver.extraClassPath")
_VERIFY_TIMEOUT_S = 120
_UNRECORDED_S = 600  # a dump with no record of its driver: deleted when this old
STALE_S = 30 * 24 * 3600  # another key's archive (an old venv, Java or jar set) unused this long


def default_dir() -> Path:
    """Where archives are kept: beside the Ivy cache, `~/.cache/ff_assets/class-data`."""
    return Path.home() / ".cache" / "ff_assets" / "class-data"


def java_binary() -> Path | None:
    """The `java` pyspark starts: `$JAVA_HOME/bin/java`, else the first on `PATH`."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_key(settings: Mapping[str, str], java: Path) -> str:
    """What decides which classes a driver loads, as a short hash."""
    import pyspark

    # The binary's mtime: a Java updated in place gets a new archive, not one it refuses.
    parts = [str(java), str(java.stat().st_mtime_ns), pyspark.__version__]
    parts.append(str(Path(pyspark.__file__).resolve().parent))
    parts += [f"{k}={settings.get(k, '')}" for k in _KEYED]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class ClassData:
    """The archive of one key in `folder`: the options a new driver gets, and the record of
    the class path a dumping driver runs with."""

    def __init__(self, folder: Path, key: str, java: Path, pid: int | None = None) -> None:
        self.folder, self.key, self.java = folder, key, java
        self.pid = os.getpid() if pid is None else pid
        self.archive = folder / f"{key}.jsa"
        self.dump = folder / f"{key}.{self.pid}.dump"
        self.record = folder / f"{key}.{self.pid}.driver"

    def options(self) -> str:
        """The driver's JVM options: map the archive, or dump one at exit. Adopts a finished
        dump of a driver that has exited, once a JVM has checked it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._adopt_finished_dumps()
        self._sweep_other_keys()
        if self.archive.exists():
            with contextlib.suppress(OSError):  # its last use, for other keys' sweeps
                os.utime(self.archive)
            return f"-XX:SharedArchiveFile={self.archive} {QUIET}"
        return f"-XX:ArchiveClassesAtExit={self.dump} -XX:+VerifySharedSpaces {QUIET}"

    def dumping(self) -> bool:
        return not self.archive.exists()

    def record_driver(self, driver: int | None) -> None:
        """Keep the running driver's pid and class path beside its future dump: the check
        needs the class path, and the dump is finished only once that JVM has exited."""
        classpath = _classpath_of(driver) if driver else None
        if classpath is None:
            return
        temporary = self.record.with_suffix(".tmp")
        with contextlib.suppress(OSError):  # no record: the dump is deleted when it is old
            temporary.write_text(json.dumps({"driver": driver, "classpath": classpath}))
            temporary.replace(self.record)

    def _adopt_finished_dumps(self) -> None:
        """Check each dump whose driver has exited: the first whole one becomes the archive
        when there is none; the rest, and records left without a dump, are deleted."""
        writers = {p.with_suffix("") for p in self.folder.glob(f"{self.key}.*.*")}
        for stem in sorted(writers):
            dump, record = (stem.with_name(f"{stem.name}{end}") for end in (".dump", ".driver"))
            driver = _read_record(record)
            if not _finished(stem, driver, dump):
                continue
            wanted = not self.archive.exists() and driver is not None and dump.exists()
            if wanted and _verified(self.java, dump, driver["classpath"]):
                dump.replace(self.archive)
            for left in (dump, record):
                with contextlib.suppress(FileNotFoundError):
                    left.unlink()

    def _sweep_other_keys(self) -> None:
        """Delete the files of other keys untouched for `STALE_S`: each archive is about
        200 MB, and a key no driver starts with again (a removed venv, an updated Java) would
        keep its archive forever. A driver touches its archive at every start."""
        cutoff = time.time() - STALE_S
        for path in self.folder.iterdir():
            if path.name.startswith(f"{self.key}."):
                continue
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()


def with_archive(settings: dict[str, str], folder: Path) -> ClassData | None:
    """Add the archive's options to `settings` (in place) unless the driver's options already
    choose about class sharing; `None` when nothing was added."""
    if not sys.platform.startswith("linux"):
        return None
    given = settings.get(JAVA_OPTIONS, "")
    java = java_binary()
    if java is None or any(option in given for option in _OWN_OPTIONS):
        return None
    data = ClassData(folder, archive_key(settings, java), java)
    try:
        added = data.options()
    except OSError:  # a read-only or full cache folder: start without the archive
        return None
    settings[JAVA_OPTIONS] = f"{given} {added}".strip()
    return data


def wait_for_dump(folder: Path, writer: int, timeout_s: float = 300.0) -> bool:
    """Wait until the driver that the process `writer` recorded in `folder` has exited, so
    its dump is complete (a driver dumps as it exits, after its Python process); whether it
    did in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = (_read_record(r) for r in folder.glob(f"*.{writer}.driver"))
        if not any(_alive(int(r["driver"])) for r in records if r is not None):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def driver_pid() -> int | None:
    """The JVM pyspark started for this process: its child running SparkSubmit."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != os.getpid():
                continue
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
            if b"org.apache.spark.deploy.SparkSubmit" in command:
                return int(stat.parent.name)
    return None


def _classpath_of(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        for flag in ("-cp", "-classpath", "--class-path"):
            if flag in command:
                return command[command.index(flag) + 1]
    return None


def _read_record(record: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(record.read_text())
    return None


def _finished(stem: Path, driver: dict[str, Any] | None, dump: Path) -> bool:
    """Whether the writer of `<key>.<pid>` is done: its process and its driver have exited
    (a driver dumps as it exits, after its Python process), or, with no record of the
    driver, the dump is untouched for `_UNRECORDED_S`."""
    writer = stem.name.split(".")[1]
    if not writer.isdigit() or _alive(int(writer)):
        return False
    if driver is not None:
        return not _alive(int(driver["driver"]))
    try:
        return time.time() - dump.stat().st_mtime > _UNRECORDED_S
    except FileNotFoundError:
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _verified(java: Path, dump: Path, classpath: str) -> bool:
    """Whether a JVM maps `dump` whole: every region read and its checksum compared."""
    # A bad dump crashes this JVM on purpose: no hs_err_pid*.log in the caller's folder.
    command = [
        str(java), "-Xshare:on", "-XX:+VerifySharedSpaces", f"-XX:SharedArchiveFile={dump}",
        "-Xlog:disable", "-XX:ErrorFile=/dev/null", "-XX:-CreateCoredumpOnCrash",
        "-cp", classpath, "-version",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=_VERIFY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
