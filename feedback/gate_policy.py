"""What a stored gate report means for promotion — the one rule every promote path applies.

A version may serve (production or canary) only when its evaluation gate passed; a version without a
report (never evaluated) or with a failed report needs an admin's explicit ``force``.
"""

from __future__ import annotations

from typing import Any


def gate_refusal(report: dict[str, Any] | None) -> str | None:
    """Why a version with this gate report may not be promoted without force; None if it may."""
    if not report or "passed" not in report:
        return "it has no gate report (never evaluated)"
    if report["passed"]:
        return None
    failed = [c.get("name", "?") for c in report.get("checks", []) if not c.get("passed")]
    return "it failed its evaluation gate" + (f": {', '.join(failed)}" if failed else "")
