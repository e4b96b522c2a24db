"""Held-out log-probability evaluation of an adapter against the base model (in-process, PEFT).

DPO's implicit reward of an answer y to prompt x is ``beta * (log p_adapter(y|x) - log p_base(y|x))``
(sums over the answer's tokens). The per-token margin uses means instead of sums, because longer answers
would otherwise dominate: ``mean log p(chosen) - mean log p(rejected)``, for the adapter and for the base.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feedback.datasets import PreferenceData


@dataclass
class Scored:
    """Log-probabilities of one completion under the adapter and under the base model."""

    policy_sum: float
    base_sum: float
    tokens: int

    def reward(self, beta: float) -> float:
        """DPO implicit reward (vs the base model)."""
        return beta * (self.policy_sum - self.base_sum)


def chat_ids(tokenizer, messages: list[dict], *, generation_prompt: bool) -> list[int]:
    """The token ids of ``messages`` in the model's chat template (as training and generation see them)."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True,
                                        return_dict=False)
    return ids["input_ids"] if isinstance(ids, dict) else ids  # some tokenizers return a BatchEncoding regardless


def _completion_logprobs(model, tokenizer, prompt: list[dict], completion: str, max_length: int) -> tuple[float, int]:
    import torch

    prompt_ids = chat_ids(tokenizer, prompt, generation_prompt=True)
    full_ids = chat_ids(tokenizer, prompt + [{"role": "assistant", "content": completion}], generation_prompt=False)
    n_prompt = len(prompt_ids)
    completion_ids = full_ids[n_prompt:]
    keep_prompt = max(1, min(n_prompt, max_length - len(completion_ids)))
    ids = full_ids[n_prompt - keep_prompt:][:max_length]
    start = keep_prompt
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    logp = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor(ids[1:])
    token_logp = logp.gather(1, targets[:, None])[:, 0][start - 1:]
    return float(token_logp.sum()), int(token_logp.numel())


def score_completions(model_dir: Path, adapter_dir: Path, items: list[tuple[list[dict], str]],
                      max_length: int) -> list[Scored]:
    """Score (prompt, completion) items with the adapter and with the base model (adapter disabled)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    out = []
    for prompt, completion in items:
        policy_sum, n = _completion_logprobs(model, tokenizer, prompt, completion, max_length)
        with model.disable_adapter():
            base_sum, _ = _completion_logprobs(model, tokenizer, prompt, completion, max_length)
        out.append(Scored(policy_sum=policy_sum, base_sum=base_sum, tokens=max(n, 1)))
    return out


def heldout_metrics(model_dir: Path, adapter_dir: Path, data: PreferenceData, *, beta: float,
                    max_length: int) -> dict[str, Any]:
    """Implicit-reward accuracy/margin and per-token margin delta on the held-out split.

    Uses the held-out DPO pairs; without pairs, the held-out KTO examples (accuracy = the reward's sign
    matches the thumb).
    """
    pairs = data.pairs["heldout"]
    if pairs:
        items = [(p.prompt, p.chosen) for p in pairs] + [(p.prompt, p.rejected) for p in pairs]
        scored = score_completions(model_dir, adapter_dir, items, max_length)
        chosen, rejected = scored[:len(pairs)], scored[len(pairs):]
        margins = [c.reward(beta) - r.reward(beta) for c, r in zip(chosen, rejected)]
        policy_tok = [c.policy_sum / c.tokens - r.policy_sum / r.tokens for c, r in zip(chosen, rejected)]
        base_tok = [c.base_sum / c.tokens - r.base_sum / r.tokens for c, r in zip(chosen, rejected)]
        return {
            "heldout_kind": "dpo_pairs", "heldout_n": len(pairs),
            "reward_accuracy": mean(1.0 if m > 0 else 0.0 for m in margins),
            "reward_margin": mean(margins),
            "token_margin_policy": mean(policy_tok), "token_margin_base": mean(base_tok),
            "token_margin_delta": mean(policy_tok) - mean(base_tok),
        }
    examples = data.kto["heldout"]
    if not examples:
        return {"heldout_kind": "none", "heldout_n": 0}
    scored = score_completions(model_dir, adapter_dir, [(k.prompt, k.completion) for k in examples], max_length)
    signed = [(1 if k.label else -1) for k in examples]
    rewards = [s.reward(beta) for s in scored]
    tok = [s.policy_sum / s.tokens - s.base_sum / s.tokens for s in scored]
    return {
        "heldout_kind": "kto_examples", "heldout_n": len(examples),
        "reward_accuracy": mean(1.0 if r * y > 0 else 0.0 for r, y in zip(rewards, signed)),
        "reward_margin": mean(r * y for r, y in zip(rewards, signed)),
        "token_margin_delta": mean(t * y for t, y in zip(tok, signed)),
    }
