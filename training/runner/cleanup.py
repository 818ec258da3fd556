"""Remove the temporary output directories a job leaves when it dies mid-save.

A job writes its model to MODELS_DIR/<project>/.tmp-<kind>-<run id>-<pid> and renames it into
place only when complete (training.jobs.common.atomic_output_dir). A job killed with SIGKILL
(cancel after the grace period, timeout, the OOM killer) cannot remove that directory itself,
so the runner removes it when the job has ended, and the worker at start removes any that no
active run owns (left by a worker that died with its job).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from training.models import ACTIVE_RUN_STATUSES, Run

logger = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"


def _owner_prefix(kind: str, run_id: int) -> str:
    # The trailing "-" keeps run 1's prefix from matching run 12's directories.
    return f"{TMP_PREFIX}{kind}-{run_id}-"


def _remove(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed += 1
            logger.info("removed the temporary output directory %s", path)
    return removed


def run_temp_dirs_remove(run: Run) -> int:
    """Remove the temporary output directories of a run whose job has ended; return how many."""
    base = Path(settings.MODELS_DIR) / run.project.slug
    return _remove(p for p in base.glob(f"{_owner_prefix(run.kind, run.pk)}*") if p.is_dir())


def stale_temp_dirs_remove() -> int:
    """Remove every job temporary directory under MODELS_DIR/<project>/ that no active run owns."""
    candidates = [p for p in Path(settings.MODELS_DIR).glob(f"*/{TMP_PREFIX}*") if p.is_dir()]
    if not candidates:
        return 0
    # Runs are read after the listing: a run is marked running before its job makes the
    # directory, so every directory listed above whose run is still active is owned below.
    active = Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("project__slug", "kind", "pk")
    owned = {(slug, _owner_prefix(kind, pk)) for slug, kind, pk in active}
    stale = [p for p in candidates if not any(p.parent.name == slug and p.name.startswith(pre) for slug, pre in owned)]
    return _remove(stale)
