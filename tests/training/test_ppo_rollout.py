"""PPO rollouts and the first update on the tiny policy: the invariants Huang et al. rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.jobs.rl.rollout import encode_prompts, truncate_after_eos


def test_truncate_after_eos_keeps_the_first_eos_and_masks_the_rest():
    responses = torch.tensor([[5, 1, 7, 1], [5, 6, 7, 8], [1, 9, 9, 9]])
    mask, contains_eos = truncate_after_eos(responses, [1])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert contains_eos.tolist() == [True, False, True]


@pytest.fixture(scope="module")
def untrained_reward_model(tiny_policy: Path, tmp_path_factory) -> Path:
    """A reward model made from the policy with a fresh score head (enough for the invariants)."""
    from training.jobs import common

    out = tmp_path_factory.mktemp("rm") / "rm"
    torch.manual_seed(0)
    common.load_reward_model(str(tiny_policy)).save_pretrained(out, safe_serialization=True)
    common.load_tokenizer(str(tiny_policy)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def first_update(tiny_policy: Path, untrained_reward_model: Path, tmp_path_factory):
    """Set up the job exactly as train() does and run its first update."""
    from tests.training.rl_helpers import write_prompts
    from training.jobs.ppo import PPOJobConfig, run_update, setup

    root = tmp_path_factory.mktemp("ppo-first")
    config = PPOJobConfig(
        run_dir=str(root / "run"), output_dir=str(root / "out"), model=str(tiny_policy),
        reward_model=str(untrained_reward_model), prompts_file=str(write_prompts(root / "prompts.jsonl", n=8)),
        batch_size=8, mini_batch_size=4, ppo_epochs=2, response_length=12, learning_rate=1e-3,
    )
    run = setup(config)
    before = {k: v.detach().clone() for k, v in run.loaded.policy.state_dict().items()}
    rollout, adv, steps = run_update(run, config)
    return run, rollout, adv, steps, before


def test_first_minibatch_has_ratio_one_and_no_clipping(first_update):
    _, _, _, steps, _ = first_update
    first = steps[0]
    assert first["ratio"] == pytest.approx(1.0, abs=1e-6)
    assert first["approxkl"] == pytest.approx(0.0, abs=1e-10)
    assert first["clipfrac"] == 0.0
    # Later minibatches see updated weights: the ratio moves off 1 (the update did something).
    assert max(abs(s["ratio"] - 1.0) + s["approxkl"] for s in steps[1:]) > 0


def test_kl_to_the_reference_is_zero_before_any_update(first_update):
    _, rollout, adv, _, _ = first_update
    assert torch.equal(rollout.logprobs, rollout.ref_logprobs)
    assert adv.kl.abs().sum().item() == 0.0


def test_rollout_is_cut_at_eos_and_scored_per_response(first_update):
    run, rollout, adv, _, _ = first_update
    eos = run.loaded.tokenizer.eos_token_id
    responses, mask = rollout.responses, rollout.response_mask
    lengths = mask.sum(1).long()
    for row in range(responses.size(0)):
        if rollout.contains_eos[row]:
            assert responses[row, lengths[row] - 1].item() == eos  # EOS is the last real token
            assert eos not in responses[row, : lengths[row] - 1].tolist()
        assert mask[row, lengths[row] :].sum() == 0
        assert "<|end|>" not in rollout.texts[row]
    assert rollout.scores.shape == (responses.size(0),) and torch.isfinite(rollout.scores).all()
    # Whitened advantages over real tokens: mean 0, std 1.
    real = adv.advantages[mask.bool()]
    assert real.mean().abs().item() < 1e-5 and real.std().item() == pytest.approx(1.0, abs=1e-4)


def test_update_changes_the_policy_and_leaves_the_reference(first_update):
    run, _, _, _, before = first_update
    after = run.loaded.policy.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    ref = run.loaded.ref_policy.state_dict()
    assert all(torch.equal(before[k], ref[k]) for k in before)


def test_prompts_are_left_padded_with_the_generation_prompt(tiny_policy):
    from training.jobs import common

    tok = common.load_tokenizer(str(tiny_policy))
    ids, mask = encode_prompts(tok, [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "What is 4 plus 8?"}]], max_length=64)
    assert mask[0, 0] == 0 and mask[1].all()  # the shorter prompt is padded on the left
    assert tok.decode(ids[0][mask[0].bool()]).endswith("<|assistant|>")
