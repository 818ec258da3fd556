"""A killed run resumes from its last complete checkpoint and finishes its configured steps; incomplete ones are skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.jobs_helpers import REPO_ROOT, job_env, make_preference_rows, run_job_module, write_jsonl
from training.jobs import checkpoints


def _start(kind: str, config: dict, workdir: Path) -> subprocess.Popen:
    path = workdir / f"{kind}-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", f"training.jobs.{kind}", "--config", str(path)], cwd=REPO_ROOT,
                            env=job_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_after_first_checkpoint(proc: subprocess.Popen, run_dir: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if list(checkpoints.checkpoint_root(run_dir).glob(f"*/{checkpoints.MARKER}")):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the job finished or hung before its first checkpoint; nothing was killed")


def _plant_incomplete(run_dir: Path, name: str) -> None:
    """A checkpoint cut off mid-save: files that cannot load, and no marker."""
    bad = checkpoints.checkpoint_root(run_dir) / name
    bad.mkdir(parents=True)
    for filename in ("model.safetensors", "trainer_state.json", "state.pt", "optimizer.pt"):
        (bad / filename).write_bytes(b"\x00truncated")


@pytest.mark.slow
def test_a_killed_dpo_run_resumes_from_its_last_complete_checkpoint_and_finishes(tmp_path: Path, tiny_policy: Path) -> None:
    run_dir, out = tmp_path / "run", tmp_path / "out"
    train = write_jsonl(tmp_path / "train.jsonl", make_preference_rows(32))
    config = {"model": str(tiny_policy), "train_file": str(train), "output_dir": str(out), "run_dir": str(run_dir),
              "max_steps": 24, "save_steps": 3, "save_total_limit": 2, "logging_steps": 1,
              "per_device_train_batch_size": 4, "learning_rate": 1e-4, "eval_fraction": 0.0}
    _kill_after_first_checkpoint(_start("dpo", config, tmp_path), run_dir)
    assert not out.exists()
    _plant_incomplete(run_dir, "checkpoint-23")

    proc = run_job_module("dpo", config, tmp_path)

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checkpoint-23 is incomplete (no COMPLETE marker): skipped" in proc.stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["global_step"] == 24
    assert result["resumed_from"].startswith("checkpoint-") and 3 <= int(result["resumed_from"].split("-")[1]) < 24
    assert (out / "COMPLETE").exists()


def test_latest_complete_skips_a_newer_checkpoint_without_its_marker(tmp_path: Path, capsys) -> None:
    root = checkpoints.checkpoint_root(tmp_path)
    for step in (2, 4):
        (root / f"checkpoint-{step}").mkdir(parents=True)
        checkpoints.mark_complete(root / f"checkpoint-{step}")
    _plant_incomplete(tmp_path, "checkpoint-6")
    assert checkpoints.latest_complete(tmp_path) == root / "checkpoint-4"
    assert "checkpoint-6 is incomplete" in capsys.readouterr().err
    checkpoints.prune(tmp_path, keep=1)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-4"]


@pytest.mark.slow
def test_a_killed_ppo_run_resumes_from_its_last_complete_checkpoint_and_finishes(tmp_path: Path, tiny_policy: Path) -> None:
    from tests.training.rl_helpers import read_metrics, write_prompts

    run_dir, out = tmp_path / "run", tmp_path / "out"
    config = {"model": str(tiny_policy), "reward_model": str(tiny_policy), "run_dir": str(run_dir), "output_dir": str(out),
              "prompts_file": str(write_prompts(tmp_path / "prompts.jsonl", n=16)), "total_episodes": 48, "batch_size": 4,
              "mini_batch_size": 2, "ppo_epochs": 1, "response_length": 8, "save_steps": 2, "save_total_limit": 2}
    _kill_after_first_checkpoint(_start("ppo", config, tmp_path), run_dir)
    assert not out.exists()
    _plant_incomplete(run_dir, "update-11")

    proc = run_job_module("ppo", config, tmp_path)

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "update-11 is incomplete (no COMPLETE marker): skipped" in proc.stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["updates"] == 12 and result["episodes"] == 48
    done = int(result["resumed_from"].split("-")[1])
    assert 2 <= done < 12
    assert [m["step"] for m in read_metrics(run_dir)][-(12 - done):] == list(range(done + 1, 13))
    assert (out / "COMPLETE").exists()
