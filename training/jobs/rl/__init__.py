"""Online RL building blocks for the PPO job: pure losses, rollouts, and the update step.

Kept apart from the loop (OpenRLHF-style) so each equation can be unit-tested by hand.
No Django here, and torch is imported by the submodules only.
"""
