"""Start the servers under test as subprocesses and read their CPU time and RSS from /proc.

Reading /proc directly keeps the harness free of dependencies beyond the service's own (Linux only).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx2

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_SERVER_NUMBERS = itertools.count(1)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the harness dies, so no server outlives it (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    """A loopback port nobody listens on right now (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from "state" on; the name may hold spaces


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's workers are children of its supervisor)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes, in seconds."""
    total = 0
    for pid in pids:
        if fields := _stat(pid):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLK_TCK


def rss_bytes(pids: list[int]) -> int:
    """Resident set size of these processes, summed."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


class RssSampler:
    """Samples a process tree's RSS in a thread, because the peak is what a burst costs."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(descendants(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(descendants(self.pid)))


class Server:
    """One server under test: a uvicorn subprocess on a loopback port, its output in a log file."""

    def __init__(
        self,
        name: str,
        factory: str,
        port: int,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        workers: int = 1,
        ready_path: str = "/healthz",
    ) -> None:
        self.name, self.port, self.workers = name, port, workers
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if workers > 1:
            args += ["--workers", str(workers)]
        self.log_path = log_dir / f"{next(_SERVER_NUMBERS):02d}-{name.replace(' ', '')}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            args,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout: float = 60.0) -> Server:
        """Block until the server answers and, with several workers, every worker is up."""
        deadline = time.monotonic() + timeout
        with httpx2.Client(timeout=2) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log_path}")
                try:
                    if http.get(self.url + self.ready_path).status_code < 500:
                        want = 1 + self.workers if self.workers > 1 else 1
                        if len(descendants(self.proc.pid)) >= want:
                            break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
                time.sleep(0.05)
        if self.workers > 1:
            time.sleep(0.5)  # let the last worker finish its lifespan startup
        return self

    def pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def rss_bytes(self) -> int:
        return rss_bytes(self.pids())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; only this server's own process (its workers follow)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()
