"""Experiment tracking: every job's metrics go to TensorBoard event files, and to W&B, MLflow or trackio on request.

One place for all kinds: `MetricsWriter` (common.py) hands each metrics.jsonl row to the
trackers named in the run's `report_to` (default `["tensorboard"]`), so trainer-based jobs and
PPO's own loop report the same numbers under the same names. TensorBoard files go to
`<run_dir>/tensorboard/` and are flushed every row, so a killed run keeps what it logged.
Torch-free at import: the web app validates `report_to` with `check_report_to`.
"""

from __future__ import annotations

import atexit
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.jobs.base import ConfigError, JobError

TRACKERS = ("tensorboard", "wandb", "mlflow", "trackio")
DEFAULT_REPORT_TO = ("tensorboard",)
TENSORBOARD_DIR = "tensorboard"
PROJECT = "prefloop"

_report_to: tuple[str, ...] = DEFAULT_REPORT_TO
_explicit = False


def check_report_to(value: Any) -> None:
    """Refuse anything but a list of known tracker names, naming the field."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"report_to: expected a list such as [\"tensorboard\"], got {value!r}")
    unknown = sorted(set(value) - set(TRACKERS))
    if unknown:
        raise ConfigError(f"report_to: unknown tracker {', '.join(unknown)}; choose from {', '.join(TRACKERS)}")


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def configure(report_to: Sequence[str] | None) -> None:
    """Choose this process's trackers from the config; JobError when a requested one is not installed."""
    global _report_to, _explicit
    if report_to is None:
        return
    missing = [name for name in report_to if not installed(name)]
    if missing:
        raise JobError(f"report_to: {', '.join(missing)} not installed on this worker (pip install {' '.join(missing)})")
    _report_to, _explicit = tuple(report_to), True


class Trackers:
    """The trackers of one run directory, opened on the first row."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._sinks: list[Any] | None = None

    def log(self, values: dict[str, float], step: int) -> None:
        if self._sinks is None:
            self._sinks = self._open()
        for sink in self._sinks:
            sink.log(values, step)

    def _open(self) -> list[Any]:
        sinks: list[Any] = []
        for name in _report_to:
            if name == "tensorboard" and not installed("tensorboard"):
                if _explicit:
                    raise JobError("report_to: tensorboard is not installed on this worker")
                print("tensorboard is not installed: no event files for this run", file=sys.stderr)
                continue
            sinks.append(_SINKS[name](self.run_dir))
            atexit.register(sinks[-1].close)
        return sinks


class _TensorBoard:
    """Scalars through tensorboard's own event writer (no torch import: a fake job stays light)."""

    def __init__(self, run_dir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.writer = EventFileWriter(str(run_dir / TENSORBOARD_DIR))

    def log(self, values: dict[str, float], step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=key, simple_value=value) for key, value in values.items()])
        self.writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run_dir: Path) -> None:
        import wandb

        self.run = wandb.init(project=PROJECT, name=run_dir.name, dir=str(run_dir))

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


class _MLflow:
    def __init__(self, run_dir: Path) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.start_run(run_name=run_dir.name)

    def log(self, values: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(values, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class _Trackio:
    def __init__(self, run_dir: Path) -> None:
        import trackio

        self.trackio = trackio
        trackio.init(project=PROJECT, name=run_dir.name)

    def log(self, values: dict[str, float], step: int) -> None:
        self.trackio.log(values, step=step)

    def close(self) -> None:
        self.trackio.finish()


_SINKS = {"tensorboard": _TensorBoard, "wandb": _WandB, "mlflow": _MLflow, "trackio": _Trackio}
