"""Per-rail timings: milliseconds into a verdict's ``timings_ms`` and the Prometheus stage histogram."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from engine.metrics import STAGE_SECONDS


@contextmanager
def timed(timings_ms: dict[str, float], rail: str) -> Iterator[None]:
    """Add the time spent inside to ``timings_ms[rail]`` and observe it as stage ``rail.<rail>``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        timings_ms[rail] = timings_ms.get(rail, 0.0) + elapsed * 1000
        STAGE_SECONDS.labels(stage=f"rail.{rail}").observe(elapsed)
