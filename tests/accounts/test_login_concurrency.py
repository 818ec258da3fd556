"""50 simultaneous wrong passwords against 2 gunicorn processes: at most the limit are evaluated."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accounts.models import LoginThrottle
from tests.factories import make_user
from tests.processes import live_database_url

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(transactional_db, tmp_path):
    """Serve the app from 2 gunicorn worker processes (4 threads each) on the test database."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEBUG": "1", "DATABASE_URL": live_database_url(),
           "PREFLOOP_DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING"}
    gunicorn = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2", "--threads", "4",
                "--bind", f"127.0.0.1:{port}", "--preload", "--timeout", "60"]
    proc = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: a loaded 2-core machine boots workers slowly
        while True:
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=15)
                break
            except OSError:  # refused while booting, or timed out answering the first request
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not answer within 120 s"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _login_form(base: str) -> tuple[str, str]:
    """Return (csrf cookie, csrf form token) from the login page, as a browser would get them."""
    jar = http.cookiejar.CookieJar()
    page = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)).open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return next(c.value for c in jar if c.name == "csrftoken"), token


def _wrong_password(base: str, cookie: str, token: str) -> int:
    body = urllib.parse.urlencode({"username": "victim", "password": "wrong", "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base}/login/", data=body, headers={"Cookie": f"csrftoken={cookie}"})
    try:
        return urllib.request.urlopen(request, timeout=60).status
    except urllib.error.HTTPError as error:
        return error.code


def test_fifty_parallel_wrong_passwords_on_two_processes_evaluate_at_most_the_limit(server, settings):
    make_user("victim")
    cookie, token = _login_form(server)
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda _: _wrong_password(server, cookie, token), range(50)))
    evaluated = codes.count(200)  # the form came back with "wrong password": that password was checked
    assert evaluated == settings.LOGIN_RATE_LIMIT and codes.count(429) == 50 - evaluated, codes
    assert LoginThrottle.objects.get(key__startswith="pair:").attempts == settings.LOGIN_RATE_LIMIT
