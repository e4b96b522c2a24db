"""Fault and attack scenarios (issue 12): each runs against the real bot and services and returns one JSON
line with ``scenario``, ``sent``, ``answered``, ``lost``, ``duplicated``, ``leaked``, ``recover_s`` (plus its
own details). Used by ``ratchet bench faults`` (big counts) and ``tests/reliability/test_faults.py`` (small).

- R1 :func:`run_redelivery` — redeliveries over two replicas sharing one database;
- R2 :func:`run_outage` — vLLM (= the guardrails' model), Weaviate and PostgreSQL killed mid-traffic;
- R3 :func:`run_crash` — the bot process killed during reactions and questions;
- R4 :func:`run_rollout` — training killed, a corrupt adapter, a promotion over two vLLM replicas failing half-way;
- R5 :func:`run_hostile` — hostile HTTP input against one bot;
- R6 :func:`run_admin_paths` — non-admins on every admin path, private documents where they must not show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.faults.admin_paths import run_admin_paths
from bot.faults.crash import run_crash
from bot.faults.hostile import run_hostile
from bot.faults.outage import run_outage
from bot.faults.redelivery import run_redelivery
from bot.faults.rollout import run_rollout
from engine.settings import Settings

SCENARIOS = ("R1", "R2", "R3", "R4", "R5", "R6")


async def run_scenarios(base: Settings, scenarios: list[str], *, events: int, hostile: int,
                        database_url: str | None, emit: Callable[[dict[str, Any]], None], reactions: int = 1000,
                        questions: int = 100) -> None:
    """Run the chosen scenarios one after the other; ``emit`` gets each JSON line as it is measured."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}: choose from {', '.join(SCENARIOS)}")
    for name in scenarios:
        if name == "R1":
            emit(await run_redelivery(base, events=events, database_url=database_url))
        elif name == "R2":
            emit(await run_outage(base))
        elif name == "R3":
            emit(await run_crash(base, reactions=reactions, questions=questions, database_url=database_url))
        elif name == "R4":
            emit(await run_rollout(base, database_url=database_url))
        elif name == "R5":
            emit(await run_hostile(base, count=hostile, database_url=database_url))
        elif name == "R6":
            emit(await run_admin_paths(base, database_url=database_url))


__all__ = ["SCENARIOS", "run_admin_paths", "run_crash", "run_hostile", "run_outage", "run_redelivery", "run_rollout",
           "run_scenarios"]
