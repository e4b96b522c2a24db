"""Run embedding work with few torch threads, restoring the process setting afterwards.

On a CPU shared with vLLM, torch's default thread count oversubscribes the cores: one MiniLM sentence
took ~1,070 ms with 2 threads and ~34 ms with 1 here. The limit applies only while rails embed, so other
torch work in the process (training) keeps its own setting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0
_saved: int | None = None


@contextmanager
def limited_threads(count: int | None) -> Iterator[None]:
    """Inside, torch uses at most ``count`` threads (None: unchanged); nested/concurrent use is safe."""
    global _active, _saved
    if not count:
        yield
        return
    import torch

    with _lock:
        if _active == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(min(count, _saved))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                torch.set_num_threads(_saved)
