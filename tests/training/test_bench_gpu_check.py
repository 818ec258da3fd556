"""bench/gpu_check.sh parses, and on a machine without CUDA refuses cleanly before doing anything."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def test_gpu_check_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    py_compile.compile(str(ROOT / "bench" / "gpu_check.py"), doraise=True)


def test_gpu_check_refuses_without_cuda_and_runs_nothing(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: run the check itself")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(scratch)}
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "gpu_check: no CUDA GPU visible to torch on this machine; nothing was run" in proc.stderr
    assert proc.stdout == "" and not list(scratch.iterdir())
