"""Training pages: live run page (htmx partial, SVG charts), models lineage, promote, generate form, access."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import make_project, make_prompt, make_user
from tests.training.helpers import complete_model_dir, current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import MetricPoint, ProjectModels, Run, RunStatus, Schedule
from training.orchestration import run_execute
from training.services.registry import model_version_register
from training.services.runs import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]
HX = {"HTTP_HX_REQUEST": "true"}


def _no_inline_styles_or_scripts(html: str) -> None:
    assert not re.search(r"\sstyle=", html) and "<script>" not in html and "onclick" not in html


def test_finished_run_page_shows_status_charts_and_log_and_stops_polling(client, project, manager):
    current_policy(project)
    run = run_create(project=project, kind="dpo", config={"steps": 3})
    run_execute(run.pk)
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-status="succeeded"' in html and "100%" in html
    assert html.count('<figure class="chart"') == 2  # loss and accuracy: one chart per metric
    assert 'data-metric="loss"' in html and ">step</text>" in html
    assert "starting from" in html  # the log tail
    assert "every 2s" not in html  # finished: no more polling
    _no_inline_styles_or_scripts(html)


def test_active_run_partial_polls_every_2s_and_is_only_the_fragment(client, project, manager):
    run = run_create(project=project, kind="dpo", config={})
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=0.4)
    MetricPoint.objects.create(run=run, step=1, values={"loss": 0.7})
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk]), **HX).content.decode()
    assert html.lstrip().startswith('<div id="run-live"')
    assert 'hx-trigger="every 2s"' in html and "40%" in html and 'value="0.4"' in html
    assert "<html" not in html


def test_cancel_button_for_managers_only(client, project, manager, annotator):
    run = run_create(project=project, kind="dpo", config={})
    url = reverse("training:run-cancel", args=[run.pk])
    client.force_login(annotator)
    assert 'data-testid="run-cancel"' not in client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert client.post(url).status_code == 403
    client.force_login(manager)
    response = client.post(url)
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_other_projects_pages_are_404(client, manager):
    other = make_project()
    version = current_policy(other, "theirs")
    run = run_create(project=other, kind="dpo", config={})
    client.force_login(manager)
    for url in [
        reverse("training:run-detail", args=[run.pk]), reverse("training:model-detail", args=[version.pk]),
        reverse("training:run-list", args=[other.pk]), reverse("training:model-list", args=[other.pk]),
        reverse("training:generate-round", args=[other.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("training:model-promote", args=[version.pk])).status_code == 404


def test_models_page_nests_children_under_parents_and_marks_the_current_one(client, project, manager):
    root = current_policy(project, "tiny-policy")
    child = model_version_register(project=project, kind="policy", name="dpo-7", path=str(complete_model_dir("dpo-7")), parent=root)
    client.force_login(manager)
    html = client.get(reverse("training:model-list", args=[project.pk])).content.decode()
    root_at, nested_at, child_at = html.index('data-testid="model-tiny-policy"'), html.index('<ul class="lineage">'), html.index('data-testid="model-dpo-7"')
    assert root_at < nested_at < child_at
    assert html.count('data-testid="current-marker"') == 1
    assert f'action="{reverse("training:model-promote", args=[child.pk])}"' in html
    _no_inline_styles_or_scripts(html)


def test_promote_with_htmx_swaps_the_list_and_rollback_goes_back(client, project, manager):
    root = current_policy(project, "v1")
    newer = model_version_register(project=project, kind="policy", name="v2", path=str(complete_model_dir("v2")), parent=root)
    client.force_login(manager)
    html = client.post(reverse("training:model-promote", args=[newer.pk]), **HX).content.decode()
    assert html.lstrip().startswith('<section id="models"')
    assert '<strong data-testid="current-policy">v2</strong>' in html
    assert "Roll back to this" in html  # v1 is now older than the current one
    client.post(reverse("training:model-rollback", args=[root.pk]))
    assert ProjectModels.objects.get(project=project).policy == root


def test_annotator_cannot_promote(client, project, annotator):
    version = model_version_register(project=project, kind="policy", name="v1", path=str(complete_model_dir("v1")))
    client.force_login(annotator)
    assert client.post(reverse("training:model-promote", args=[version.pk])).status_code == 403
    assert ProjectModels.objects.filter(project=project, policy=version).count() == 0


def test_generate_form_starts_a_run_and_lands_on_its_page(client, project, manager):
    make_prompt(project, tags=["geo"])
    client.force_login(manager)
    url = reverse("training:generate-round", args=[project.pk])
    page = client.get(url).content.decode()
    assert 'name="temperature"' in page and 'name="k"' not in page  # K comes from the project
    response = client.post(url, {"which": "tag", "tag": "geo", "temperature": "0.3", "step_s": "0"})
    run = Run.objects.get(kind="generate")
    assert response.status_code == 302 and response["Location"] == reverse("training:run-detail", args=[run.pk])
    assert run.config["temperature"] == 0.3 and run.inputs["prompts"] == {"which": "tag", "tag": "geo"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"which": "all", "temperature": "9", "step_s": "0"}, "Temperature: must be &lt;= 5.0"),
        ({"which": "tag", "tag": "", "temperature": "1", "step_s": "0"}, "Give the tag"),
        ({"which": "tag", "tag": "nope", "temperature": "1", "step_s": "0"}, "no prompts match"),
    ],
)
def test_generate_form_errors_name_the_field(client, project, manager, data, message):
    make_prompt(project)
    client.force_login(manager)
    response = client.post(reverse("training:generate-round", args=[project.pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Run.objects.exists()


def test_generate_page_is_for_managers(client, project, annotator):
    client.force_login(annotator)
    assert client.get(reverse("training:generate-round", args=[project.pk])).status_code == 403


def test_project_page_shows_the_loop_panel(client, project, manager, settings):
    current_policy(project, "tiny-policy")
    run_create(project=project, kind="dpo", config={})
    client.force_login(manager)
    html = client.get(reverse("labeling:project-detail", args=[project.pk])).content.decode()
    assert 'data-testid="project-loop"' in html and ">tiny-policy</a>" in html
    assert 'data-testid="generate-form"' in html
    assert reverse("training:run-list", args=[project.pk]) in html
    _no_inline_styles_or_scripts(html)
    client.force_login(make_user())
    assert client.get(reverse("labeling:project-detail", args=[project.pk])).status_code == 404


def test_run_page_lists_the_runs_tensorboard_event_files(client, project, manager):
    current_policy(project)
    run = run_create(project=project, kind="dpo", config={"steps": 3})
    run_execute(run.pk)
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-testid="run-tracking"' in html and "events.out.tfevents." in html
    assert f"tensorboard --logdir {settings_runs_dir()}/{run.pk}/tensorboard" in html


def settings_runs_dir() -> str:
    from django.conf import settings

    return str(settings.RUNS_DIR)


def test_the_runs_page_says_who_started_each_run_a_person_or_a_schedule(client, project, manager):
    schedule = Schedule.objects.create(project=project, every_n_preferences=10)
    by_hand = run_create(project=project, kind="generate", config={}, user=manager)
    by_schedule = run_create(project=project, kind="dpo", config={}, schedule=schedule)
    client.force_login(manager)
    html = client.get(reverse("training:run-list", args=[project.pk])).content.decode()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'href="/training/runs/(\d+)/">#\d+</a></td>(.*?)</tr>', html, re.S)}
    assert manager.username in rows[str(by_hand.pk)]
    assert f"schedule #{schedule.pk}" in rows[str(by_schedule.pk)]
    assert reverse("training:schedule-list", args=[project.pk]) in rows[str(by_schedule.pk)]
