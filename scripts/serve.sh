#!/usr/bin/env bash
# Serve the web app and the worker side by side; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
.venv/bin/python manage.py worker &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "PrefLoop on http://127.0.0.1:${PORT}/  (worker pid $worker)"
# --insecure: serve static files with DEBUG=0 too (the demo's var/local.env turns DEBUG off).
.venv/bin/python manage.py runserver "127.0.0.1:${PORT}" --noreload --insecure
