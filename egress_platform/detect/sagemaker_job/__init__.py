"""The SageMaker side of ``egress_model``: the training entry script and the endpoint handler.

``stage_source`` assembles the directory ModelTrainer uploads: these scripts, a requirements file
(LightGBM, polars) and the few ``egress_platform`` modules they import, so the container trains
and serves exactly the model code the local profile runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]  # egress_platform/
MODULES = [
    "__init__.py",
    "detect/__init__.py",
    "detect/features.py",
    "detect/model.py",
    "pricing/__init__.py",
    "pricing/price_book.py",
]
HERE = Path(__file__).resolve().parent
ENTRY_SCRIPT = "train.py"


def stage_source(target: Path) -> Path:
    """Copy the entry scripts, requirements and the model's modules into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("train.py", "inference.py", "requirements.txt"):
        shutil.copy(HERE / name, target / name)
    for module in MODULES:
        destination = target / "egress_platform" / module
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / module, destination)
    return target
