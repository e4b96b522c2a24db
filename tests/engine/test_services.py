"""Service lifecycle on one machine: start, reuse, health, clear start-up errors, stop by PID; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.process import ManagedProcess, ServiceStartError, free_port, pid_alive


def http_server(tmp_path: Path, port: int, **kw) -> ManagedProcess:
    return ManagedProcess(
        name="web", argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        run_dir=tmp_path / "run", health_url=f"http://127.0.0.1:{port}/", cwd=tmp_path,
        startup_timeout_s=kw.pop("startup_timeout_s", 20), **kw,
    )


def test_start_reuse_and_stop_by_pid(tmp_path: Path) -> None:
    svc = http_server(tmp_path, free_port())
    pid = svc.start()
    try:
        assert svc.healthy() and pid_alive(pid)
        assert svc.start() == pid, "a second `up` reuses the running service"
        assert json.loads(svc.pid_file.read_text())["pid"] == pid
    finally:
        assert svc.stop()
    assert not pid_alive(pid) and not svc.pid_file.exists()
    assert svc.stop() is False  # nothing left to stop


def test_a_service_that_dies_during_start_reports_its_log_tail(tmp_path: Path) -> None:
    svc = ManagedProcess(
        name="broken", argv=[sys.executable, "-c", "import sys; print('config value X is invalid'); sys.exit(3)"],
        run_dir=tmp_path / "run", health_url=f"http://127.0.0.1:{free_port()}/", startup_timeout_s=20,
    )
    with pytest.raises(ServiceStartError, match="(?s)broken exited during start-up.*config value X is invalid"):
        svc.start()
    assert svc.pid() is None


def test_port_taken_by_a_foreign_process_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    foreign = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        http_server(tmp_path, port).wait_healthy(foreign.pid)  # wait until it answers
        with pytest.raises(ServiceStartError, match="port taken by a process Ratchet did not start"):
            http_server(tmp_path / "other", port).start()
    finally:
        foreign.terminate()
        foreign.wait()


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    svc = ManagedProcess(name="ghost", argv=[str(tmp_path / "no-such-binary")], run_dir=tmp_path / "run",
                         health_url=f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(ServiceStartError, match="cannot run"):
        svc.start()


def test_vllm_without_a_prepared_model_fails_before_starting(make_settings, tmp_path: Path) -> None:
    from engine.vllm_server import vllm_process

    settings = make_settings(engine={"model_dir": str(tmp_path / "empty-model"), "port": free_port()})
    with pytest.raises(ServiceStartError, match="run `ratchet model prepare` first"):
        vllm_process(settings).start()


def _ratchet(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_status_and_adapter_commands(vllm_url: str, model_dir: Path, tmp_path: Path, random_adapters) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {"RATCHET_DATA_DIR": str(tmp_path / "data"), "RATCHET_ENGINE__VLLM_URL": vllm_url,
           "RATCHET_ENGINE__MODEL_DIR": str(model_dir), "RATCHET_RAG__WEAVIATE_URL": f"http://127.0.0.1:{free_port()}",
           "PYTHONPATH": str(repo)}
    status = _ratchet(["status", "--json"], env, tmp_path)
    rows = {r["name"]: r for r in map(json.loads, status.stdout.splitlines())}
    assert rows["vllm"]["healthy"] is True and rows["database"]["healthy"] is True
    assert rows["weaviate"]["healthy"] is False and status.returncode == 1  # nothing listens there

    assert _ratchet(["adapters", "register", str(random_adapters[0])], env, tmp_path).returncode == 0
    bad = _ratchet(["adapters", "promote", "ratchet-v7"], env, tmp_path)
    assert bad.returncode == 1 and "unknown adapter version 'ratchet-v7'" in bad.stderr
    assert "Traceback" not in bad.stderr
    gated = _ratchet(["adapters", "promote", "ratchet-v1"], env, tmp_path)
    assert gated.returncode == 1 and "no gate report" in gated.stderr  # never evaluated: needs --force
    ok = _ratchet(["adapters", "promote", "ratchet-v1", "--force"], env, tmp_path)
    assert ok.returncode == 0, ok.stderr
    listing = _ratchet(["adapters", "list", "--json"], env, tmp_path).stdout.splitlines()
    assert json.loads(listing[-1])["aliases"]["production"]["version"] == "ratchet-v1"


def test_cli_up_reuses_and_down_stops_local_services(vllm_url: str, model_dir: Path, tmp_path: Path) -> None:
    """`ratchet up` with vLLM attached by URL starts the local Weaviate, a second `up` reuses it, `down` ends it."""
    repo = Path(__file__).resolve().parents[2]
    http_port = free_port()
    env = {"RATCHET_DATA_DIR": str(tmp_path / "data"), "RATCHET_ENGINE__VLLM_URL": vllm_url,
           "RATCHET_ENGINE__MODEL_DIR": str(model_dir), "RATCHET_RAG__WEAVIATE_HTTP_PORT": str(http_port),
           "RATCHET_RAG__WEAVIATE_GRPC_PORT": str(free_port()), "PYTHONPATH": str(repo)}
    pid_file = tmp_path / "data" / "run" / "weaviate.pid"
    try:
        first = _ratchet(["up"], env, tmp_path)
        assert first.returncode == 0, first.stderr
        pid = json.loads(pid_file.read_text())["pid"]
        assert pid_alive(pid)
        status = _ratchet(["status", "--json"], env, tmp_path)
        assert status.returncode == 0, status.stdout + status.stderr
        assert all(json.loads(line)["healthy"] for line in status.stdout.splitlines())
        again = _ratchet(["up"], env, tmp_path)
        assert again.returncode == 0 and json.loads(pid_file.read_text())["pid"] == pid
    finally:
        down = _ratchet(["down"], env, tmp_path)
    assert down.returncode == 0 and "weaviate" in down.stderr
    assert not pid_alive(pid)


def _supervise_in_thread(svc: ManagedProcess, **kw):
    import threading

    from engine.supervisor import supervise

    stop, errors, restarted = threading.Event(), [], []

    def run() -> None:
        try:
            supervise([svc], interval_s=0.2, stop=stop, on_restart=restarted.append, **kw)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return stop, thread, errors, restarted


def _wait(condition, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_supervisor_restarts_a_killed_service_and_runs_the_hook(tmp_path: Path) -> None:
    import signal

    svc = http_server(tmp_path, free_port())
    first = svc.start()
    stop, thread, errors, restarted = _supervise_in_thread(svc, max_restarts=3)
    try:
        os.kill(first, signal.SIGKILL)
        _wait(lambda: restarted and svc.pid() not in (None, first) and svc.healthy())
        assert [s.name for s in restarted] == ["web"] and errors == []
    finally:
        stop.set()
        thread.join(10)
        svc.stop()


def test_supervisor_gives_up_on_a_service_that_keeps_dying(tmp_path: Path) -> None:
    import signal

    from engine.supervisor import SupervisorGaveUp

    svc = http_server(tmp_path, free_port())
    svc.start()
    stop, thread, errors, restarted = _supervise_in_thread(svc, max_restarts=1)
    try:
        os.kill(svc.pid(), signal.SIGKILL)
        _wait(lambda: len(restarted) == 1 and svc.healthy())
        os.kill(svc.pid(), signal.SIGKILL)
        thread.join(30)
        assert len(errors) == 1 and isinstance(errors[0], SupervisorGaveUp)
        assert "web went down again after 1 restarts" in str(errors[0])
    finally:
        stop.set()
        svc.stop()
