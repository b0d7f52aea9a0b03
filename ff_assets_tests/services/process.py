"""One started server: a process group on loopback, waited for until it answers, stopped
(SIGTERM, then SIGKILL) when the `with` block ends, whatever happened inside it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Started:
    """A running server: its process and the file its output goes to."""

    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, SIGKILL it if it is still there after `timeout`."""
        stop_group(self.process, timeout)


def stop_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass


@contextmanager
def started(
    command: Sequence[str],
    *,
    log: Path,
    ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> Iterator[Started]:
    """Run `command` in a process group of its own until the block ends; enter the block once
    `ready()` is true (fail with the server's output if it exits or `timeout` passes)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            list(command), stdout=sink, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )  # fmt: skip
    server = Started(process, log)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with {process.returncode} before it was ready:\n"
                    + server.output()[-4000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{command[0]} was not ready after {timeout:.0f} s:\n" + server.output()[-4000:]
                )
            time.sleep(0.25)
        yield server
    finally:
        server.stop()
