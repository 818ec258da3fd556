"""Checkpoints every N steps and resume from the last complete one, for the trainer kinds and PPO.

A checkpoint lives in `<run_dir>/checkpoints/<name>-<step>/`; its `COMPLETE` marker is written
last, after every file of it is on disk, so a job killed mid-save leaves a checkpoint without
the marker. Resuming picks the newest checkpoint that has the marker and skips (never loads)
the others. The worker resumes a failed, cancelled or killed run by starting the same job in
the same run directory: the job finds the checkpoint itself. The runner deletes the folder
once the run succeeds (the finished model is elsewhere).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from training.jobs.base import check_range

CHECKPOINT_DIR = "checkpoints"
MARKER = "COMPLETE"
_STEP = re.compile(r"^(?:checkpoint|update)-(\d+)$")


def check_checkpoint_fields(config: Any) -> None:
    """Validate save_steps / save_total_limit where the config has them."""
    if not hasattr(config, "save_steps"):
        return
    check_range("save_steps", config.save_steps, low=0, kind=int)
    check_range("save_total_limit", config.save_total_limit, low=1, high=100, kind=int)


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def mark_complete(path: Path) -> None:
    """Write the marker that makes `path` a checkpoint resume may load (call after everything else)."""
    (path / MARKER).write_text("ok\n", encoding="utf-8")


def _by_step(root: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))] if root.is_dir() else []
    return sorted(found, reverse=True)


def latest_complete(run_dir: str | Path) -> Path | None:
    """Return the newest checkpoint with its marker; say which incomplete ones were skipped."""
    for _, path in _by_step(checkpoint_root(run_dir)):
        if (path / MARKER).exists():
            return path
        print(f"checkpoint {path.name} is incomplete (no {MARKER} marker): skipped", file=sys.stderr, flush=True)
    return None


def prune(run_dir: str | Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints and drop every incomplete one (call right after a save)."""
    import shutil

    complete = 0
    for _, path in _by_step(checkpoint_root(run_dir)):
        is_complete = (path / MARKER).exists()
        complete += is_complete
        if complete > keep or not is_complete:
            shutil.rmtree(path, ignore_errors=True)


def trainer_kwargs(config: Any) -> dict[str, Any]:
    """TrainingArguments that save a checkpoint every save_steps into the run directory (none when 0)."""
    if not getattr(config, "save_steps", 0) or not getattr(config, "run_dir", ""):
        return {}
    return {"output_dir": str(checkpoint_root(config.run_dir)), "save_strategy": "steps", "save_steps": config.save_steps,
            "save_total_limit": config.save_total_limit}


def train(trainer: Any, config: Any) -> Any:
    """trainer.train(), resumed from the run's last complete checkpoint when there is one; markers on every save."""
    trainer.add_callback(_checkpoint_marker())
    resume = latest_complete(config.run_dir) if getattr(config, "run_dir", "") and getattr(config, "save_steps", 0) else None
    if resume is not None:
        print(f"resuming from {resume.name}", file=sys.stderr, flush=True)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer.state.resumed_from = resume.name if resume else None
    return output




def _checkpoint_marker() -> Any:
    """A Trainer callback that marks each checkpoint complete once the Trainer has written all of it."""
    from transformers import TrainerCallback  # heavy: only when a job trains

    class CheckpointMarker(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and path.is_dir():
                mark_complete(path)

    return CheckpointMarker()
