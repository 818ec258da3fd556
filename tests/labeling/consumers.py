"""Load OpenRLHF's and verl's own dataset code without their package __init__s (Ray, maths graders, GPUs).

Both libraries are installed in CI with `pip install --no-deps openrlhf==0.11.2 verl==0.9.1`.
Their top-level `__init__`s import Ray (verl) or a maths grader (openrlhf.utils), which this
machine does not have; the dataset modules themselves need only torch, transformers, datasets
and omegaconf. So the package modules are stood in for by empty packages pointing at the real
directories, and the real submodules import from there.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PACKAGES = ("verl", "openrlhf", "openrlhf.utils")


def _site() -> Path:
    spec = importlib.util.find_spec("verl")
    if spec is None or importlib.util.find_spec("openrlhf") is None:
        raise RuntimeError("OpenRLHF and verl are not installed: pip install --no-deps openrlhf==0.11.2 verl==0.9.1")
    return Path(spec.submodule_search_locations[0]).parent


@contextmanager
def library_packages() -> Iterator[None]:
    """Make `verl` and `openrlhf` importable as bare packages for the duration; restore sys.modules after."""
    site = _site()
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in ("verl", "openrlhf")}
    for name in PACKAGES:
        package = types.ModuleType(name)
        package.__path__ = [str(site / name.replace(".", "/"))]
        sys.modules[name] = package
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] in ("verl", "openrlhf")]:
            del sys.modules[name]
        sys.modules.update(saved)


def openrlhf_strategy(**data: Any) -> SimpleNamespace:
    """Return the slice of OpenRLHF's strategy its datasets read: `args.data.<flag>` and rank 0."""
    return SimpleNamespace(args=SimpleNamespace(data=SimpleNamespace(**data), use_ms=False), is_rank_0=lambda: True, print=lambda *a: None)


def openrlhf_load(path: Path) -> Any:
    """Load a file or folder exactly as OpenRLHF's --data.dataset does (blending_datasets)."""
    from openrlhf.datasets.utils import blending_datasets

    return blending_datasets(str(path), None, openrlhf_strategy(), dataset_split="train")
