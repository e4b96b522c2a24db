"""Structured JSON logs: one JSON object per line, the request id on every line inside a request context."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging
from engine.logs import configure_logging, get_logger, request_context
configure_logging("INFO", json_logs=True)
with request_context("Ev0123SLACK") as rid:
    get_logger("bot.pipeline").info("pipeline.answered", adapter="ratchet-v2", total_ms=812.5)
    logging.getLogger("uvicorn.error").warning("a library line")
get_logger("bot.pipeline").info("outside")
"""


def test_json_logs_carry_the_request_id() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stderr
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == ["pipeline.answered", "a library line", "outside"]
    assert lines[0]["request_id"] == lines[1]["request_id"] == "Ev0123SLACK"
    assert lines[0]["adapter"] == "ratchet-v2" and lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["level"] == "warning"
    assert "request_id" not in lines[2]
