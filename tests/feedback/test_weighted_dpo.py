"""Per-example loss weights in DPO training (real model, real TRL): an automatic pair counts ``weight`` times a
human pair in the loss and in the gradient."""

from __future__ import annotations

import pytest
from datasets import Dataset
from trl import DPOTrainer

from feedback.training import load_policy, lora_config, trainer_args, training_config
from feedback.weighted_dpo import WEIGHT, WeightedDPOTrainer, examples_of


def _row(question: str, chosen: str, rejected: str, weight: float) -> dict:
    prompt = [{"role": "system", "content": "Answer from the sources.\nSources:\n[1] Leave\n25 days a year."},
              {"role": "user", "content": question}]
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], WEIGHT: weight}


def _grads(model) -> list:
    return [p.grad.detach().clone() for p in model.parameters() if p.requires_grad and p.grad is not None]


@pytest.mark.slow  # forward and backward passes of the real model: ~1 min alone, minutes on a busy CPU
def test_automatic_pairs_weigh_less_in_loss_and_gradient(make_settings, tmp_path) -> None:
    import torch

    settings = make_settings()
    config = training_config(settings, max_steps=1, batch_size=2)
    model, tokenizer = load_policy(settings.model_dir)
    rows = [_row("How many vacation days?", "25 days a year [1].", "Unlimited holidays.", 1.0),
            _row("Can I carry days over?", "The sources say 25 days a year [1] and nothing about carrying over.",
                 "Yes, forever, and you also get a car.", 0.5)]
    trainer = WeightedDPOTrainer(model=model.float(), args=trainer_args(config, tmp_path / "t"),
                                 train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                                 peft_config=lora_config(config))
    trainer.model.eval()  # no LoRA dropout: the same batch gives the same loss
    batch = next(iter(trainer.get_train_dataloader()))  # the weight column survives TRL's column filter
    weights = batch[WEIGHT]
    assert sorted(weights.tolist()) == [0.5, 1.0]
    plain = {k: v for k, v in batch.items() if k != WEIGHT}

    def trl_loss(inputs):
        return DPOTrainer.compute_loss(trainer, trainer.model, dict(inputs))

    each = [trl_loss(examples_of(plain, torch.tensor([i]), 2)) for i in range(2)]
    assert abs(each[0].item() - each[1].item()) > 1e-3  # the two pairs' losses differ, so weights show
    weighted = trainer.compute_loss(trainer.model, dict(batch))
    expected = sum(w * l.item() for w, l in zip(weights.tolist(), each)) / 2
    assert weighted.item() == pytest.approx(expected, rel=1e-4)
    assert abs(weighted.item() - (each[0].item() + each[1].item()) / 2) > 1e-3  # not the unweighted mean

    # gradient: with the automatic pair at weight 0, the batch's gradient is half the human pair's alone
    human = int((weights == 1).nonzero()[0])
    trainer.model.zero_grad()
    each[human].backward()
    alone = _grads(trainer.model)
    trainer.model.zero_grad()
    trainer.compute_loss(trainer.model, {**plain, WEIGHT: (weights == 1).float()}).backward()
    zeroed = _grads(trainer.model)
    assert zeroed and len(zeroed) == len(alone) and any(b.abs().sum() > 0 for b in alone)
    assert all(torch.allclose(a, 0.5 * b, rtol=1e-3, atol=1e-7) for a, b in zip(zeroed, alone))
