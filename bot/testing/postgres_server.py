"""A throwaway local PostgreSQL server (Debian's binaries; initdb in a temp dir, started and stopped by PID)
for the tests and the fault bench, which also kills it with SIGKILL and starts it again on the same data."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.process import free_port, pid_alive


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL binaries (newest version), or None when the package is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the 'postgres' account then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    """One server on a free loopback port; ``url`` is its admin SQLAlchemy URL."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ratchet-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.pid: int | None = None

    def start(self) -> None:
        """initdb (the first time), then start and wait until it accepts connections."""
        try:
            if not self.data.exists():
                subprocess.run(_as_owner([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
                                          "--auth=trust", "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
            opts = f"-p {self.port} -k {self.sock} -h 127.0.0.1 -c fsync=on"
            subprocess.run(_as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                                      str(self.root / "log"), "-w", "-t", "60", "start"]), check=True,
                           capture_output=True)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}") from exc
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def kill(self, timeout_s: float = 30.0) -> None:
        """SIGKILL the postmaster; wait until its backends noticed and exited, then drop its pid file (an
        unreaped postmaster stays a zombie under a PID 1 that does not reap, and its pid and socket lock files
        block a new start)."""
        if self.pid is None:
            return
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while _backends(self.data) and time.monotonic() < deadline:
            time.sleep(0.1)
        for stale in [self.data / "postmaster.pid", *self.sock.iterdir()]:
            stale.unlink(missing_ok=True)
        self.pid = None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Fast shutdown (SIGINT); SIGKILL if it does not go in time."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + timeout_s
            while pid_alive(self.pid):
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    break
                time.sleep(0.1)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


def _backends(data: Path) -> bool:
    """Whether a live process still works in ``data`` (a postmaster or a backend: their working directory)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(data):
                    return True
            except OSError:
                continue
    return False


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server; yields its admin URL; stops it afterwards."""
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
