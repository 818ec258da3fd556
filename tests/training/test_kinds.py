"""The table of run kinds agrees with the jobs it names, and every part of the app reads it."""

from __future__ import annotations

import dataclasses

import pytest

from training.kinds import KINDS, RECIPES, Makes, Reads, train_now_kinds
from training.models import RunKind
from training.services.configs import job_spec


def test_every_run_kind_has_a_row():
    assert set(KINDS) == set(RunKind.values)


@pytest.mark.parametrize("kind", [k for k, spec in KINDS.items() if spec.startable])
def test_what_a_kind_reads_and_makes_matches_the_fields_its_job_asks_for(kind, settings):
    settings.PREFLOOP_JOB_MODULES = {}
    spec, fields = KINDS[kind], job_spec(kind).system_fields
    assert ("train_file" in fields) == (spec.reads == Reads.SNAPSHOT)
    assert ("prompts_file" in fields) == (spec.reads == Reads.PROMPTS)
    assert ("output_dir" in fields) == (spec.makes in (Makes.POLICY, Makes.REWARD))
    assert ("output_file" in fields) == (spec.makes == Makes.COMPARISONS)


def test_a_kind_without_a_job_cannot_be_started_and_says_so(settings, monkeypatch):
    settings.PREFLOOP_JOB_MODULES = {}
    monkeypatch.setitem(KINDS, RunKind.SFT, dataclasses.replace(KINDS[RunKind.SFT], job_module=None))  # every kind has a job now
    assert not KINDS[RunKind.SFT].startable and RunKind.SFT not in train_now_kinds()
    with pytest.raises(Exception, match="sft kind has no job yet"):
        job_spec(RunKind.SFT)


def test_every_recipe_step_is_a_startable_kind():
    for steps in RECIPES.values():
        assert all(KINDS[kind].startable for kind in steps)
