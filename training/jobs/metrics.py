"""metrics.jsonl, the one channel from a job to the runner (and to TensorBoard beside it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from training.jobs.base import is_main_process
from training.jobs.tracking import Trackers


class MetricsWriter:
    """Append `{"step", "progress", ...}` lines to metrics.jsonl (rank 0 only), flushed each line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.enabled = is_main_process()
        self.trackers = Trackers(self.path.parent)  # TensorBoard (and report_to's others) next to metrics.jsonl
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, progress: float, **values: float | int | str | None) -> None:
        if not self.enabled:
            return
        row: dict[str, Any] = {"step": int(step), "progress": round(min(max(float(progress), 0.0), 1.0), 4), "time": time.time()}
        for key, value in values.items():
            if value is None:
                continue
            row[key] = float(value) if hasattr(value, "__float__") and not isinstance(value, (str, int)) else value
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        numbers = {k: float(v) for k, v in row.items() if k not in ("step", "time") and isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        self.trackers.log(numbers, int(step))
