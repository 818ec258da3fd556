"""Rule-based rewards (format, correctness) score known good and bad answers."""

from __future__ import annotations

import pytest

from training.jobs.rewards import correctness_reward, format_reward, rule_reward_funcs


def conv(text):
    return [{"role": "assistant", "content": text}]


GOOD = "<think>2 + 2 is 4</think>\n<answer>4</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("  <think>\nmulti\nline\n</think><answer> 4 </answer>\n", 1.0),
        ("<answer>4</answer>", 0.0),  # no reasoning block
        ("<think>hmm</think> the answer is 4", 0.0),  # no answer block
        ("Sure! <think>x</think><answer>4</answer>", 0.0),  # text outside the blocks
        ("<answer>4</answer><think>x</think>", 0.0),  # wrong order
    ],
)
def test_format_reward(text, expected):
    assert format_reward([conv(text)]) == [expected]
    assert format_reward([text]) == [expected]  # plain-string completions too


def test_correctness_reward_normalises_answers_and_skips_rows_without_reference():
    completions = [
        conv(GOOD),
        conv("<think>x</think><answer>Paris.</answer>"),
        conv("<think>x</think><answer>1,000</answer>"),
        conv("<think>x</think><answer>3.0</answer>"),
        conv("<think>x</think><answer>5</answer>"),
        conv("no tags, just Berlin"),
        conv("<think>x</think><answer>4</answer>"),
    ]
    refs = ["4", "paris", "1000", "3", "4", "Berlin", None]
    assert correctness_reward(completions, reference=refs) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, None]


def test_correctness_uses_the_answer_block_not_the_reasoning():
    text = "<think>maybe 5? no.</think><answer>4</answer>"
    assert correctness_reward([text, text], reference=["4", "5"]) == [1.0, 0.0]


def test_rule_reward_lookup_names_unknown_rewards():
    assert rule_reward_funcs(["format", "correctness"]) == [format_reward, correctness_reward]
    with pytest.raises(KeyError, match="lenght"):
        rule_reward_funcs(["lenght"])
