"""`ratchet down` stops only processes Ratchet started: a stale pid file whose PID now belongs to another
program (PID reuse) is recognised and that program is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

import engine.process as process
from engine.process import ManagedProcess, free_port, pid_alive
from engine.services import down
from engine.settings import Settings


@pytest.fixture
def bystander():
    """Another program, leader of its own process group (what `ratchet down` would kill with killpg)."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # only the process this fixture started, by its PID
    proc.wait()


def test_down_spares_a_program_named_by_an_old_style_pid_file(tmp_path, bystander) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "vllm.pid").write_text(str(bystander.pid))  # vLLM died; its PID was given to `sleep`
    assert down(settings) == []
    assert bystander.poll() is None and pid_alive(bystander.pid), "ratchet down killed an unrelated program"
    assert not (settings.run_dir / "vllm.pid").exists(), "the stale pid file is removed"


def test_down_spares_a_program_whose_start_time_differs(tmp_path, bystander) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.run_dir.mkdir(parents=True)
    started = process.process_start_time(bystander.pid)
    assert started is not None
    (settings.run_dir / "weaviate.pid").write_text(f'{{"pid": {bystander.pid}, "start_time": {started - 1}}}')
    assert down(settings) == []
    assert bystander.poll() is None


def test_a_service_ratchet_started_is_still_stopped(tmp_path) -> None:
    port = free_port()
    svc = ManagedProcess(name="web", argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                         run_dir=tmp_path / "run", health_url=f"http://127.0.0.1:{port}/", startup_timeout_s=30)
    pid = svc.start()
    assert svc.pid() == pid and str(process.process_start_time(pid)) in svc.pid_file.read_text()
    assert ManagedProcess(name="web", argv=["something", "else"], run_dir=tmp_path / "run",
                         health_url=svc.health_url).pid() == pid, "a new-style file needs no command line match"
    assert svc.stop() and not pid_alive(pid)
