"""Keep local services alive: restart a service that died or stopped answering, then run a hook.

`ratchet up --supervise` uses this so a crashed vLLM comes back by itself and gets the adapters its
aliases point at (``AdapterRegistry.sync``) before it serves again. Restarts are bounded: a service that
keeps dying makes the supervisor stop with an error naming it instead of looping forever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from engine.logs import get_logger
from engine.process import ManagedProcess, ServiceStartError

log = get_logger(__name__)


class SupervisorGaveUp(ServiceStartError):
    """A service needed more restarts than allowed; the message names it."""


def supervise(
    services: Sequence[ManagedProcess],
    *,
    interval_s: float,
    max_restarts: int,
    unhealthy_checks: int = 3,
    on_restart: Callable[[ManagedProcess], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Watch ``services`` every ``interval_s`` until ``stop`` is set; restart the dead or unresponsive.

    A service counts as down when its process is gone, or when its health check failed
    ``unhealthy_checks`` times in a row. Raises :class:`SupervisorGaveUp` after ``max_restarts``
    restarts of one service.
    """
    stop = stop or threading.Event()
    restarts = {svc.name: 0 for svc in services}
    failures = {svc.name: 0 for svc in services}
    while not stop.wait(interval_s):
        for svc in services:
            alive = svc.pid() is not None
            failures[svc.name] = 0 if alive and svc.healthy() else failures[svc.name] + 1
            if alive and failures[svc.name] < unhealthy_checks:
                continue
            if restarts[svc.name] >= max_restarts:
                raise SupervisorGaveUp(
                    f"{svc.name} went down again after {max_restarts} restarts; see {svc.log_file}"
                )
            restarts[svc.name] += 1
            failures[svc.name] = 0
            log.warning("service.down", service=svc.name, process_alive=alive, restart=restarts[svc.name])
            svc.stop()
            try:
                pid = svc.start()
            except ServiceStartError as exc:
                log.error("service.restart_failed", service=svc.name, error=str(exc).splitlines()[0])
                continue
            log.info("service.restarted", service=svc.name, pid=pid)
            if on_restart is not None:
                on_restart(svc)
