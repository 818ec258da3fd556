"""A bounded schemathesis pass over the whole published API, as an annotator and as a manager.

Every operation of /api/schema/ gets generated requests (valid ones and invalid ones); the
suite fails on any 5xx and on any response that does not match the schema (status code,
content type, body). The figure it prints (operations, cases) goes into the CI log.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labeling.models import Role
from tests.factories import add_member, api_client_for, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 4  # per operation, mode and user: bounded (about 20 s on 2 idle cores)


@pytest.fixture
def world(db):
    """A project with something behind every id (comparisons, a ranking, a snapshot, a model, a run), and two tokens."""
    from labeling.exports.services import snapshot_create
    from labeling.services import comparison_claim_next, ranking_submit
    from tests.training.helpers import current_policy
    from training.models import Run, RunKind, RunStatus

    project = make_project(k=2)
    comparisons = [make_comparison(project) for _ in range(3)]
    annotator, manager = make_user("fuzz-annotator"), make_user("fuzz-manager")
    add_member(project, annotator)
    add_member(project, manager, Role.MANAGER)
    leased = comparison_claim_next(project=project, annotator=manager).comparison
    first, second = leased.responses.order_by("position")
    ranking_submit(comparison=leased, annotator=manager, data={"order": [[first.pk], [second.pk]]})
    snapshot = snapshot_create(project=project, params={"test_fraction": 0}, user=manager)
    model = current_policy(project)
    run = Run.objects.create(project=project, kind=RunKind.GENERATE, status=RunStatus.FAILED, error="job failed")
    ids = {"projects": project.pk, "comparisons": next(c.pk for c in comparisons if c.pk != leased.pk), "exports": snapshot.pk, "models": model.pk, "runs": run.pk}
    tokens = {user.username: api_client_for(user)._credentials["HTTP_AUTHORIZATION"] for user in (annotator, manager)}
    return ids, tokens


def _use_real_ids(case, ids: dict[str, int]) -> None:
    """Point a valid case's path ids at objects that exist, so 200 bodies get checked, not only 404s."""
    noun = case.operation.path.split("/")[2]  # /api/<noun>/{id}/...
    for name in list(case.path_parameters or {}):
        case.path_parameters[name] = ids["projects" if name == "project_id" else "exports" if name == "snapshot_id" else noun]


@pytest.fixture
def wsgi_app():
    """The real WSGI app, keeping the test's database connection open between requests (as Django's test client does)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _run_operation(operation, mode: GenerationMode, headers: dict[str, str], ids: dict[str, int], counter: list[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        counter[0] += 1
        if mode == GenerationMode.POSITIVE:
            _use_real_ids(case, ids)
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def _has_inputs(operation) -> bool:
    return bool(operation.path_parameters or operation.query or operation.body)


def test_whole_api_has_no_server_errors_and_matches_its_schema(world, wsgi_app, capsys):
    ids, tokens = world
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures, counter = [], [0]
    for operation in operations:
        # Invalid data needs something to make invalid: operations without inputs get valid cases only.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _has_inputs(operation) else [])
        for user, header in tokens.items():
            for mode in modes:
                try:
                    _run_operation(operation, mode, {"Authorization": header}, ids, counter)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected and reported below
                    failures.append(f"{operation.label} as {user} ({mode.value}): {str(exc)[:1500]}")
    with capsys.disabled():
        print(f"\nschemathesis: {len(operations)} operations, {counter[0]} cases, {len(failures)} failures")
    assert len(operations) >= 20
    assert not failures, "\n\n".join(failures)
