"""Small files of the project's storage (view recipes, fit pointers, Delta's commit entries)
read and written through Hadoop's FileSystem API, so one code path serves a local folder and
any Hadoop file system URI (`s3a://`, `gs://`, `abfss://`, `file://`, ...).

PySpark has no public Python API for Hadoop's file systems: the running session's JVM
(`SparkContext._jvm`, its Hadoop configuration from `_jsc`) is how PySpark code reaches them.
The session is the active one (`SparkSession.active()`), the one Delta and Spark ML write with.

A local path (`Path`, or a string without a scheme) is resolved as Spark resolves it, against
`fs.defaultFS` (the local disk unless a cluster sets another), so these files sit beside the
tables and fits Spark writes. On the local disk, the raw local file system is used (no `.crc`
sidecar files) and what must survive a crash is fsynced (Hadoop's local streams do not).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ff_assets.config import Location
from ff_assets.core.errors import FFAssetsError

# Object stores where a written object becomes visible only whole, when its upload completes,
# and a read after it sees the new object (S3 and GCS are strongly consistent): writing the
# object in place replaces it atomically. Their rename is a copy and a delete, not atomic, so
# there the temp-file-and-rename of other file systems would be the weaker choice.
WHOLE_ON_CLOSE = frozenset({"s3a", "gs"})


class StorageError(FFAssetsError, OSError):
    """The storage root's file system cannot do what a write needs."""


def join(base: Location, *parts: str) -> Location:
    """`base` with `parts` appended: a `Path` for a path, a URI string for a URI."""
    if isinstance(base, Path):
        return base.joinpath(*parts)
    return "/".join([base.rstrip("/"), *parts])


def sibling(location: Location, name: str) -> Location:
    """The location called `name` in the folder of `location`."""
    if isinstance(location, Path):
        return location.with_name(name)
    return f"{location.rstrip('/').rpartition('/')[0]}/{name}"


def _jvm_path(location: Location) -> tuple[Any, Any]:
    """The Hadoop file system holding `location`, and its Hadoop `Path`."""
    sc = SparkSession.active().sparkContext
    hadoop = sc._jvm.org.apache.hadoop.fs  # type: ignore[union-attr]
    path = hadoop.Path(str(location))
    fs = path.getFileSystem(sc._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if _scheme(fs) == "file":
        fs = fs.getRaw()  # no .crc files beside ours; the checksummed wrapper adds nothing here
    return fs, path


def _local(fs: Any, path: Any) -> str | None:
    """The local file name of `path` when `fs` is the local disk, else None."""
    return str(fs.pathToFile(path).getPath()) if _scheme(fs) == "file" else None


def _scheme(fs: Any) -> str:
    """The scheme of a Hadoop file system (`getScheme()` is not implemented by all)."""
    return str(fs.getUri().getScheme())


def exists(location: Location) -> bool:
    fs, path = _jvm_path(location)
    return bool(fs.exists(path))


def is_file(location: Location) -> bool:
    fs, path = _jvm_path(location)
    return bool(fs.exists(path)) and bool(fs.getFileStatus(path).isFile())


def read_text(location: Location) -> str:
    fs, path = _jvm_path(location)
    stream = fs.open(path)
    try:
        return bytes(stream.readAllBytes()).decode("utf-8")
    finally:
        stream.close()


def names(folder: Location) -> list[str]:
    """The names of the entries of `folder` ([] when it does not exist)."""
    fs, path = _jvm_path(folder)
    if not fs.exists(path):
        return []
    return [status.getPath().getName() for status in fs.listStatus(path)]


def glob(pattern: Location) -> list[str]:
    """The locations matching a Hadoop glob (`folder/part-*`), as strings."""
    fs, path = _jvm_path(pattern)
    return [str(status.getPath().toString()) for status in fs.globStatus(path) or []]


def has_entry_named(root: Location, name: str) -> bool:
    """Whether a file or folder called `name` is anywhere under `root` (a few list calls per
    folder: for the small trees of a saved stage)."""
    fs, path = _jvm_path(root)
    return fs.exists(path) and any(True for _ in _walk(fs, path, name))


def _walk(fs: Any, folder: Any, name: str) -> Iterator[Any]:
    for status in fs.listStatus(folder):
        if status.getPath().getName() == name:
            yield status
            return
        if status.isDirectory():
            yield from _walk(fs, status.getPath(), name)


def replace_whole(location: Location, text: str) -> None:
    """Write `text` to `location`, replacing what it held atomically: a reader sees the old
    contents or the new ones, whole, and a crash leaves one of them.

    On `WHOLE_ON_CLOSE` object stores the object is written in place (see there). Elsewhere
    the text goes to a new uniquely named file beside it, made durable (fsync on the local
    disk), then renamed over the target: POSIX rename on the local disk, rename2 on HDFS (see
    `_rename_over` for file systems whose rename refuses an existing target).
    """
    fs, path = _jvm_path(location)
    data = bytearray(text.encode("utf-8"))
    if _scheme(fs) in WHOLE_ON_CLOSE:
        _write(fs, path, data, overwrite=True)
        return
    _, tmp = _jvm_path(sibling(location, f".{path.getName()}.{uuid.uuid4().hex}"))
    _write(fs, tmp, data, overwrite=False)
    local = _local(fs, tmp)
    if local:
        _fsync(local)
    if not fs.rename(tmp, path) and not _rename_over(fs, tmp, path):
        fs.delete(tmp, False)
        raise StorageError(
            f"{location}: the {_scheme(fs)}:// file system refused to rename a file over an "
            "existing one, which replacing a view recipe or a fit pointer needs: keep the storage "
            "root on the local disk, HDFS, S3 (s3a://) or GCS (gs://)."
        )
    if local:
        _fsync(os.path.dirname(local))


def _rename_over(fs: Any, tmp: Any, path: Any) -> bool:
    """Rename `tmp` over an existing `path` where `FileSystem.rename` refuses to (HDFS
    semantics, also viewfs and ABFS): `FileContext.rename` with `OVERWRITE`, an atomic rename2
    on HDFS. A file system without one gets Hadoop's emulation, a delete then a rename: a crash
    between them leaves no file (a fit's folders stay; the next save writes a new pointer)."""
    if not fs.exists(path):
        return False
    sc = SparkSession.active().sparkContext
    hadoop = sc._jvm.org.apache.hadoop.fs  # type: ignore[union-attr]
    conf = sc._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    rename = getattr(hadoop, "Options$Rename")
    options = sc._gateway.new_array(rename, 1)  # type: ignore[union-attr]
    options[0] = rename.valueOf("OVERWRITE")
    hadoop.FileContext.getFileContext(path.toUri(), conf).rename(tmp, path, options)
    return True


def _write(fs: Any, path: Any, data: bytearray, *, overwrite: bool) -> None:
    stream = fs.create(path, overwrite)
    try:
        stream.write(data)
    finally:
        stream.close()


def sync_tree(root: Location) -> None:
    """Make a tree Spark wrote durable before anything points at it: fsync every file and
    folder under `root`, and its parent, on the local disk. Elsewhere a file is durable once
    its writer closed it (object stores, HDFS), so nothing is left to do."""
    fs, path = _jvm_path(root)
    local = _local(fs, path)
    if local is None:
        return
    for folder, _, files in os.walk(local):
        for name in files:
            _fsync(os.path.join(folder, name))
        _fsync(folder)
    _fsync(os.path.dirname(local))


def _fsync(name: str) -> None:
    fd = os.open(name, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
