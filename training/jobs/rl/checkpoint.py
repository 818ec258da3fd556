"""PPO checkpoints: everything the loop carries between updates, so a resumed run continues where it stopped.

`<run_dir>/checkpoints/update-<n>/`: state.pt (policy + value weights, optimizer, LR schedule,
KL coefficient, prompt stream, minibatch shuffle, history of per-update stats) from rank 0,
rng-<rank>.pt from every process, then the COMPLETE marker once all are written. Loaded with
`torch.load(weights_only=True)`: tensors and plain containers only, never pickled code.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from training.jobs import checkpoints


def _rng_state() -> dict[str, Any]:
    import torch

    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def save(run: Any, config: Any, update: int, history: list[dict[str, float]]) -> None:
    """Write update-<update>; every process calls this (each saves its own random state)."""
    import torch

    acc = run.accelerator
    path = checkpoints.checkpoint_root(config.run_dir) / f"update-{update}"
    if acc.is_main_process:
        shutil.rmtree(path, ignore_errors=True)  # a half-written one from before a crash
        path.mkdir(parents=True)
    acc.wait_for_everyone()
    state = acc.get_state_dict(run.model)  # a collective under FSDP/ZeRO-3
    if acc.is_main_process:
        torch.save({
            "update": update, "model": state, "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "kl_coef": float(run.kl_ctl.value),
            "prompt_queue": list(run.sampler.queue), "prompt_generator": run.sampler.generator.get_state(),
            "shuffle": run.shuffle.get_state(), "history": history,
        }, path / "state.pt")
    torch.save(_rng_state(), path / f"rng-{acc.process_index}.pt")
    acc.wait_for_everyone()
    if acc.is_main_process:
        checkpoints.mark_complete(path)
        checkpoints.prune(config.run_dir, config.save_total_limit)
    acc.wait_for_everyone()


def resume(run: Any, config: Any) -> tuple[int, list[dict[str, float]], str | None]:
    """Load the last complete checkpoint into `run`; return (updates done, their stats, its name)."""
    import torch

    path = checkpoints.latest_complete(config.run_dir) if config.save_steps else None
    if path is None or not path.name.startswith("update-"):
        return 0, [], None
    print(f"resuming from {path.name}", file=sys.stderr, flush=True)
    state = torch.load(path / "state.pt", weights_only=True, map_location="cpu")
    run.accelerator.unwrap_model(run.model).load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.kl_ctl.value = state["kl_coef"]
    run.sampler.queue = list(state["prompt_queue"])
    run.sampler.generator.set_state(state["prompt_generator"])
    run.shuffle.set_state(state["shuffle"])
    rng = Path(path / f"rng-{run.accelerator.process_index}.pt")
    if rng.exists():
        saved = torch.load(rng, weights_only=True)
        torch.set_rng_state(saved["cpu"])
        if "cuda" in saved and torch.cuda.is_available():
            torch.cuda.set_rng_state(saved["cuda"])
    return int(state["update"]), list(state["history"]), path.name
