"""Nothing acknowledged is lost: kill -9 a process in the middle of a burst of votes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fb_helpers import answer_record

from feedback import FeedbackStore

HERE = Path(__file__).parent


def test_kill_9_loses_no_acknowledged_vote(store: FeedbackStore) -> None:
    ids = [store.record_answer(answer_record(question=f"q{i}")) for i in range(5)]
    args = [sys.executable, str(HERE / "crash_voter.py"), str(store.settings.data_dir)]
    if store.settings.database_url:
        args.append(store.settings.database_url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    child.stdin.write(" ".join(ids) + "\n")
    child.stdin.flush()
    acked: list[tuple[str, str]] = []
    deadline = time.monotonic() + 120
    while len(acked) < 150 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        if line.startswith("ACK "):
            acked.append(tuple(line.split()[1:]))
    os.kill(child.pid, signal.SIGKILL)  # mid-burst: it is writing the next vote right now
    child.wait()
    assert len(acked) >= 150, "the child did not get going"
    stored = {(aid, user) for aid in ids for user in store.votes(aid)}
    missing = [a for a in acked if a not in stored]
    assert not missing, f"{len(missing)} acknowledged votes lost, e.g. {missing[:3]}"
