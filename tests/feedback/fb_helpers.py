"""Helpers of the learning-loop tests: a throwaway local PostgreSQL server (initdb in a temp dir, started
and stopped by PID) and plausible answer records."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from engine.process import free_port, pid_alive
from feedback import AnswerRecord


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL binaries (newest version), or None when the package is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the 'postgres' account then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server on a free loopback port; yields the admin SQLAlchemy URL; stops it by PID."""
    root = Path(tempfile.mkdtemp(prefix="ratchet-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    try:
        _start(bin_dir, root, data, sock, port)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}") from exc
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _stop(pid)
        shutil.rmtree(root, ignore_errors=True)


def _start(bin_dir: Path, root: Path, data: Path, sock: Path, port: int) -> None:
    subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                              "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    opts = f"-p {port} -k {sock} -h 127.0.0.1 -c fsync=on"
    subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                              "-w", "-t", "60", "start"]), check=True, capture_output=True)


def _stop(pid: int, timeout_s: float = 30.0) -> None:
    """Fast shutdown (SIGINT) of the server we started; SIGKILL if it does not go in time."""
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def answer_record(question: str = "How many vacation days do I get?", answer: str = "25 days [1].",
                  **overrides) -> AnswerRecord:
    """A plausible answer record (tests override what they need)."""
    fields = dict(
        question=question, standalone_query=question, history=[], chunk_ids=["doc1#0"],
        chunk_hashes=["abc123"],
        prompt=[{"role": "system", "content": "Answer from the context.\n[1] Vacation: 25 days."},
                {"role": "user", "content": question}],
        answer=answer, adapter_version=None, alias="production", sampling={"temperature": 0.2},
        guardrails={"input": "pass"}, timings_ms={"total": 12.0}, source="cli",
    )
    fields.update(overrides)
    return AnswerRecord(**fields)
