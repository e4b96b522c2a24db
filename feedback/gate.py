"""The evaluation gate: a candidate adapter is promoted only if it beats the base model on held-out
preferences and generates no worse than production. Thresholds live in ``settings.feedback``.

Checks (each recorded with its value and threshold in the report stored on the version):
- held-out implicit-reward accuracy and margin (DPO-style, vs the base model);
- per-token log-prob margin gain over the base model;
- a generation check on held-out prompts through vLLM: citation rate, refusal rate, mean length, compared
  with the current production version.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

from engine.llm_client import LLMClient, LLMError
from engine.logs import get_logger
from engine.registry import AdapterRegistry, RegistryError
from engine.registry_models import CANDIDATE
from feedback.gate_policy import gate_refusal
from feedback.heldout_eval import heldout_metrics
from feedback.notify import notify_admins

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.datasets import PreferenceData

log = get_logger(__name__)

CITATION = re.compile(r"\[\d+\]")


class GateRefused(RegistryError):
    """Promotion refused because the candidate failed (or never ran) the gate. The message says which check."""


@dataclass
class Check:
    """One gate check: measured value against its threshold."""

    name: str
    value: float | None
    threshold: str
    passed: bool


@dataclass
class GateReport:
    """The gate's verdict on one version."""

    version: str
    passed: bool
    checks: list[Check]
    heldout: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored with the version)."""
        return asdict(self)

    def summary(self) -> str:
        """One line per check, for Slack and the CLI."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Gate {verdict} for {self.version}"]
        for c in self.checks:
            value = "n/a" if c.value is None else f"{c.value:.3f}"
            lines.append(f"{'✅' if c.passed else '❌'} {c.name} = {value} ({c.threshold})")
        return "\n".join(lines)


def generation_stats(texts: list[str], refusal_markers: list[str]) -> dict[str, float]:
    """Citation rate, refusal rate and mean length (chars) of generated answers."""
    if not texts:
        return {"n": 0, "citation_rate": 0.0, "refusal_rate": 0.0, "mean_chars": 0.0}
    markers = [m.lower() for m in refusal_markers]
    return {
        "n": len(texts),
        "citation_rate": mean(1.0 if CITATION.search(t) else 0.0 for t in texts),
        "refusal_rate": mean(1.0 if any(m in t.lower() for m in markers) else 0.0 for t in texts),
        "mean_chars": mean(len(t) for t in texts),
    }


async def _generate_all(client: LLMClient, model: str, prompts: list[list[dict]], max_tokens: int) -> list[str]:
    return [(await client.chat(p, model=model, max_tokens=max_tokens, temperature=0.0)).text for p in prompts]


async def generation_check(settings: Settings, client: LLMClient, registry: AdapterRegistry, version_id: str,
                           prompts: list[list[dict]]) -> dict[str, Any]:
    """Generate held-out answers with the candidate and with production (vLLM); compare their stats."""
    f = settings.feedback
    if f.gate_generation_prompts == 0:
        return {"disabled": True}
    prompts = prompts[: f.gate_generation_prompts]
    if not prompts:
        return {"skipped": "no held-out prompts"}
    try:
        return await _compare_generations(settings, client, registry, version_id, prompts)
    except LLMError as exc:
        log.warning("gate.generation_failed", version=version_id, error=str(exc))
        return {"skipped": f"vLLM error: {exc}"}


async def _compare_generations(settings: Settings, client: LLMClient, registry: AdapterRegistry, version_id: str,
                               prompts: list[list[dict]]) -> dict[str, Any]:
    f = settings.feedback
    version = registry.get(version_id)
    served = await client.served()
    loaded_here = served.get(version_id) != version.path
    if loaded_here:
        if version_id in served:  # the same name from another path (another database): never serve those
            await client.unload_adapter(version_id)
            served.pop(version_id)
        if len(served) - 1 >= settings.engine.max_loras:  # served includes the base model
            return {"skipped": f"vLLM already holds {len(served) - 1} adapters (--max-loras)"}
        await client.load_adapter(version_id, version.path)
    try:
        production = registry.route("gate", override="production")
        cand = await _generate_all(client, version_id, prompts, f.gate_generation_max_tokens)
        prod = await _generate_all(client, production.model, prompts, f.gate_generation_max_tokens)
    finally:
        if loaded_here and version_id not in {v for v, _ in registry.aliases().values()}:
            await client.unload_adapter(version_id)
    return {"production_model": production.model, "candidate": generation_stats(cand, f.refusal_markers),
            "production": generation_stats(prod, f.refusal_markers), "samples": cand[:3]}


def _checks(settings: Settings, heldout: dict[str, Any], generation: dict[str, Any]) -> list[Check]:
    f = settings.feedback
    n = heldout.get("heldout_n", 0)
    checks = [Check("heldout_examples", n, f">= {f.gate_min_heldout}", n >= f.gate_min_heldout)]
    for key, minimum in (("reward_accuracy", f.gate_min_reward_accuracy), ("reward_margin", f.gate_min_reward_margin),
                         ("token_margin_delta", f.gate_min_token_margin_delta)):
        value = heldout.get(key)
        checks.append(Check(key, value, f">= {minimum}", value is not None and value >= minimum))
    cand, prod = generation.get("candidate"), generation.get("production")
    if "skipped" in generation:
        checks.append(Check("generation_check", None, "ran: " + generation["skipped"], False))
    elif cand and prod and cand["n"]:
        low, high = f.gate_length_ratio
        ratio = cand["mean_chars"] / prod["mean_chars"] if prod["mean_chars"] else 1.0
        checks += [
            Check("citation_rate_drop", prod["citation_rate"] - cand["citation_rate"], f"<= {f.gate_max_citation_drop}",
                  prod["citation_rate"] - cand["citation_rate"] <= f.gate_max_citation_drop),
            Check("refusal_rate_increase", cand["refusal_rate"] - prod["refusal_rate"],
                  f"<= {f.gate_max_refusal_increase}",
                  cand["refusal_rate"] - prod["refusal_rate"] <= f.gate_max_refusal_increase),
            Check("length_ratio", ratio, f"in [{low}, {high}]", low <= ratio <= high),
        ]
    return checks


async def evaluate_candidate(settings: Settings, version_id: str, data: PreferenceData, client: LLMClient, *,
                             registry: AdapterRegistry | None = None) -> GateReport:
    """Run every check on a version, store the report with it (``set_gate_report``) and return it."""
    registry = registry or AdapterRegistry(settings)
    version = registry.get(version_id)
    beta = float(version.hyperparameters.get("beta", settings.feedback.training.beta))
    max_length = int(version.hyperparameters.get("max_length", settings.feedback.training.max_length))
    heldout = heldout_metrics(settings.model_dir, Path(version.path), data, beta=beta, max_length=max_length)
    prompts = [p.prompt for p in data.pairs["heldout"]] or [k.prompt for k in data.kto["heldout"]]
    generation = await generation_check(settings, client, registry, version_id, prompts)
    checks = _checks(settings, heldout, generation)
    report = GateReport(version=version_id, passed=all(c.passed for c in checks), checks=checks,
                        heldout=heldout, generation=generation)
    registry.set_gate_report(version_id, report.as_dict())
    log.info("gate.evaluated", version=version_id, passed=report.passed,
             reward_accuracy=heldout.get("reward_accuracy"), token_margin_delta=heldout.get("token_margin_delta"))
    return report


def is_admin(settings: Settings, actor: str) -> bool:
    """Admins: the configured Slack user ids, and the local command line (``cli`` / ``cli:<user>``)."""
    return actor in settings.admin.admin_user_ids or actor == "cli" or actor.startswith("cli:")


async def promote_candidate(settings: Settings, version: str, actor: str, force: bool = False, *,
                            client: LLMClient | None = None, registry: AdapterRegistry | None = None) -> str | None:
    """Promote a version to production if its gate passed (or ``force`` by an admin). Every attempt is audited.

    Returns the version production pointed at before. Raises :class:`GateRefused` when refused.
    """
    registry = registry or AdapterRegistry(settings)
    why = gate_refusal(registry.get(version).gate_report)
    if why is not None:
        if not force:
            registry.audit(actor, "promote.refused", version, allowed=False, reason=why)
            raise GateRefused(f"{version} cannot be promoted: {why}. An admin may pass --force.")
        if not is_admin(settings, actor):
            registry.audit(actor, "promote.force_denied", version, allowed=False, reason=why)
            raise GateRefused(f"only admins may force a promotion ({actor} is not one)")
        registry.audit(actor, "promote.forced", version, reason=why)
    own_client = client is None
    client = client or LLMClient.from_settings(settings.engine)
    try:
        return await registry.promote(version, client, actor=actor)
    finally:
        if own_client:
            await client.aclose()


async def after_gate(settings: Settings, report: GateReport, client: LLMClient,
                     registry: AdapterRegistry | None = None) -> None:
    """Optional automatic canary for a passing candidate, then tell the admins."""
    registry = registry or AdapterRegistry(settings)
    percent = settings.feedback.auto_canary_percent
    note = ""
    if report.passed and percent > 0 and registry.get(report.version).status == CANDIDATE:
        await registry.set_canary(report.version, percent, client, actor="gate")
        note = f"\nIt now serves {percent:g}% of threads as canary."
    action = (f"Promote with `ratchet adapters promote {report.version}`." if report.passed
              else "It cannot be promoted without --force.")
    notify_admins(settings, f"New adapter candidate {report.version} is ready.\n{report.summary()}{note}\n{action}")
