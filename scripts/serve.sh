#!/usr/bin/env bash
# Serve the web app under gunicorn (config/gunicorn.py sizes it) and the worker beside it;
# Ctrl-C stops both. Static files are collected first and served by WhiteNoise.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
export PORT
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py worker &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "PrefLoop on http://127.0.0.1:${PORT}/  (worker pid $worker)"
.venv/bin/python -m gunicorn -c config/gunicorn.py config.wsgi:application
