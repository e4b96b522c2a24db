"""Make small random LoRA adapters for the served base model (benchmarks and tests).

The LoRA B matrices are filled with non-zero noise, so an adapter's output differs from the base
model's. These adapters carry no learning; trained ones come from ``feedback``'s trainers.
"""

from __future__ import annotations

from pathlib import Path


def make_random_adapter(
    base_model_dir: Path,
    out_dir: Path,
    *,
    rank: int = 8,
    seed: int = 0,
    scale: float = 0.05,
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
) -> Path:
    """Write a PEFT LoRA adapter with random non-zero B to ``out_dir``; returns it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(target_modules), lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, scale)
    peft_model.save_pretrained(out_dir)
    return Path(out_dir)
