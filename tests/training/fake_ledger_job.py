"""The fake job, recording each execution: one line `<run id> <pid>` in $PREFLOOP_TEST_LEDGER.

The multi-worker test reads the ledger to prove every queued run executed exactly once.
"""

from __future__ import annotations

import os
import sys

from tests.training.fake_job import CONFIG_CLASS, SYSTEM_FIELDS, FakeJobConfig, main  # noqa: F401 - the job contract
from training.jobs import common


def ledger_main(config: FakeJobConfig) -> None:
    with open(os.environ["PREFLOOP_TEST_LEDGER"], "a") as ledger:
        ledger.write(f"{os.environ.get('PREFLOOP_RUN_ID', '?')} {os.getpid()}\n")
    main(config)


if __name__ == "__main__":
    sys.exit(common.run_job(ledger_main, FakeJobConfig))
