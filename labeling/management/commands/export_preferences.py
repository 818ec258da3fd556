"""Export a project's preferences (or prompts / SFT rows) to an immutable dataset snapshot."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.exports.params import AGGREGATIONS, FORMATS, KINDS, PAIR_SELECTIONS, STYLES
from labeling.exports.services import snapshot_create
from labeling.models import Project

LIST_OPTIONS = ("exclude_flags", "annotators_include", "annotators_exclude", "policy_versions", "tags")


class ProgressBar:
    """A plain-text progress bar on stderr, redrawn at most a few times a second."""

    def __init__(self, stream: Any = sys.stderr, width: int = 30, noun: str = "comparisons") -> None:
        self.stream, self.width, self.last, self.started, self.noun = stream, width, 0.0, time.monotonic(), noun

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if total is None:  # a JSONL/CSV file's row count is known only at its end
            if now - self.last >= 0.2:
                self.last = now
                self.stream.write(f"\r{done} {self.noun} {done / max(now - self.started, 1e-9):,.0f}/s")
                self.stream.flush()
            return
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {self.noun} {share:4.0%} {rate:,.0f}/s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = "Export a project's rankings as a dataset snapshot (TRL preference rows, verl prompts, or SFT rows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug or id.")
        parser.add_argument("--name", default="")
        parser.add_argument("--kind", choices=KINDS)
        parser.add_argument("--aggregation", choices=AGGREGATIONS)
        parser.add_argument("--pairs", choices=PAIR_SELECTIONS)
        parser.add_argument("--min-agreement", dest="min_agreement", type=float)
        parser.add_argument("--exclude-flags", dest="exclude_flags", help="Comma-separated (default: unsafe,all_bad; '' keeps all).")
        parser.add_argument("--annotators-include", dest="annotators_include", help="Comma-separated usernames.")
        parser.add_argument("--annotators-exclude", dest="annotators_exclude", help="Comma-separated usernames.")
        parser.add_argument("--date-from", dest="date_from")
        parser.add_argument("--date-to", dest="date_to")
        parser.add_argument("--policy-versions", dest="policy_versions", help="Comma-separated.")
        parser.add_argument("--tags", help="Comma-separated.")
        parser.add_argument("--cap-per-tag", dest="cap_per_tag", type=int)
        parser.add_argument("--test-fraction", dest="test_fraction", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--format", choices=FORMATS)
        parser.add_argument("--style", choices=STYLES)
        parser.add_argument("--data-source", dest="data_source", help="Prompt exports: verl's data_source (default prefloop/<slug>).")
        parser.add_argument("--ability", help="Prompt exports: verl's ability (default chat).")
        parser.add_argument("--params-json", dest="params_json", help="All parameters as one JSON object (options override it).")
        parser.add_argument("--no-progress", action="store_true")

    def _project(self, ref: str) -> Project:
        project = Project.objects.filter(slug=ref).first() or (Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None)
        if project is None:
            raise CommandError(f"No project with slug or id {ref!r}.")
        return project

    def _params(self, options: dict[str, Any]) -> dict[str, Any]:
        try:
            params = json.loads(options["params_json"]) if options["params_json"] else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params-json is not valid JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise CommandError("--params-json must be a JSON object.")
        for key in ("name", "kind", "aggregation", "pairs", "min_agreement", "date_from", "date_to", "cap_per_tag", "test_fraction", "seed", "format", "style", "data_source", "ability", *LIST_OPTIONS):
            value = options.get(key)
            if value not in (None, "") or (key == "exclude_flags" and value == ""):
                params[key] = [v for v in value.split(",") if v] if key in LIST_OPTIONS else value
        return params

    def handle(self, *args: Any, **options: Any) -> None:
        project = self._project(options["project"])
        progress = None if options["no_progress"] else ProgressBar(self.stderr._out)
        started = time.monotonic()
        try:
            snapshot = snapshot_create(project=project, params=self._params(options), progress=progress)
        except ValidationError as exc:
            fields = getattr(exc, "message_dict", None)
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()) if fields else " ".join(exc.messages)) from exc
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Snapshot {snapshot.pk} “{snapshot.name}”: {snapshot.row_count} rows "
            f"(train {snapshot.train_rows}, test {snapshot.test_rows}) in {seconds:.1f}s\n{snapshot.path}\nsha256 {snapshot.sha256}"
        )
