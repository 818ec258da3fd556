"""manage.py import_prompts PROJECT_SLUG SOURCE: import prompts, dialogues or preference pairs, all or nothing.

SOURCE is a JSONL/CSV/Parquet file, a `datasets.save_to_disk` folder (or its zip), or, with
--hub, a Hugging Face Hub dataset id. --map FIELD=COLUMN maps columns; --preview shows the
mapping and the first rows without importing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.management.commands.export_preferences import ProgressBar
from labeling.models import Project
from labeling.services import ImportValidationError, prompts_import
from labeling.services.import_sources import FIELDS, Source, SourceError, hub_source
from labeling.services.import_staging import import_preview, source_from_path


def _mapping(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or field not in FIELDS:
            raise CommandError(f"--map takes FIELD=COLUMN with FIELD one of {', '.join(FIELDS)}; got {pair!r}")
        mapping[field] = column
    return mapping


class Command(BaseCommand):
    help = "Import prompts (dialogues, preference pairs, comparisons) from JSONL, CSV, Parquet, a datasets folder or a Hub dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("file", nargs="?", type=Path, help="A .jsonl/.csv/.parquet file, a save_to_disk folder or its .zip.")
        parser.add_argument("--hub", help="A Hugging Face Hub dataset id instead of a file (needs a network).")
        parser.add_argument("--split", help="Which split of a folder or Hub dataset (default: train).")
        parser.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="Default: from the file name.")
        parser.add_argument("--map", action="append", metavar="FIELD=COLUMN", help=f"Column mapping; fields: {', '.join(FIELDS)}.")
        parser.add_argument("--preview", action="store_true", help="Show the mapping and the first rows; import nothing.")
        parser.add_argument("--no-progress", action="store_true")

    def _source(self, options: dict[str, Any]) -> Source:
        try:
            if options["hub"]:
                return hub_source(options["hub"], split=options["split"])
            if options["file"] is None:
                raise CommandError("Give a FILE (or folder), or --hub DATASET_ID.")
            return source_from_path(options["file"], fmt=options["format"], split=options["split"])
        except SourceError as exc:
            raise CommandError(f"Nothing was imported: {exc}") from exc
        except ImportValidationError as exc:
            raise CommandError(exc.summary()) from exc

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            known = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No project with slug {options['project']!r} (projects: {known}).")
        source, mapping = self._source(options), _mapping(options["map"])
        try:
            if options["preview"]:
                self._preview(project, source, mapping)
                return
            progress = None if options["no_progress"] else ProgressBar(self.stderr._out, noun="rows")
            result = prompts_import(project=project, source=source, mapping=mapping, progress=progress)
        except ImportValidationError as exc:
            for error in exc.errors:
                where = f"{exc.unit} {error['line']}: " if error["line"] else ""
                self.stderr.write(f"{where}{error['field']}: {error['message']}")
            if exc.total > len(exc.errors):
                self.stderr.write(f"... and {exc.total - len(exc.errors)} more problems")
            raise CommandError(f"Nothing was imported ({exc.total} problem(s) in {source.name}).") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows} row(s) into {project.slug}: {result.created_prompts} new prompt(s), "
                f"{result.skipped_duplicates} already there; {result.created_comparisons} new comparison(s), "
                f"{result.skipped_comparisons} already there."
            )
        )

    def _preview(self, project: Project, source: Source, mapping: dict[str, str] | None) -> None:
        preview = import_preview(project=project, source=source, mapping=mapping)
        self.stdout.write(f"{preview.source}: {preview.total if preview.total is not None else '?'} rows; columns: {', '.join(preview.columns)}")
        self.stdout.write("mapping: " + ", ".join(f"{f} <- {c}" for f, c in preview.mapping.items()))
        for row in preview.sample:
            self.stdout.write(json.dumps(row, ensure_ascii=False))
