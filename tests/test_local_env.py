"""After `make demo`'s local settings file exists, the README's manage.py commands run as printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    # A fresh shell: nothing exported but where the data lives (no DEBUG, no SECRET_KEY).
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped} | {"PREFLOOP_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_local_env_is_written_once_with_a_long_generated_key(tmp_path):
    assert _run(["scripts/local_env.py"], tmp_path).returncode == 0
    first = (tmp_path / "local.env").read_text()
    key = next(line.split("=", 1)[1] for line in first.splitlines() if line.startswith("SECRET_KEY="))
    assert len(key) >= 50 and "DEBUG=0" in first
    assert "Kept" in _run(["scripts/local_env.py"], tmp_path).stdout
    assert (tmp_path / "local.env").read_text() == first  # the key survives a second `make demo`
    assert oct((tmp_path / "local.env").stat().st_mode & 0o777) == "0o600"


def test_without_the_file_manage_py_still_asks_for_a_key(tmp_path):
    result = _run(["manage.py", "check"], tmp_path)
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


@pytest.mark.slow  # four Django processes, one of them a full migrate
def test_readme_token_command_works_as_printed_after_the_demo_setup(tmp_path):
    assert _run(["scripts/local_env.py"], tmp_path).returncode == 0
    assert _run(["manage.py", "migrate", "--noinput", "-v", "0"], tmp_path).returncode == 0
    shell = "from django.contrib.auth.models import User; User.objects.create_user('alice', password='x-long-pass-1')"
    assert _run(["manage.py", "shell", "-c", shell], tmp_path).returncode == 0
    token = _run(["manage.py", "drf_create_token", "alice"], tmp_path)
    assert token.returncode == 0, token.stderr
    assert "Generated token" in token.stdout
    debug = _run(["manage.py", "shell", "-c", "from django.conf import settings; print(settings.DEBUG)"], tmp_path)
    assert debug.stdout.strip().splitlines()[-1] == "False"  # the demo serves friendly error pages, not debug ones
