"""Fixtures for engine tests: random LoRA adapters made once per session with PEFT."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.adapter_factory import make_random_adapter


@pytest.fixture(scope="session")
def random_adapters(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six rank-8 adapters with random non-zero B (distinct seeds), so outputs differ from base."""
    root = tmp_path_factory.mktemp("adapters")
    return [make_random_adapter(model_dir, root / f"a{i}", rank=8, seed=100 + i, scale=0.08) for i in range(6)]
