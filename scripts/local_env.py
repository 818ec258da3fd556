#!/usr/bin/env python
"""Write the demo's local settings file (var/local.env) once, with a generated SECRET_KEY.

config/settings.py reads it, so every `manage.py` command works as the README prints it,
without exporting DEBUG or SECRET_KEY. Real environment variables still win over the file.
The demo serves with DEBUG=0 (friendly error pages, no debug tracebacks), over plain http on
127.0.0.1, hence the relaxed TLS settings. An existing file is left untouched (the key must
stay the same, or sessions and annotator pseudonyms in exports would change).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
}


def local_env_path() -> Path:
    """Return where settings.py looks for the file: local.env in PREFLOOP_DATA_DIR (default var/)."""
    return Path(os.environ.get("PREFLOOP_DATA_DIR", ROOT / "var")).resolve() / "local.env"


def write_local_env(path: Path) -> bool:
    """Create the file with a new key unless it exists; return whether it was written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `make demo` (scripts/local_env.py); read by config/settings.py.", ""]
    lines += [f"SECRET_KEY={secrets.token_urlsafe(50)}"] + [f"{k}={v}" for k, v in SETTINGS.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return True


if __name__ == "__main__":
    target = local_env_path()
    written = write_local_env(target)
    print(f"{'Wrote' if written else 'Kept'} {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    sys.exit(0)
