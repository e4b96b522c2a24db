"""The evaluation gate: a candidate adapter is promoted only if it beats production on what users care
about, on held-out questions, and is worse on nothing by more than a small tolerance. Thresholds live in
``settings.feedback``; with the defaults a candidate can fail (tests show each check rejecting one).

Checks (each recorded with its value and threshold in the report stored on the version):
- held-out implicit-reward accuracy and margin (DPO-style, vs the base model);
- per-token log-prob margin gain over the base model;
- answer quality on held-out prompts, candidate vs production, both generating through vLLM
  (:mod:`feedback.quality_eval`): the supported-sentence rate of the model's own text, answer accuracy where
  a reference exists, refusal of unanswerable questions, confident-wrong answers — the candidate must gain
  ``gate_min_quality_gain`` on supported sentences or accuracy and lose at most ``gate_max_quality_drop``
  on any of them; and its answers' length must stay within ``gate_length_ratio`` of production's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.llm_client import LLMClient, LLMError
from engine.logs import get_logger
from engine.rag.embedder import Embedder
from engine.registry import AdapterRegistry
from engine.registry_models import CANDIDATE
from feedback.heldout_eval import heldout_metrics
from feedback.notify import notify_admins
from feedback.quality_eval import EvalItem, compare, generate, items_from_data, score_texts

if TYPE_CHECKING:
    from engine.settings import Settings
    from feedback.datasets import PreferenceData

log = get_logger(__name__)

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

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> GateReport:
        """The report as :meth:`as_dict` stored it."""
        return cls(version=stored["version"], passed=stored["passed"], checks=[Check(**c) for c in stored["checks"]],
                   heldout=stored.get("heldout") or {}, generation=stored.get("generation") or {})

    def summary(self) -> str:
        """One line per check, for Slack and the CLI."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Gate {verdict} for {self.version}"]
        for c in self.checks:
            value = "n/a" if c.value is None else f"{c.value:.3f}"
            lines.append(f"{'✅' if c.passed else '❌'} {c.name} = {value} ({c.threshold})")
        return "\n".join(lines)


def spread(items: list[EvalItem], n: int) -> list[EvalItem]:
    """At most ``n`` items spread evenly over the list, first and last included (a prefix would miss whatever
    comes last, e.g. the unanswerable questions of a question set)."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return items[:1]
    return [items[round(k * (len(items) - 1) / (n - 1))] for k in range(n)]


def items_id(items: list[EvalItem]) -> str:
    """A stable id of exactly these held-out prompts (a stored report says what it was measured on)."""
    digest = hashlib.sha256(json.dumps([i.prompt for i in items], sort_keys=True).encode()).hexdigest()
    return "items-" + digest[:16]


async def generation_check(settings: Settings, client: LLMClient, registry: AdapterRegistry, version_id: str,
                           items: list[EvalItem]) -> dict[str, Any]:
    """Generate held-out answers with the candidate and with production (vLLM); score both."""
    f = settings.feedback
    if f.gate_generation_prompts == 0:
        return {"disabled": True}
    items = spread(items, f.gate_generation_prompts)
    if not items:
        return {"skipped": "no held-out prompts"}
    try:
        return await _compare_generations(settings, client, registry, version_id, items)
    except LLMError as exc:
        log.warning("gate.generation_failed", version=version_id, error=str(exc))
        return {"skipped": f"vLLM error: {exc}"}


async def _compare_generations(settings: Settings, client: LLMClient, registry: AdapterRegistry, version_id: str,
                               items: list[EvalItem]) -> dict[str, Any]:
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
    options = dict(max_tokens=f.gate_generation_max_tokens, repetition_penalty=settings.engine.repetition_penalty)
    try:
        production = registry.route("gate", override="production")
        cand = await generate(client, version_id, items, **options)
        prod = await generate(client, production.model, items, **options)
    finally:
        if loaded_here and version_id not in {v for v, _ in registry.aliases().values()}:
            await client.unload_adapter(version_id)
    embedder = Embedder(settings.rag)
    score = dict(embedder=embedder, similarity=settings.guardrails.fact_check_sentence_similarity,
                 refusal_markers=f.refusal_markers)
    cand_q, prod_q = score_texts(cand, items, **score), score_texts(prod, items, **score)
    return {"production_model": production.model, "items_id": items_id(items), "candidate": cand_q,
            "production": prod_q,
            "deltas": compare(cand_q, prod_q), "samples": cand[:3]}


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
        deltas = generation["deltas"]
        gains = [deltas[k] for k in ("supported_sentence_rate", "answer_accuracy") if deltas.get(k) is not None]
        gain = max(gains) if gains else None
        checks.append(Check("quality_gain", gain, f">= {f.gate_min_quality_gain} (supported sentences or accuracy)",
                            gain is not None and gain >= f.gate_min_quality_gain))
        measured = [d for d in deltas.values() if d is not None]
        drop = -min(measured) if measured else None
        checks.append(Check("worst_quality_drop", drop, f"<= {f.gate_max_quality_drop}",
                            drop is not None and drop <= f.gate_max_quality_drop))
        low, high = f.gate_length_ratio
        ratio = cand["mean_chars"] / prod["mean_chars"] if prod["mean_chars"] else 1.0
        checks.append(Check("length_ratio", ratio, f"in [{low}, {high}]", low <= ratio <= high))
    return checks


async def evaluate_candidate(settings: Settings, version_id: str, data: PreferenceData, client: LLMClient, *,
                             registry: AdapterRegistry | None = None,
                             eval_items: list[EvalItem] | None = None) -> GateReport:
    """Run every check on a version, store the report with it (``set_gate_report``) and return it.

    ``eval_items``: held-out questions with references to judge the answers by; default: the prompts of the
    held-out preference split (no references: accuracy is then not measured).
    """
    registry = registry or AdapterRegistry(settings)
    version = registry.get(version_id)
    beta = float(version.hyperparameters.get("beta", settings.feedback.training.beta))
    max_length = int(version.hyperparameters.get("max_length", settings.feedback.training.max_length))
    heldout = heldout_metrics(settings.model_dir, Path(version.path), data, beta=beta, max_length=max_length)
    if eval_items is None:
        eval_items = items_from_data(data)
    generation = await generation_check(settings, client, registry, version_id, eval_items)
    checks = _checks(settings, heldout, generation)
    report = GateReport(version=version_id, passed=all(c.passed for c in checks), checks=checks,
                        heldout=heldout, generation=generation)
    registry.set_gate_report(version_id, report.as_dict())
    log.info("gate.evaluated", version=version_id, passed=report.passed,
             reward_accuracy=heldout.get("reward_accuracy"), token_margin_delta=heldout.get("token_margin_delta"))
    return report


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
