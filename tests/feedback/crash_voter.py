"""Child process of the crash test: records votes as fast as it can, printing each acknowledged one."""

import sys

from engine.settings import Settings
from feedback import FeedbackStore

settings = Settings(data_dir=sys.argv[1], database_url=sys.argv[2] if len(sys.argv) > 2 else None)
store = FeedbackStore(settings)
answers = sys.stdin.readline().split()
i = 0
while True:
    aid = answers[i % len(answers)]
    user = f"U{i}"
    store.record_vote(aid, user, 1 if i % 3 else -1, "test")
    sys.stdout.write(f"ACK {aid} {user}\n")
    sys.stdout.flush()
    i += 1
