"""manage.py seed_demo: demo users and a demo project with 45 ranked-ready prompts (idempotent)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from labeling.models import Membership, Project, Role
from labeling.services import project_create, prompts_import

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_prompts.jsonl"
# Small sums with reference answers (tag "arithmetic"): a GRPO run with rule rewards can start on them.
ARITHMETIC = FIXTURE.with_name("demo_arithmetic.jsonl")
USERS = [("admin", True, Role.MANAGER), ("annotator1", False, Role.ANNOTATOR), ("annotator2", False, Role.ANNOTATOR)]

INSTRUCTIONS = """\
**Rank the responses from best to worst** for the last user message.

What makes a response better, in this order:

1. **Safe** – refuses clearly harmful requests, points to real help in emergencies.
2. **Correct** – facts, numbers and code are right. A confident wrong answer is worse than a vague one.
3. **Helpful** – answers the actual question, with the detail the user needs.
4. **Clear** – well organised, no padding.

Tips:

- Put two responses in the **same group (a tie)** only when you truly cannot prefer one.
- Flag **unsafe** if any response gives dangerous instructions; flag **all bad** if none is acceptable.
- Code blocks are rendered; you do not need to run the code, but check it reads correctly.
"""


def _passwords(path: Path) -> dict[str, str]:
    """Return the demo passwords: DEMO_PASSWORD for all, else generated once and kept in a file."""
    shared = os.environ.get("DEMO_PASSWORD", "")
    if shared:
        return {name: shared for name, _, _ in USERS}
    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, password = line.partition(" ")
            if name and password:
                stored[name] = password
    missing = [name for name, _, _ in USERS if name not in stored]
    if missing:
        stored.update({name: secrets.token_urlsafe(12) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name} {stored[name]}\n" for name, _, _ in USERS))
        path.chmod(0o600)
    return stored


class Command(BaseCommand):
    help = "Create the demo users (admin, annotator1, annotator2) and the demo project; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = Path(settings.DATA_DIR) / "demo_passwords.txt"
        passwords = _passwords(password_file)
        with transaction.atomic():
            users = self._users(passwords)
            project = Project.objects.filter(slug="demo").first() or project_create(
                name="Demo: helpful, honest, harmless",
                slug="demo",
                k=4,
                overlap=2,
                allow_ties=True,
                instructions=INSTRUCTIONS,
                user=users["admin"],
            )
            for name, _, role in USERS:
                Membership.objects.get_or_create(project=project, user=users[name], defaults={"role": role})
            with FIXTURE.open("rb") as handle:
                result = prompts_import(project=project, upload=handle, fmt="jsonl", user=users["admin"])
            with ARITHMETIC.open("rb") as handle:
                sums = prompts_import(project=project, upload=handle, fmt="jsonl", user=users["admin"])
        self.stdout.write(
            f"Demo project '{project.slug}': {result.created_prompts} new prompt(s), {result.created_comparisons} new "
            f"comparison(s) ({result.skipped_duplicates} prompt(s) already there)."
        )
        self.stdout.write(f"Arithmetic prompts with reference answers (tag 'arithmetic', for GRPO with rule rewards): "
                          f"{sums.created_prompts} new.")
        source = "DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else str(password_file)
        self.stdout.write(f"Demo users (passwords from {source}):")
        for name, staff, role in USERS:
            self.stdout.write(f"  {name:<11} {passwords[name]}   ({'staff, ' if staff else ''}{role})")

    def _users(self, passwords: dict[str, str]) -> dict[str, Any]:
        User = get_user_model()
        users = {}
        for name, staff, _ in USERS:
            user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": staff, "is_superuser": staff})
            # Reset each time, so the printed password is always the one that works.
            user.set_password(passwords[name])
            user.is_active = True
            user.save()
            users[name] = user
        return users
