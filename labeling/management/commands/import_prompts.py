"""manage.py import_prompts PROJECT_SLUG FILE: import prompts from JSONL or CSV, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project
from labeling.services import ImportValidationError, prompts_import


class Command(BaseCommand):
    help = "Import prompts (and comparisons, for rows with K responses) into a project from a JSONL or CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("file", type=Path, help="A .jsonl or .csv file (UTF-8).")
        parser.add_argument("--format", choices=["jsonl", "csv"], help="Default: from the file name.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            known = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No project with slug {options['project']!r} (projects: {known}).")
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with path.open("rb") as handle:
                result = prompts_import(project=project, upload=handle, fmt=options["format"])
        except ImportValidationError as exc:
            for error in exc.errors:
                where = f"line {error['line']}: " if error["line"] else ""
                self.stderr.write(f"{where}{error['field']}: {error['message']}")
            if exc.total > len(exc.errors):
                self.stderr.write(f"... and {exc.total - len(exc.errors)} more problems")
            raise CommandError(f"Nothing was imported ({exc.total} problem(s) in {path}).") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows} row(s) into {project.slug}: {result.created_prompts} new prompt(s), "
                f"{result.skipped_duplicates} already there; {result.created_comparisons} new comparison(s), "
                f"{result.skipped_comparisons} already there."
            )
        )
