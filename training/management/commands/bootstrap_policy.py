"""`manage.py bootstrap_policy [--project SLUG]`: build the offline tiny policy once and give it to projects."""

from __future__ import annotations

import json
import subprocess
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from training.models import ModelKind, ModelVersion
from training.runner.finish import file_tail
from training.runner.prepare import TINY_POLICY_NAME, build_command, job_env, tiny_policy_dir
from training.selectors import project_pointers
from training.services.configs import job_module_name
from training.services.registry import model_dir_is_complete, model_promote, model_version_register


def tiny_policy_build(*, stdout: Any = None) -> Path:
    """Run the bootstrap job into MODELS_DIR/tiny-policy unless a complete copy is there; return its path."""
    target = tiny_policy_dir()
    if model_dir_is_complete(target):
        return target
    if target.exists():
        raise CommandError(f"{target} exists but is incomplete (no COMPLETE marker); remove it and run again")
    run_dir = Path(settings.MODELS_DIR) / ".bootstrap" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    config_path.write_text(json.dumps({"output_dir": str(target), "run_dir": str(run_dir)}), encoding="utf-8")
    command = build_command(module=job_module_name("bootstrap"), config_path=config_path, nproc=1)
    with (run_dir / "stderr.log").open("wb") as err:
        done = subprocess.run(command, cwd=settings.BASE_DIR, env=job_env(None), stdout=stdout, stderr=err, check=False)
    if done.returncode != 0 or not model_dir_is_complete(target):
        tail = file_tail(run_dir / "stderr.log", lines=15)
        raise CommandError(f"building the tiny policy failed (exit {done.returncode}):\n{tail}")
    return target


def tiny_policy_register(*, project: Project, path: Path) -> tuple[ModelVersion, bool]:
    """Register the tiny policy in a project (once) and promote it if the project has no policy."""
    version = ModelVersion.objects.filter(project=project, name=TINY_POLICY_NAME).first()
    if version is None:
        metrics_file = path / "result.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        version = model_version_register(project=project, kind=ModelKind.POLICY, name=TINY_POLICY_NAME, path=str(path), metrics=metrics)
    promoted = project_pointers(project).policy is None
    if promoted:
        model_promote(version=version)
    return version, promoted


class Command(BaseCommand):
    help = "Build the offline tiny policy (cached under MODELS_DIR/tiny-policy) and register it in projects."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--project", help="Project slug (default: every project).")

    def handle(self, *args: Any, project: str | None = None, **options: Any) -> None:
        projects = Project.objects.filter(slug=project) if project else Project.objects.all()
        if project and not projects.exists():
            raise CommandError(f"no project with slug {project!r}")
        cached = model_dir_is_complete(tiny_policy_dir())
        if not cached:
            self.stdout.write("Building the tiny policy (a few minutes on 2 CPU cores)...")
        path = tiny_policy_build(stdout=None if options["verbosity"] > 1 else subprocess.DEVNULL)
        self.stdout.write(f"Tiny policy {'reused' if cached else 'built'}: {path}")
        for item in projects:
            version, promoted = tiny_policy_register(project=item, path=path)
            state = "registered and promoted" if promoted else "registered (current policy kept)"
            self.stdout.write(f"{item.slug}: {version.name} {state}")
