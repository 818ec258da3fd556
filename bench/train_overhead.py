"""Benchmark: the same DPO training through PrefLoop's runner vs a bare TRL script.

    python bench/train_overhead.py [--model DIR] [--pairs 384] [--epochs 2] [--repeat 1]

PrefLoop half: a Run (kind dpo) on a dataset snapshot in a throw-away SQLite database, executed
by training.orchestration.run_execute — config validation, run dir, `python -m training.jobs.dpo`,
metrics tailing into the DB, held-out evaluation before/after, atomic save, model registration.
Bare half: a plain script that loads the same model and data and calls DPOTrainer with the same
settings (data, model, steps, seed), then saves. Both run as fresh processes, so both pay the
interpreter and import start-up. Target: PrefLoop / bare <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE_SCRIPT = textwrap.dedent('''
    import json, sys
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model_dir, train_file, out_dir, hp = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    rows = [json.loads(line) for line in open(train_file)]
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    args = DPOConfig(output_dir=out_dir + "-trainer", bf16=False, use_cpu=True, gradient_checkpointing=False,
                     save_strategy="no", report_to=[], disable_tqdm=True, **hp)
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    trainer.train()
    trainer.save_model(out_dir)
    tok.save_pretrained(out_dir)
''')


def hyperparameters(args: argparse.Namespace) -> dict:
    """The DPO settings both halves use (the job's user-settable fields, same names as DPOConfig)."""
    return {"learning_rate": 1e-3, "num_train_epochs": float(args.epochs), "per_device_train_batch_size": 8,
            "max_length": 128, "logging_steps": 10, "seed": 0, "beta": 0.1}


def write_data(workdir: Path, pairs: int) -> tuple[Path, Path]:
    from training.jobs.tinymodel import synthetic_preferences

    snap = workdir / "snapshot"
    snap.mkdir()
    for name, rows in (("train.jsonl", synthetic_preferences(pairs, seed=1)), ("test.jsonl", synthetic_preferences(32, seed=2))):
        (snap / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return snap / "train.jsonl", snap / "test.jsonl"


def run_bare(model: str, train_file: Path, workdir: Path, hp: dict, tag: str) -> float:
    script = workdir / "bare_dpo.py"
    script.write_text(BARE_SCRIPT)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), model, str(train_file), str(workdir / f"bare-{tag}"), json.dumps(hp)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bare TRL script failed:\n{proc.stderr[-3000:]}")
    return elapsed


def setup_django(workdir: Path) -> None:
    os.environ["PREFLOOP_DATA_DIR"] = str(workdir / "data")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run_prefloop(model: str, snapshot_dir: Path, hp: dict, tag: str) -> tuple[float, dict]:
    from labeling.models import DatasetSnapshot, Project, SnapshotStatus
    from training.models import Run, RunKind
    from training.orchestration import run_execute
    from training.services.configs import config_validate

    project = Project.objects.create(name=f"bench {tag}", slug=f"bench-{tag}", base_model=model)
    snapshot = DatasetSnapshot.objects.create(
        project=project, name=f"bench-{tag}", status=SnapshotStatus.SUCCEEDED, path=str(snapshot_dir),
        files={"train.jsonl": "", "test.jsonl": ""},
    )
    run = Run.objects.create(project=project, kind=RunKind.DPO, config=config_validate(RunKind.DPO, hp), snapshot=snapshot)
    started = time.perf_counter()
    status = run_execute(run.pk)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    if status != "succeeded":
        raise SystemExit(f"PrefLoop run {status}: {run.error}\n{run.log_tail[-3000:]}")
    return elapsed, run.outputs.get("result", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="policy dir (default: build the tiny policy first, not timed)")
    parser.add_argument("--pairs", type=int, default=1024)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=2, help="alternate the two halves this many times; report the best")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.model:
            model = str(Path(args.model).resolve())
        else:
            from training.jobs.tinymodel import build_tiny_policy

            model = str(build_tiny_policy(workdir / "policy", sft_steps=60, learning_rate=1e-2))
        train_file, _ = write_data(workdir, args.pairs)
        setup_django(workdir)
        hp = hyperparameters(args)
        bare, ours, result = [], [], {}
        for i in range(args.repeat):
            bare.append(run_bare(model, train_file, workdir, hp, str(i)))
            elapsed, result = run_prefloop(model, train_file.parent, hp, str(i))
            ours.append(elapsed)
    steps = result.get("global_step")
    print(f"DPO: {args.pairs} pairs x {args.epochs:g} epochs, batch 8, {steps} steps, tiny policy, CPU, repeat={args.repeat}")
    print(f"bare TRL script          : {min(bare):6.2f} s  (all: {', '.join(f'{t:.2f}' for t in bare)})")
    print(f"PrefLoop runner + job    : {min(ours):6.2f} s  (all: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"ratio PrefLoop / bare    : {min(ours) / min(bare):.3f} (target <= 1.10)")
    print(f"PrefLoop extras measured : held-out preference accuracy {result.get('eval_start_preference_accuracy')} -> "
          f"{result.get('eval_preference_accuracy')}")


if __name__ == "__main__":
    main()
