#!/usr/bin/env python
"""Regenerate docs/screenshots/*.png: the real app, served locally, photographed by Chromium.

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/
    .venv/bin/python scripts/screenshots.py --out /tmp/shots

It builds a throw-away SQLite database in a temporary data directory (never var/), fills it
with a small project (a haiku and a letter among the responses, three annotators who agree
more or less, a gold comparison, a finished DPO run with metrics), serves it with
`manage.py runserver`, and drives Debian's /usr/bin/chromium with Playwright (no download).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("PREFLOOP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "screenshots-only-password"
HAIKU = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again."
ANSWERS = [
    HAIKU,
    "Pond lies still and old —\na frog leaps, and with a splash\nsilence comes back whole.",
    "Here is a haiku about a pond: the pond is quiet, a frog jumps in, it splashes, and then it is quiet again.",
    "Silent pond at dusk\nripples run from a green frog\nthe moon shakes, then sleeps",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Each annotator's habit, as places of the responses by import position (0 = first answer):
# ann and bob mostly agree, chen clicks straight through whatever order he is shown, fast.
HABITS = {"ann": [0, 1, 3, 2], "bob": [1, 0, 3, 2]}


def _rank_as(project, user, n: int) -> None:  # type: ignore[no-untyped-def]
    """Lease the next comparison as the ranking page would and rank it by the user's habit."""
    from labeling.services import queue_claim_next, ranking_submit

    lease = queue_claim_next(project=project, annotator=user)
    ids = list(lease.comparison.responses.order_by("position").values_list("pk", flat=True))
    if user.username == "chen":
        order, spent = list(lease.display_order), 900
    else:
        habit = HABITS[user.username] if n % 2 == 0 or user.username == "ann" else HABITS["ann"]
        order, spent = [ids[i] for i in habit], 12_000 + 1_500 * n
    flags = ["unsafe"] if (n, user.username) == (3, "bob") else []
    data = {"order": [[rid] for rid in order], "time_spent_ms": spent, "flags": flags}
    ranking_submit(comparison=lease.comparison, annotator=user, data=data)


def _seed() -> dict[str, int]:
    """Fill the fresh database; return the ids the pages need."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from labeling.models import Membership, Role
    from labeling.services import prompts_import
    from training.models import MetricPoint, ModelKind, ModelVersion, Run, RunKind, RunStatus

    call_command("migrate", verbosity=0)
    User = get_user_model()
    manager = User.objects.create_user("maria", password=PASSWORD, is_staff=True)
    people = [User.objects.create_user(n, password=PASSWORD) for n in ("ann", "bob", "chen")]
    from labeling.services import project_create

    project = project_create(name="Poetry and email", k=4, overlap=3, user=manager, instructions=(
        "Rank from **best** to worst. Form matters: a haiku has three lines, a letter keeps its sign-off."
    ))
    project.gold_share = 0.2
    project.save(update_fields=["gold_share"])
    for user in people:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    rows = [{"prompt": f"Write a haiku about an old pond ({n}).", "tags": ["poem"], "responses": ANSWERS} for n in range(6)]
    rows += [{"prompt": "Thank Ana for the parcel, in two lines.", "tags": ["email"], "gold": 0,
              "responses": ["Thanks for the parcel, Ana!\nSam", "parcel ok", "Dear Ana, thanks.", "Received."]}]
    letter = [
        "Dear Ana,\nthe parcel arrived this morning, safe and sound.\nThank you so much!\n\nThanks,\nSam",
        "Hi Ana — got the parcel, thanks! Sam",
        "Dear Ana,\n\nThank you for the parcel. Here is what was inside:\n\n- two books\n- a scarf\n- a jar of honey\n\n"
        + "\n\n".join(f"Paragraph {i}: more words about how kind it was, and the weather, and the journey." for i in range(8))
        + "\n\nBest,\nSam",
        "Thanks,\nSam",
    ]
    rows += [{"prompt": f"Write Ana a short thank-you note for the parcel ({n}).\nSign it Sam.", "tags": ["email"], "responses": letter} for n in range(3)]
    prompts_import(project=project, rows=rows)
    comparisons = list(project.comparisons.order_by("id"))
    for user in people:
        for n in range(7):  # six poems and, at the project's gold share, the gold letter
            _rank_as(project, user, n)
    start = timezone.now() - timedelta(minutes=7)
    policy = ModelVersion.objects.create(project=project, kind=ModelKind.POLICY, name="policy-v0", path="var/models/policy-v0")
    run = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.SUCCEEDED, progress=1.0, started_at=start,
                             finished_at=start + timedelta(seconds=142), config={"beta": 0.1, "loss_type": ["sigmoid"], "learning_rate": 5e-07},
                             inputs={"model": "policy-v0"}, created_by=manager,
                             log_tail="INFO loading policy-v0\n\x1b[32mINFO\x1b[0m 48 pairs, 6 held out\n 100%|██████████| 30/30 [00:41<00:00]\nsaved policy-v1")
    for step in range(1, 31):
        MetricPoint.objects.create(run=run, step=step, values={
            "loss": 0.693 * (0.985 ** step), "rewards/accuracies": min(0.95, 0.5 + step * 0.016),
            "rewards/margins": 0.02 * step, "learning_rate": 5e-07,
        })
    ModelVersion.objects.create(project=project, kind=ModelKind.POLICY, name="policy-v1", path="var/models/policy-v1",
                                parent=policy, run=run, metrics={"win_rate": 0.64, "pairs": 48})
    return {"project": project.pk, "run": run.pk, "comparison": comparisons[0].pk}


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _shoot(base: str, ids: dict[str, int], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        desktop = browser.new_context(viewport={"width": 1280, "height": 900})
        page = desktop.new_page()
        _login(page, base, "ann")
        page.goto(f"{base}/projects/{ids['project']}/rank/")
        page.wait_for_selector("#rank-stage .rank-card")
        shots.append(out / "rank-desktop.png")
        page.screenshot(path=str(shots[-1]), caret="initial")
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
        mobile = phone.new_page()
        _login(mobile, base, "bob")
        mobile.goto(f"{base}/projects/{ids['project']}/rank/")
        mobile.wait_for_selector("#rank-stage .rank-card")
        shots.append(out / "rank-phone.png")
        mobile.screenshot(path=str(shots[-1]), caret="initial")
        desktop.clear_cookies()
        _login(page, base, "maria")
        for name, path in (
            ("dashboard.png", f"/projects/{ids['project']}/dashboard/"),
            ("data-browser.png", f"/projects/{ids['project']}/data/"),
            ("data-comparison.png", f"/projects/{ids['project']}/data/{ids['comparison']}/"),
            ("run-finished.png", f"/training/runs/{ids['run']}/"),
        ):
            page.goto(base + path)
            shots.append(out / name)
            page.screenshot(path=str(shots[-1]), full_page=True, caret="initial")
        browser.close()
    return shots


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the test server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prefloop-shots-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
            "PREFLOOP_DATA_DIR": data_dir, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        ids = _seed()
        port = _free_port()
        server = _serve(env, port)
        try:
            for path in _shoot(f"http://127.0.0.1:{port}", ids, args.out):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
