"""Background service processes on one machine: start, health-wait, stop by PID.

Each service has a pid file and a log file under ``<data_dir>/run``. ``ratchet up`` starts services
detached (their own session), so they outlive the CLI; ``ratchet down`` ends them by the recorded PID.
The pid file also records the process's start time: a PID the kernel has since given to another program
(the service died, the machine rebooted) is recognised as stale and that program is never signalled.
Old pid files holding only a PID count only when the process's command line is the service's.
A failed start raises :class:`ServiceStartError` carrying the tail of the service's log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from engine.errors import RatchetError
from engine.logs import get_logger

log = get_logger(__name__)


class ServiceStartError(RatchetError, RuntimeError):
    """A service did not become healthy; ``str()`` includes its log tail."""


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks after boot (``/proc/<pid>/stat`` field 22); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 2xx."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


@dataclass
class ManagedProcess:
    """A service Ratchet starts and stops itself."""

    name: str
    argv: list[str]
    run_dir: Path
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    startup_timeout_s: float = 300.0
    preflight: Callable[[], None] | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The recorded PID if that very process (same start time) is still alive."""
        try:
            text = self.pid_file.read_text().strip()
            record = json.loads(text) if text.startswith("{") else {"pid": int(text)}
            pid, started = int(record["pid"]), record.get("start_time")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not pid_alive(pid):
            return None
        same = (process_start_time(pid) == started if started is not None
                else _cmdline(pid) == [str(a) for a in self.argv])  # an old pid file without a start time
        if not same:
            log.warning("service.stale_pid_file", service=self.name, pid=pid,
                        reason="the PID now belongs to another process")
            return None
        return pid

    def _write_pid(self, pid: int) -> None:
        self.pid_file.write_text(json.dumps({"pid": pid, "start_time": process_start_time(pid)}))

    def healthy(self) -> bool:
        return http_ok(self.health_url)

    def start(self) -> int:
        """Start the service (or reuse the running one) and wait until it is healthy."""
        running = self.pid()
        if running is not None:
            self.wait_healthy(running)
            log.info("service.reused", service=self.name, pid=running)
            return running
        if self.healthy():
            raise ServiceStartError(
                f"{self.name}: something else already answers at {self.health_url} "
                "(port taken by a process Ratchet did not start); stop it or change the port"
            )
        if self.preflight is not None:
            self.preflight()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with self.log_file.open("ab") as logf:
            logf.write(f"\n--- start {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServiceStartError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        self._write_pid(proc.pid)
        log.info("service.starting", service=self.name, pid=proc.pid, log=str(self.log_file))
        try:
            self.wait_healthy(proc.pid, proc)
        except ServiceStartError:
            self.stop()
            raise
        return proc.pid

    def wait_healthy(self, pid: int, proc: subprocess.Popen | None = None) -> None:
        """Poll the health URL until it answers, the process dies, or the timeout passes."""
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return
            exited = proc.poll() is not None if proc is not None else not pid_alive(pid)
            if exited:
                raise ServiceStartError(
                    f"{self.name} exited during start-up. Last lines of {self.log_file}:\n"
                    f"{log_tail(self.log_file)}"
                )
            time.sleep(1.0)
        raise ServiceStartError(
            f"{self.name} not healthy at {self.health_url} after {self.startup_timeout_s:.0f}s. "
            f"Last lines of {self.log_file}:\n{log_tail(self.log_file)}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """End the recorded process group by PID (TERM, then KILL). True if something was stopped."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        log.info("service.stopped", service=self.name, pid=pid)
        return True
