"""Walk a running `make demo` in a real browser, as a new user would, and time each step.

    .venv/bin/python scripts/demo_walk.py [--url http://127.0.0.1:8000] [--rank 30] [--threshold 12]

What it does, all through the pages (Playwright driving /usr/bin/chromium, headless):

1. logs in as the demo manager (`admin`) and opens the demo project;
2. tries Train now → reward with the defaults; if the page refuses for lack of preferences, the
   demo annotators rank comparisons on the ranking page (keyboard: focus a card, press its place)
   until `--rank` rankings each are in, then starts the reward run again;
3. waits on the run page until the reward run succeeds, then — with no other click in between —
   opens Train now → ppo, starts it with the defaults and waits until it succeeds;
4. saves a schedule on the Schedules page (`--recipe`, every `--threshold` preferences,
   auto-promote, generate the next round), ranks past the threshold and waits on the project
   page until the chain's last step has generated the next round (from the new policy when the
   gate promoted it, from the current one when the gate kept it).

The scripted annotators rank the fixtures' responses in the files' order (the demo files list
them best first) and generated ones by the friendly-words taste of bench/defaults_learn.py.
Logins come from `var/demo_passwords.txt` (`--passwords-file`, or `--passwords admin=…,annotator1=…`, or
DEMO_PASSWORD). Exits non-zero on the first step that fails, after printing what the page said.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = [ROOT / "labeling" / "fixtures" / name for name in ("demo_prompts.jsonl", "demo_arithmetic.jsonl")]
CHROMIUM = os.environ.get("PREFLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
FRIENDLY = ("you", "yes", "hello", "sure", "please", "thank")
USERS = ("admin", "annotator1", "annotator2")

TIMINGS: list[tuple[str, float, str]] = []
NOTES: list[str] = []


class WalkError(RuntimeError):
    """A step did not reach its goal; the message says what the page showed."""


@contextmanager
def step(name: str) -> Iterator[dict[str, str]]:
    """Time one step and print it; the caller may put a one-line result in the yielded dict."""
    result = {"text": ""}
    print(f"--> {name}", flush=True)
    start = time.monotonic()
    try:
        yield result
    finally:
        elapsed = time.monotonic() - start
        TIMINGS.append((name, elapsed, result["text"]))
        print(f"<-- {name}: {elapsed:.1f} s{'  ' + result['text'] if result['text'] else ''}", flush=True)


def note(text: str) -> None:
    """Record something a user would find confusing or wrong."""
    NOTES.append(text)
    print(f"    NOTE: {text}", flush=True)


def passwords(arg: str | None, path: Path) -> dict[str, str]:
    if arg:
        return dict(item.split("=", 1) for item in arg.split(","))
    if os.environ.get("DEMO_PASSWORD"):
        return {name: os.environ["DEMO_PASSWORD"] for name in USERS}
    if not path.exists():
        raise SystemExit(f"{path} is missing: pass --passwords admin=…,annotator1=…,annotator2=… or set DEMO_PASSWORD")
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)


def fixture_order() -> dict[str, int]:
    """Each demo response's text → its place in the fixture (0 = best)."""
    order: dict[str, int] = {}
    for fixture in FIXTURES:
        for line in fixture.read_text(encoding="utf-8").splitlines():
            for i, response in enumerate(json.loads(line).get("responses", []) if line.strip() else []):
                order[(response["text"] if isinstance(response, dict) else response).strip()] = i
    return order


def taste(text: str, known: dict[str, int]) -> float:
    """Higher is better: the fixture's order for demo responses, friendly words for generated ones."""
    if text.strip() in known:
        return -known[text.strip()]
    lower = text.lower()
    return sum(lower.count(word) for word in FRIENDLY)


class Walk:
    def __init__(self, browser: Any, url: str, logins: dict[str, str], timeout_s: float) -> None:
        self.browser, self.url, self.logins, self.timeout_s = browser, url.rstrip("/"), logins, timeout_s
        self.known = fixture_order()
        self.pages: dict[str, Any] = {}
        self.project_id: int | None = None

    # --- pages and logins -------------------------------------------------------------------
    def page(self, user: str) -> Any:
        """One browser context per user (own cookies), logged in through the login form."""
        if user not in self.pages:
            context = self.browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.on("pageerror", lambda exc: note(f"JavaScript error on {page.url}: {exc}"))
            page.goto(f"{self.url}/login/")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", self.logins[user])
            with page.expect_navigation():
                page.click("button[type=submit]")
            if "/login/" in page.url:
                raise WalkError(f"login failed for {user}: {page.inner_text('main')[:300]}")
            self.pages[user] = page
        return self.pages[user]

    def find_project(self, manager: str) -> int:
        page = self.page(manager)
        page.goto(f"{self.url}/")
        link = page.locator("a.project-name", has_text="Demo").first
        href = link.get_attribute("href") or ""
        match = re.search(r"/projects/(\d+)/", href)
        if not match:
            raise WalkError(f"no demo project on the project list: {page.inner_text('main')[:300]}")
        self.project_id = int(match.group(1))
        return self.project_id

    # --- ranking ----------------------------------------------------------------------------
    def rank(self, user: str, count: int) -> int:
        """Rank up to `count` comparisons as `user` on the ranking page; return how many were ranked."""
        page = self.page(user)
        page.goto(f"{self.url}/projects/{self.project_id}/rank/")
        done = 0
        while done < count:
            form = page.locator("#rank-stage form[data-rank-form]")
            if form.count() == 0:
                print(f"    {user}: nothing left to rank after {done}: {page.inner_text('#rank-stage')[:200]!r}")
                break
            comparison = form.get_attribute("data-comparison")
            before = int(page.inner_text("[data-testid=my-ranked]"))
            cards = page.eval_on_selector_all(
                "#rank-stage [data-rank-list] > .rank-card",
                "cards => cards.map(c => [c.dataset.responseId, c.querySelector('[data-testid=raw-text]').textContent])",
            )
            best_first = [rid for rid, _ in sorted(cards, key=lambda c: -taste(c[1], self.known))]
            for place, rid in enumerate(best_first, start=1):
                page.locator(f"#rank-stage .rank-card[data-response-id='{rid}']").focus()
                page.keyboard.press(str(place))
            shown = page.eval_on_selector_all("#rank-stage [data-rank-list] > .rank-card", "cs => cs.map(c => c.dataset.responseId)")
            if shown != best_first:
                raise WalkError(f"keyboard placing gave {shown}, wanted {best_first}")
            page.keyboard.press("Enter")
            try:
                page.wait_for_function(
                    "([before, comparison]) => { const m = document.querySelector('[data-testid=my-ranked]');"
                    " const f = document.querySelector('#rank-stage form[data-rank-form]');"
                    " return m && Number(m.textContent) > before && (!f || f.dataset.comparison !== comparison); }",
                    arg=[before, comparison],
                    timeout=20_000,
                )
            except Exception as exc:
                raise WalkError(f"ranking {comparison} was not accepted: {page.inner_text('#rank-stage')[:400]!r}") from exc
            done += 1
        return done

    # --- training ---------------------------------------------------------------------------
    def train_now(self, manager: str, kind: str) -> tuple[int | None, str]:
        """Open Train now, pick `kind` by its tab, press Start with the defaults; return (run id, page error)."""
        page = self.page(manager)
        page.goto(f"{self.url}/projects/{self.project_id}/")
        with page.expect_navigation():
            page.click("[data-testid=open-train]")
        tab = page.locator(f"[data-testid=kind-{kind}]")
        if tab.get_attribute("aria-current") != "page":
            tab.click()
            page.wait_for_selector(f"[data-testid=kind-{kind}][aria-current=page]")
        page.click("[data-testid=train-submit]")
        page.wait_for_load_state("networkidle")
        match = re.search(r"/training/runs/(\d+)/", page.url)
        if match:
            return int(match.group(1)), ""
        errors = page.locator("#train-form .alert-error, #train-form .errorlist, #train-form .field-error")
        text = " | ".join(t.strip() for t in errors.all_inner_texts()) or page.inner_text("#train-form")[:500]
        return None, text

    def wait_run(self, manager: str, run_id: int) -> dict[str, str]:
        """Watch the run page (it refreshes itself) until the run ends; return its status and figures."""
        page = self.page(manager)
        page.goto(f"{self.url}/training/runs/{run_id}/")
        deadline = time.monotonic() + self.timeout_s
        last = ""
        while True:
            status = page.get_attribute("#run-live", "data-status") or ""
            if status not in ("queued", "running", "pending", ""):
                break
            percent = page.inner_text("[data-testid=run-percent]")
            if percent != last:
                print(f"    run #{run_id}: {status} {percent}", flush=True)
                last = percent
            if time.monotonic() > deadline:
                raise WalkError(f"run #{run_id} still {status} after {self.timeout_s:.0f} s")
            page.wait_for_timeout(3000)
        page.reload()
        out = {"status": status, "timing": page.inner_text("[data-testid=run-timing]")}
        for sel, key in (("[data-testid=key-figures]", "key_figures"), ("[data-testid=latest-figures]", "figures"),
                         ("[data-testid=run-error]", "error"), ("[data-testid=run-auto-defaults]", "defaults"),
                         ("[data-testid=recipe-decision]", "decision"),
                         ("[data-testid=run-data-warning]", "warning"), ("[data-testid=run-generated]", "generated")):
            loc = page.locator(sel)
            if loc.count():
                out[key] = " | ".join(" ".join(t.split()) for t in loc.all_inner_texts())
        alerts = page.locator("#run-live .alert-ok")
        if alerts.count():
            out["registered"] = " | ".join(" ".join(t.split()) for t in alerts.all_inner_texts())
        for key, value in out.items():
            print(f"    {key}: {value[:600]}", flush=True)
        return out

    # --- schedules --------------------------------------------------------------------------
    def save_schedule(self, manager: str, recipe: str, threshold: int) -> str:
        page = self.page(manager)
        page.goto(f"{self.url}/projects/{self.project_id}/")
        with page.expect_navigation():
            page.click("#project-loop a:has-text('Schedules')")
        form = page.locator("[data-testid=schedule-form]")
        form.locator("select[name=recipe]").select_option(recipe)
        form.locator("input[name=every_n_preferences]").fill(str(threshold))
        form.locator("input[name=auto_promote]").check()
        form.locator("input[name=generate_next]").check()
        with page.expect_navigation():
            form.locator("[data-testid=schedule-save]").click()
        rows = page.locator("[data-testid=schedule-row]")
        if rows.count() == 0:
            errors = " | ".join(page.locator(".alert-error, .errorlist").all_inner_texts())
            raise WalkError(f"the schedule was not saved: {errors or page.inner_text('main')[:500]}")
        return " ".join(rows.first.inner_text().split())

    def project_loop(self, manager: str) -> dict[str, Any]:
        page = self.page(manager)
        page.goto(f"{self.url}/projects/{self.project_id}/")
        runs = page.eval_on_selector_all(
            "#project-loop table tbody tr",
            "rows => rows.map(r => Array.from(r.cells).slice(0, 3).map(c => c.innerText.trim()))",
        )
        return {"policy": page.inner_text("[data-testid=loop-policy]").strip(), "runs": runs,
                "next": " / ".join(page.locator("[data-testid=schedule-next]").all_inner_texts())}


def started(walk: Walk, manager: str, kind: str, label: str) -> int:
    """Train now → `kind` with the defaults; fail the walk if the page refuses."""
    with step(f"Train now: {kind} with the defaults{label}") as r:
        run_id, error = walk.train_now(manager, kind)
        r["text"] = f"run #{run_id}" if run_id else f"refused: {error}"
    if run_id is None:
        raise WalkError(f"{kind} refused: {error}")
    return run_id


def succeeded(walk: Walk, manager: str, kind: str, run_id: int) -> dict[str, str]:
    with step(f"{kind} run #{run_id} until it ends") as r:
        out = walk.wait_run(manager, run_id)
        r["text"] = f"{out['status']}; {out.get('key_figures', '')} {out.get('error', '')}".strip()
    if out["status"] != "succeeded":
        raise WalkError(f"{kind} run #{run_id} {out['status']}: {out.get('error', '')}")
    return out


def walk_reward_ppo(walk: Walk, manager: str, annotators: list[str], per_annotator: int) -> None:
    """Reward from Train now (ranking first if it is refused), then ppo with no other click in between."""
    with step("log in as the manager and open the demo project") as r:
        walk.find_project(manager)
        start = walk.project_loop(manager)
        r["text"] = f"project {walk.project_id}, policy {start['policy']}, runs {start['runs']}"
    with step("Train now: reward with the defaults (before any ranking)") as r:
        run_id, error = walk.train_now(manager, "reward")
        r["text"] = f"run #{run_id}" if run_id else f"refused: {error}"
    if run_id is None:
        with step(f"annotators rank {per_annotator} comparisons each in the browser") as r:
            ranked = sum(walk.rank(user, per_annotator) for user in annotators)
            r["text"] = f"{ranked} rankings"
        run_id = started(walk, manager, "reward", f" (after {ranked} rankings)")
    succeeded(walk, manager, "reward", run_id)
    ppo_id = started(walk, manager, "ppo", " (no other click since)")
    succeeded(walk, manager, "ppo", ppo_id)


def chain_state(walk: Walk, manager: str, before: dict[str, Any]) -> tuple[dict[str, Any], list, bool]:
    """The project page now: its loop, the runs new since `before`, and whether the chain is done."""
    loop = walk.project_loop(manager)
    new_runs = [row for row in loop["runs"] if row not in before["runs"]]
    failed = [row for row in new_runs if row[2].lower() in ("failed", "cancelled")]
    if failed:
        details = [walk.wait_run(manager, int(row[0].lstrip("#"))) for row in failed]
        raise WalkError(f"the chain failed: {failed} {details}")
    generated = any(row[1].lower().startswith("generate") and row[2].lower() == "succeeded" for row in new_runs)
    return loop, new_runs, generated


def walk_schedule(walk: Walk, manager: str, annotators: list[str], recipe: str, threshold: int) -> None:
    """Save a schedule on the Schedules page, rank past its threshold, wait for the gate and the next round."""
    before = walk.project_loop(manager)
    with step(f"save a schedule: {recipe}, every {threshold} preferences, auto-promote, generate") as r:
        r["text"] = walk.save_schedule(manager, recipe, threshold)
    needed = -(-threshold // 6)  # K = 4: a ranking without ties stores 6 pairs
    with step(f"rank {needed} comparison(s) past the threshold") as r:
        got = 0
        for user in annotators:
            got += walk.rank(user, needed - got) if got < needed else 0
        r["text"] = f"{got} rankings"
    if got < needed:
        raise WalkError(f"only {got} comparisons were left to rank; the threshold needs {needed}")
    with step("wait for the schedule's chain: gate, then the next round") as r:
        deadline = time.monotonic() + walk.timeout_s * 3
        seen: set[tuple[str, ...]] = set()
        while True:
            loop, new_runs, done = chain_state(walk, manager, before)
            for row in new_runs:
                if tuple(row) not in seen:
                    seen.add(tuple(row))
                    print(f"    {row}", flush=True)
            if done:
                break
            if time.monotonic() > deadline:
                raise WalkError(f"the chain did not finish: runs {loop['runs']}, next {loop['next']}")
            walk.page(manager).wait_for_timeout(5000)
        details = {row[1]: walk.wait_run(manager, int(row[0].lstrip("#"))) for row in sorted(new_runs)}
        r["text"] = (f"policy {before['policy']} -> {loop['policy']}; steps {[(row[1], row[2]) for row in sorted(new_runs)]}; "
                     + "; ".join(f"{k}: {v.get('key_figures', '')} {v.get('decision', '')}" for k, v in details.items()))


def report() -> None:
    print("\nstep | seconds | result")
    for name, seconds, text in TIMINGS:
        print(f"{name} | {seconds:.1f} | {text}")
    if NOTES:
        print("\nnotes:\n" + "\n".join(f"- {n}" for n in NOTES))


def run_walk(args: argparse.Namespace) -> int:
    from playwright.sync_api import sync_playwright

    logins = passwords(args.passwords, Path(args.passwords_file))
    annotators = [u for u in ("annotator1", "annotator2") if u in logins]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        walk = Walk(browser, args.url, logins, args.run_timeout)
        try:
            walk_reward_ppo(walk, "admin", annotators, args.rank)
            if args.threshold:
                walk_schedule(walk, "admin", annotators, args.recipe, args.threshold)
        except WalkError as exc:
            print(f"FAILED: {exc}", flush=True)
            return 1
        finally:
            browser.close()
            report()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--passwords", help="admin=…,annotator1=…,annotator2=… (default: var/demo_passwords.txt)")
    parser.add_argument("--passwords-file", default=str(ROOT / "var" / "demo_passwords.txt"),
                        help="the demo's password file (lines 'user password'; make demo writes it)")
    parser.add_argument("--rank", type=int, default=30, help="rankings per annotator before the reward run")
    parser.add_argument("--recipe", default="reward_ppo", help="schedule recipe (dpo, reward_ppo, …)")
    parser.add_argument("--threshold", type=int, default=12, help="schedule: every N new preferences (0: skip)")
    parser.add_argument("--run-timeout", type=float, default=1200, help="seconds to wait for one run")
    return run_walk(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
