"""`ratchet admin` as a real process: serves the page, JSON log lines carry the request id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.process import free_port, http_ok
from tests.admin.conftest import ADMIN_TOKEN

RATCHET = Path(sys.executable).with_name("ratchet")


def test_ratchet_admin_serves_and_logs_json_with_request_ids(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "RATCHET_DATA_DIR": str(tmp_path / "data"), "RATCHET_ADMIN__ADMIN_TOKEN": ADMIN_TOKEN,
           "RATCHET_LOG_JSON": "true"}
    log_path = tmp_path / "admin.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([str(RATCHET), "admin", "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{port}/healthz"):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "ratchet admin did not start"
            time.sleep(0.2)
        resp = httpx.get(f"http://127.0.0.1:{port}/", headers={"x-request-id": "Ev42"})
        assert resp.status_code == 303 and resp.headers["location"] == "/login"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    request = [line for line in lines if line.get("event") == "admin.request" and line.get("path") == "/"]
    assert request and request[0]["request_id"] == "Ev42" and request[0]["status"] == 303
    assert any("Uvicorn running" in line.get("event", "") for line in lines), "library logs are JSON too"
