"""Helpers for the training-job tests: preference data, JSONL files, running a job as the runner does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_preference_rows(n: int, *, seed: int = 0, marker: str = "Sure!") -> list[dict[str, Any]]:
    """Learnable preference pairs: every chosen answer starts with `marker`, no rejected one does."""
    from training.jobs.tinymodel import synthetic_preferences

    return synthetic_preferences(n, seed=seed, marker=marker)


def make_prompt_rows(texts: list[str]) -> list[dict[str, Any]]:
    """Prompt rows as the runner writes them for generate/evaluate."""
    return [{"prompt_id": i + 1, "prompt": [{"role": "user", "content": t}], "reference": None} for i, t in enumerate(texts)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def job_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "1")  # a tiny model gains nothing from threads on a shared 2-core box
    env.pop("DJANGO_SETTINGS_MODULE", None)  # a job must not need Django
    return env


def run_job_module(kind: str, config: dict[str, Any], workdir: Path, *, nproc: int = 1,
                   timeout: int = 300) -> subprocess.CompletedProcess:
    """Write config.json and run `python -m training.jobs.<kind> --config` (or torchrun) like the runner."""
    config_path = workdir / f"{kind}-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    job = ["-m", f"training.jobs.{kind}", "--config", str(config_path)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *job]
    else:
        cmd = [sys.executable, *job]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True, timeout=timeout)


def english_word_share(texts: list[str]) -> float:
    """Share of the words in texts that appear in the bundled dialogues (a cheap 'reads like English' check)."""
    from training.jobs.tinymodel import load_dialogues

    known = {w.lower() for row in load_dialogues() for m in row["messages"] for w in re.findall(r"[A-Za-z']+", m["content"])}
    words = [w.lower() for t in texts for w in re.findall(r"[A-Za-z']+", t)]
    return sum(w in known for w in words) / len(words) if words else 0.0


def weights_differ(a: Path, b: Path) -> bool:
    """True when two saved models have different weights."""
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return any(not wa[k].equal(wb[k]) for k in wa if k in wb)
