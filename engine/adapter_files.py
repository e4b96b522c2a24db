"""Checks on a LoRA adapter directory before it goes anywhere near vLLM.

Catches, with a message a user can act on: a missing directory, a missing or unparsable
``adapter_config.json``, missing or corrupt weights, a rank above the server's maximum, and an adapter
made for another base model (by name and by tensor shapes against the base model's config).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from engine.errors import RatchetError

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterError(RatchetError, ValueError):
    """The adapter cannot be used; the message says why."""


@dataclass(frozen=True)
class AdapterInfo:
    path: Path
    base_model: str
    rank: int
    target_modules: tuple[str, ...]


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AdapterError(f"{what} missing: {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterError(f"{what} is not valid JSON: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise AdapterError(f"{what} is not a JSON object: {path}")
    return data


def _tensor_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterError(f"adapter weights are corrupt or unreadable: {weights} ({exc})") from exc


def inspect_adapter(path: Path, *, base_model_dir: Path, max_rank: int) -> AdapterInfo:
    """Validate an adapter directory against the served base model; return what it holds."""
    path = Path(path)
    if not path.is_dir():
        raise AdapterError(f"adapter directory not found: {path}")
    cfg = _read_json(path / "adapter_config.json", "adapter_config.json")
    if cfg.get("peft_type", "LORA").upper() != "LORA":
        raise AdapterError(f"only LoRA adapters are supported, got peft_type={cfg.get('peft_type')!r}")
    rank = cfg.get("r")
    if not isinstance(rank, int) or rank <= 0:
        raise AdapterError(f"adapter_config.json has no valid rank 'r' (got {rank!r})")
    if rank > max_rank:
        raise AdapterError(f"adapter rank {rank} exceeds the server's --max-lora-rank {max_rank}")
    weights = next((path / w for w in WEIGHT_FILES if (path / w).is_file()), None)
    if weights is None:
        raise AdapterError(f"no adapter weights in {path} (expected {' or '.join(WEIGHT_FILES)})")
    base = str(cfg.get("base_model_name_or_path") or "")
    _check_base(base, base_model_dir)
    if weights.suffix == ".safetensors":
        _check_shapes(_tensor_shapes(weights), base_model_dir, rank)
    targets = cfg.get("target_modules") or []
    if isinstance(targets, str):
        targets = [targets]
    return AdapterInfo(path=path, base_model=base, rank=rank, target_modules=tuple(targets))


def _check_base(base: str, base_model_dir: Path) -> None:
    if not base:
        return
    names = {str(base_model_dir), str(base_model_dir.resolve()), base_model_dir.name}
    if base in names or Path(base).name == base_model_dir.name:
        return
    raise AdapterError(
        f"adapter was trained for base model {base!r}, but the server runs {base_model_dir.name!r}"
    )


def _check_shapes(shapes: dict[str, tuple[int, ...]], base_model_dir: Path, rank: int) -> None:
    if not shapes:
        raise AdapterError("adapter weights file holds no tensors")
    try:
        config = json.loads((base_model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return
    hidden = config.get("hidden_size")
    for name, shape in shapes.items():
        if "lora_A" in name and len(shape) == 2:
            if shape[0] != rank:
                raise AdapterError(f"tensor {name} has rank {shape[0]}, config says r={rank}")
            if hidden and any(p in name for p in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")):
                if shape[1] != hidden:
                    raise AdapterError(
                        f"adapter does not fit the base model: {name} expects hidden size {shape[1]}, "
                        f"the server's model has {hidden}"
                    )
