"""Accelerate configs a run may choose by name: the bundled ones (config/accelerate/) and the worker's own.

A run stores the chosen name in `inputs["accelerate_config"]`; the runner passes the file to
`accelerate launch --config_file` when the run has nproc > 1 on a GPU worker. Only names are
accepted, never paths, so a user cannot point the launcher at an arbitrary file.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "config" / "accelerate"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def accelerate_configs() -> dict[str, Path]:
    """Name -> YAML file; the worker's own directory (PREFLOOP_ACCELERATE_CONFIGS_DIR) wins over the bundled one."""
    found: dict[str, Path] = {}
    extra = getattr(settings, "PREFLOOP_ACCELERATE_CONFIGS_DIR", "")
    for folder in [BUNDLED_DIR, *([Path(extra)] if extra else [])]:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found[path.stem] = path
    return found


def accelerate_config_resolve(name: str) -> str:
    """Return the file of a named config ("" for none); ValidationError naming the choices otherwise."""
    if not name:
        return ""
    configs = accelerate_configs()
    if not isinstance(name, str) or not _NAME.match(name) or name not in configs:
        raise ValidationError({"accelerate_config": f"unknown accelerate config {name!r}; choose one of {', '.join(sorted(configs))}"})
    return str(configs[name])


def launcher_defaults() -> str:
    """Describe what a worker launches with when a run names no accelerate config."""
    default = Path.home() / ".cache" / "huggingface" / "accelerate" / "default_config.yaml"
    if default.exists():
        return f"accelerate's default config of this worker ({default})"
    return "accelerate's built-in defaults (DDP over the visible GPUs; torchrun with gloo on CPU)"
