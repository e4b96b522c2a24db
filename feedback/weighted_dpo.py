"""TRL's ``DPOTrainer`` with a loss weight per example (the dataset's ``weight`` column; 1 when absent).

TRL 1.16 reduces each loss to a batch mean inside ``_compute_loss`` and has no per-example weight (its
``use_weighting`` is WPO's probability weighting, not ours). So the batch is split by weight and each part's loss
counts ``weight × its share of the batch``: for the pairwise losses (``sigmoid`` …) that is exactly
``Σ weight_i × loss_i / batch size``; the ``sft`` term, a token mean in TRL, becomes a token mean per part.
A batch whose weights are all 1 is TRL's own computation, unchanged. Used for automatic preference pairs
(``feedback.auto_pairs``), which weigh less than pairs from human votes.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import DPOTrainer

WEIGHT = "weight"


class WeightedDPOTrainer(DPOTrainer):
    """``DPOTrainer`` that scales each example's loss by its ``weight``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        collate = self.data_collator

        def with_weights(examples: list[dict[str, Any]]) -> dict[str, Any]:
            batch = collate(examples)
            batch[WEIGHT] = torch.tensor([float(e.get(WEIGHT, 1.0)) for e in examples])
            return batch

        self.data_collator = with_weights

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHT not in self._signature_columns:  # keep the column through `remove_unused_columns`
            self._signature_columns = [*self._signature_columns, WEIGHT]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop(WEIGHT, None)
        if weights is None or return_outputs or bool((weights == 1).all()):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        size = weights.numel()
        loss = 0.0
        for weight in weights.unique().tolist():
            rows = (weights == weight).nonzero().flatten().to(inputs["input_ids"].device)
            if weight == 0:
                continue
            part = super().compute_loss(model, examples_of(inputs, rows, size))
            loss = loss + part * (weight * rows.numel() / size)
        return loss if torch.is_tensor(loss) else weights.new_zeros((), requires_grad=True)


def examples_of(inputs: dict[str, Any], rows: torch.Tensor, size: int) -> dict[str, Any]:
    """The batch restricted to examples ``rows``: TRL stacks chosen then rejected sequences (``2 × size`` rows);
    per-example values (reference log-probs) have ``size`` rows."""
    both = torch.cat([rows, rows + size])
    out = {}
    for key, value in inputs.items():
        if torch.is_tensor(value) and value.dim() and value.size(0) == 2 * size:
            out[key] = value.index_select(0, both)
        elif torch.is_tensor(value) and value.dim() and value.size(0) == size:
            out[key] = value.index_select(0, rows)
        else:
            out[key] = value
    return out
