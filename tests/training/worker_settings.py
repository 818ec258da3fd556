"""Settings for `manage.py worker` processes started by the multi-worker test (fake jobs, fast beats)."""

from config.settings import *  # noqa: F403

PREFLOOP_JOB_MODULES = {"dpo": "tests.training.fake_ledger_job", "reward": "tests.training.fake_ledger_job"}
PREFLOOP_RUNNER_POLL_S = 0.1
PREFLOOP_HEARTBEAT_S = 1
PREFLOOP_STALE_AFTER_S = 30  # same host: a dead worker is seen by its pid at once
PREFLOOP_CANCEL_GRACE_S = 1
