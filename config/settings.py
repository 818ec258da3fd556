"""PrefLoop settings, read from the environment (see README: Settings)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable, failing loudly on junk."""
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def load_local_env(path: Path) -> None:
    """Read KEY=VALUE lines (written by `make demo`) into the environment; real variables win."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            os.environ.setdefault(key.strip(), value.strip())


load_local_env(Path(os.environ.get("PREFLOOP_DATA_DIR", BASE_DIR / "var")).resolve() / "local.env")

DEBUG = env_bool("DEBUG", default=False)
_INSECURE_KEY = "django-insecure-prefloop-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=0) needs a long random SECRET_KEY, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "For local development set DEBUG=1."
        )
    SECRET_KEY = _INSECURE_KEY
elif not DEBUG and (SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY is too short or is the development key; use 50+ random characters.")

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

DATA_DIR = Path(os.environ.get("PREFLOOP_DATA_DIR", BASE_DIR / "var")).resolve()
MODELS_DIR = DATA_DIR / "models"
RUNS_DIR = DATA_DIR / "runs"
EXPORTS_DIR = DATA_DIR / "exports"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "labeling",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app server itself (gunicorn): compressed, cached, no extra process.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "labeling.api_errors.ApiJsonErrorsMiddleware",
    # Token-authenticated claims and submits: the input gate, X-Frame-Options and CSP, then the view.
    "config.loop_lane.AnnotationLoopLane",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "labeling.inputs.InputGateMiddleware",  # NUL, lone surrogates, deep JSON, huge numbers: 400 here
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.CSPMiddleware",  # django-csp's, with the header built once (config/csp.py)
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    }
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    # Persistent connections: a request reuses its thread's connection (checked before reuse)
    # instead of paying a new PostgreSQL connection (issue 13: 74 of 186 ms per loop).
    max_age = env_int("DB_CONN_MAX_AGE", 600)
    if url:
        db = dj_database_url.parse(url, conn_max_age=max_age, conn_health_checks=True)
    else:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "db.sqlite3")}
        db |= {"CONN_MAX_AGE": max_age, "CONN_HEALTH_CHECKS": True}
    if "postgresql" in db["ENGINE"]:
        db["ENGINE"] = "config.postgresql"  # the health check without a round trip (config/postgresql/base.py)
        # Server-side parameters, and a statement run 5 times on a connection is prepared: the
        # annotation loop's statements are then parsed and planned once per connection, not on
        # every request (issue 13: planning was 2.1 of 5.1 ms of PostgreSQL's CPU per loop).
        # DB_PREPARE_THRESHOLD=0 turns preparing off (PgBouncer in transaction mode before 1.21).
        threshold = env_int("DB_PREPARE_THRESHOLD", 5)
        db.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=threshold or None)
    if db["ENGINE"].endswith("sqlite3"):
        # IMMEDIATE transactions take the write lock up front, so concurrent annotators wait
        # (busy timeout) instead of failing with "database is locked" on lock upgrade; writes
        # are one statement or one short transaction, and a lock still timed out is retried
        # (labeling.services.retry).
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # Tests get a file database (one per process, so parallel runs do not collide): threads
        # in the concurrency tests then share it with real locking; the in-memory default uses
        # shared-cache table locks that fail at once ("database table is locked").
        db.setdefault("TEST", {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")})
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Gzip/Brotli copies next to each file at collectstatic (scripts/serve.sh runs it).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# With DEBUG=1 WhiteNoise serves straight from static/ and the apps, picking up edits.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "labeling:project-list"
LOGOUT_REDIRECT_URL = "login"

# Request and upload limits. Larger bodies get a 413 page with a clear message.
MAX_UPLOAD_MB = env_int("PREFLOOP_MAX_UPLOAD_MB", 20)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("PREFLOOP_MAX_BODY_BYTES", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# Sign-in limit (accounts/services.py), kept in the database so every server process shares it.
LOGIN_RATE_LIMIT = env_int("PREFLOOP_LOGIN_RATE_LIMIT", 10)  # attempts per window per (client address, username)
LOGIN_ADDRESS_RATE_LIMIT = env_int("PREFLOOP_LOGIN_ADDRESS_RATE_LIMIT", 50)  # per client address, any username
LOGIN_RATE_WINDOW_S = env_int("PREFLOOP_LOGIN_RATE_WINDOW_S", 300)
# Reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed; empty: REMOTE_ADDR is the client.
LOGIN_TRUSTED_PROXIES = [p.strip() for p in os.environ.get("PREFLOOP_TRUSTED_PROXIES", "").split(",") if p.strip()]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache" if os.environ.get("PREFLOOP_DB_CACHE") else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "prefloop_cache",
    }
}

REST_FRAMEWORK = {
    # Token first: a request with `Authorization: Token …` (every API client, the annotation loop)
    # is answered without loading a session; a browser's request has no such header and falls
    # through to the session (with its CSRF check).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labeling.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies come parsed and checked from labeling.inputs.InputGateMiddleware (parsed once).
    "DEFAULT_PARSER_CLASSES": [
        "labeling.inputs.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "labeling.api_errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PrefLoop API",
    "DESCRIPTION": "Collect human preferences on LLM outputs and train on them.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Every operation documents the errors any request can get (labeling/api_errors.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "labeling.api_errors.document_errors"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunKindEnum": "training.models.RunKind",
        "RunStatusEnum": "training.models.RunStatus",
        "ModelKindEnum": "training.models.ModelKind",
        "SnapshotStatusEnum": "labeling.models.SnapshotStatus",
    },
}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Content-Security-Policy: no inline scripts/styles, no eval. htmx is configured (meta tag in
# base.html) to never eval or run inserted scripts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Training: how the worker runs jobs.
PREFLOOP_PYTHON = os.environ.get("PREFLOOP_PYTHON", "")  # interpreter for jobs; default sys.executable
PREFLOOP_HEARTBEAT_S = env_int("PREFLOOP_HEARTBEAT_S", 5)
PREFLOOP_STALE_AFTER_S = env_int("PREFLOOP_STALE_AFTER_S", 60)
PREFLOOP_RUN_TIMEOUT_S = env_int("PREFLOOP_RUN_TIMEOUT_S", 6 * 3600)
PREFLOOP_CANCEL_GRACE_S = env_int("PREFLOOP_CANCEL_GRACE_S", 10)
PREFLOOP_DEFAULT_MODEL = os.environ.get("PREFLOOP_DEFAULT_MODEL", "")  # HF id/path; empty = tiny local policy

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
