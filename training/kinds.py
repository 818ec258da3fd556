"""The table of run kinds: which job runs it, what it reads and makes, who starts it, its place in a recipe.

Every other module asks this table instead of keeping its own list of kinds. To add a kind
(`kto`, say): add a `RunKind` value, a job module `training/jobs/<kind>.py`, and one `KindSpec`
row below; the "Train now" page, the API, the runner's output registration and the recipe
chains pick it up from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from training.models import ModelKind, Recipe, RunKind


class Reads(StrEnum):
    """The data a kind's job reads."""

    SNAPSHOT = "snapshot"  # preference pairs (or demonstrations) from a dataset snapshot
    PROMPTS = "prompts"  # prompts chosen by a selection, written to prompts.jsonl
    NONE = "none"


class Makes(StrEnum):
    """What a successful run leaves behind."""

    POLICY = "policy"  # a model directory, registered as a policy ModelVersion
    REWARD = "reward"  # a model directory, registered as a reward ModelVersion
    COMPARISONS = "comparisons"  # responses, ingested as comparisons to rank
    METRICS = "metrics"  # only metrics and result.json (e.g. a win rate)


class StartedBy(StrEnum):
    """Who may start a run of the kind by hand."""

    MANAGER = "manager"  # a project manager: Train now, the API, a schedule
    STAFF = "staff"  # an operator on the command line (manage.py)


class AfterStep(StrEnum):
    """What a recipe chain does when a run of the kind succeeds."""

    PROMOTE_REWARD = "promote_reward"  # make the reward model current, then the chain's next step
    EVALUATE = "evaluate"  # evaluate the new policy against the policy it started from
    CONTINUE = "continue"  # the chain's next step starts from the new policy (sft -> dpo, sft -> reward)
    GATE = "gate"  # promote the candidate when the win rate passes, then maybe generate
    END = "end"  # the chain ends (the next round is out for ranking)


@dataclass(frozen=True)
class KindSpec:
    """One row of the table."""

    kind: str
    job_module: str | None  # None: no job yet, so the kind cannot be started
    reads: Reads
    makes: Makes
    started_by: StartedBy = StartedBy.MANAGER
    train_now: bool = False  # offered on the "Train now" page (generate has its own form)
    after: AfterStep = AfterStep.END
    export_kind: str = "preference"  # the snapshot kind a Reads.SNAPSHOT kind trains on (labeling/exports)
    headline: tuple[tuple[str, str], ...] = ()  # (metric, title) charted first on the run page

    @property
    def startable(self) -> bool:
        return self.job_module is not None

    @property
    def model_kind(self) -> str | None:
        """The ModelVersion kind a successful run registers, or None when it makes no model."""
        return {Makes.POLICY: ModelKind.POLICY, Makes.REWARD: ModelKind.REWARD}.get(self.makes)


# DPO-style kinds: the implicit reward beta*(Δchosen − Δrejected) ranks held-out pairs right is what
# tracks learning; raw preference accuracy (total log-probability) can stay under 0.5 while the
# policy improves, because longer chosen answers have lower total log-probability.
PREFERENCE_HEADLINE = (
    ("eval_reward_accuracy", "held-out implicit-reward accuracy"),
    ("rewards/accuracies", "implicit-reward accuracy (training batches)"),
    ("eval_reward_margin", "held-out implicit-reward margin"),
)
REWARD_HEADLINE = (("eval_accuracy", "held-out pair accuracy"), ("accuracy", "pair accuracy (training batches)"))
RL_HEADLINE = (("reward", "reward-model score of its answers"), ("kl", "KL to the reference"))
GRPO_HEADLINE = (
    ("completions_mean_length", "mean response length (tokens)"),
    ("rewards_format_reward_mean", "format reward"),
    ("rewards_correctness_reward_mean", "correctness reward"),
    ("reward", "total reward"),
)


def _job(kind: str) -> str:
    return f"training.jobs.{kind}"


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(RunKind.BOOTSTRAP, _job("bootstrap"), Reads.NONE, Makes.POLICY, started_by=StartedBy.STAFF),
        KindSpec(RunKind.GENERATE, _job("generate"), Reads.PROMPTS, Makes.COMPARISONS),
        # Demonstrations: accepted ones plus the consensus-best response of ranked comparisons.
        KindSpec(RunKind.SFT, _job("sft"), Reads.SNAPSHOT, Makes.POLICY, train_now=True, after=AfterStep.CONTINUE,
                 export_kind="sft", headline=(("eval_loss", "held-out loss"), ("loss", "training loss"))),
        KindSpec(RunKind.REWARD, _job("reward"), Reads.SNAPSHOT, Makes.REWARD, train_now=True,
                 after=AfterStep.PROMOTE_REWARD, headline=REWARD_HEADLINE),
        KindSpec(RunKind.DPO, _job("dpo"), Reads.SNAPSHOT, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=PREFERENCE_HEADLINE),
        # KTO reads judged answers (top group desirable; bottom group and all-bad undesirable); ORPO needs no reference.
        KindSpec(RunKind.KTO, _job("kto"), Reads.SNAPSHOT, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=PREFERENCE_HEADLINE, export_kind="kto"),
        KindSpec(RunKind.ORPO, _job("orpo"), Reads.SNAPSHOT, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=PREFERENCE_HEADLINE),
        KindSpec(RunKind.PPO, _job("ppo"), Reads.PROMPTS, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=RL_HEADLINE),
        KindSpec(RunKind.RLOO, _job("rloo"), Reads.PROMPTS, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=RL_HEADLINE),
        # A reasoning run: watch answers grow longer while the rule rewards rise.
        KindSpec(RunKind.GRPO, _job("grpo"), Reads.PROMPTS, Makes.POLICY, train_now=True, after=AfterStep.EVALUATE,
                 headline=GRPO_HEADLINE),
        KindSpec(RunKind.EVALUATE, _job("evaluate"), Reads.PROMPTS, Makes.METRICS, train_now=True,
                 after=AfterStep.GATE, headline=(("win_rate", "win rate against the parent"),)),
    )
}

# The runs of each recipe, in order; promotion and "generate the next round" follow the evaluate step.
RECIPES: dict[str, tuple[str, ...]] = {
    Recipe.DPO: (RunKind.DPO, RunKind.EVALUATE),
    Recipe.REWARD_PPO: (RunKind.REWARD, RunKind.PPO, RunKind.EVALUATE),
    Recipe.REWARD_GRPO: (RunKind.REWARD, RunKind.GRPO, RunKind.EVALUATE),
    Recipe.REWARD_RLOO: (RunKind.REWARD, RunKind.RLOO, RunKind.EVALUATE),
    Recipe.REWARD: (RunKind.REWARD,),
    # SFT first: the next step starts from the SFT policy, on a fresh preference snapshot.
    Recipe.SFT_DPO: (RunKind.SFT, RunKind.DPO, RunKind.EVALUATE),
    Recipe.SFT_REWARD_PPO: (RunKind.SFT, RunKind.REWARD, RunKind.PPO, RunKind.EVALUATE),
}


def kind_spec(kind: str) -> KindSpec | None:
    """Return the table's row for a kind, or None for a kind it does not know."""
    return KINDS.get(kind)


def train_now_kinds() -> list[str]:
    """Return the kinds the "Train now" page and the training API start, in table order."""
    return [k for k, spec in KINDS.items() if spec.train_now and spec.startable]


def training_kinds() -> list[str]:
    """Return the kinds that train a model from data (what "the last training run" means)."""
    return [k for k, spec in KINDS.items() if spec.makes in (Makes.POLICY, Makes.REWARD) and spec.reads != Reads.NONE]


def reads_snapshot(kind: str) -> bool:
    spec = KINDS.get(kind)
    return spec is not None and spec.reads == Reads.SNAPSHOT


def export_kind(kind: str) -> str:
    """The snapshot kind a kind trains on ("preference" for all but sft)."""
    spec = KINDS.get(kind)
    return spec.export_kind if spec is not None else "preference"


def reads_prompts(kind: str) -> bool:
    spec = KINDS.get(kind)
    return spec is not None and spec.reads == Reads.PROMPTS
