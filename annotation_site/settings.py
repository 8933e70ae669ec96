"""Settings for annotation_site.

Everything that differs between a laptop and production is read from the environment, with safe
local defaults: the embedded SQLite database, files under ./media, DEBUG off unless asked for.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from annotation_site.storage import S3_ADDRESSING_STYLES, s3_storage_backend

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable: 1/0/true/false/yes/no in any case."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_number(name: str, default, kind=float):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, not {raw!r}") from exc


# --- Core ---------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

_DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    warnings.warn("SECRET_KEY is not set: using the development key (DEBUG is on).", stacklevel=1)
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY
# Without a key and without DEBUG the site refuses to serve (annotation_site.wsgi, which
# runserver loads too); commands that sign nothing (migrate, makemigrations, imports) still run.

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "sequences.apps.SequencesConfig",
    "groups.apps.GroupsConfig",
    "annotation_site.accounts.apps.AccountsConfig",
]

MIDDLEWARE = [
    # First: every line logged while serving a request carries its id.
    "annotation_site.logs.RequestIdMiddleware",
    # Before the host check, the HTTPS redirect and the login: probes need none of them.
    "annotation_site.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # After the login: a page's query-string integer beyond the database's range is a 400.
    "annotation_site.query_bounds.QueryIntegerBoundsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "annotation_site.urls"
WSGI_APPLICATION = "annotation_site.wsgi.application"

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
                "annotation_site.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------

CONN_MAX_AGE = env_number("CONN_MAX_AGE", 0, int)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=CONN_MAX_AGE,
        # A kept connection is checked before a request reuses it, so one the database has
        # dropped (a restart, a failover, an idle timeout) is replaced instead of costing a 500.
        conn_health_checks=CONN_MAX_AGE > 0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so concurrent writers wait
    # (up to the timeout) instead of failing half-way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "annotation_site.accounts.backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout of the page and admin logins (django-axes; the API login goes through it too): after
# LOGIN_FAILURE_LIMIT failures of one username from one address, that pair is refused for
# LOGIN_LOCKOUT_MINUTES; other users, and the same user elsewhere, still log in.
LOGIN_FAILURE_LIMIT = env_number("LOGIN_FAILURE_LIMIT", 5, int)
LOGIN_LOCKOUT_MINUTES = env_number("LOGIN_LOCKOUT_MINUTES", 15, int)
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(LOGIN_FAILURE_LIMIT, 1)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # the dashboard
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
# The site is in English only: no translation machinery on every rendered value.
USE_I18N = False
USE_TZ = True

# --- Static files and media ---------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"  # never served directly: images go through a login-protected view
# Object storage (annotation_site.storage): with a bucket, detection images and thumbnails go to
# it, and the image views redirect to presigned URLs valid this long instead of streaming.
S3_BUCKET = os.environ.get("S3_BUCKET", "")
S3_ADDRESSING_STYLE = os.environ.get("S3_ADDRESSING_STYLE", "auto")
if S3_ADDRESSING_STYLE not in S3_ADDRESSING_STYLES:
    raise ImproperlyConfigured(
        f"S3_ADDRESSING_STYLE must be one of {', '.join(S3_ADDRESSING_STYLES)}, "
        f"not {S3_ADDRESSING_STYLE!r}"
    )
IMAGE_URL_EXPIRY_SECONDS = env_number("IMAGE_URL_EXPIRY_SECONDS", 300, int)
STORAGES = {
    "default": (
        s3_storage_backend(
            bucket=S3_BUCKET,
            endpoint_url=os.environ.get("S3_ENDPOINT_URL", ""),
            region=os.environ.get("S3_REGION", ""),
            access_key_id=os.environ.get("S3_ACCESS_KEY_ID", ""),
            secret_access_key=os.environ.get("S3_SECRET_ACCESS_KEY", ""),
            prefix=os.environ.get("S3_PREFIX", ""),
            url_expiry_seconds=IMAGE_URL_EXPIRY_SECONDS,
            addressing_style=S3_ADDRESSING_STYLE,
        )
        if S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "annotation_site.static_storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# --- Security (secure by default; relax by environment for a plain-HTTP intranet) ----------------

SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SECURE_HTTPS)
SECURE_HSTS_SECONDS = env_number("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0, int)
# Opt-in: includeSubDomains binds every subdomain of the site's domain to HTTPS, and preload
# asks browsers to ship that promise, which is slow to undo; the site alone cannot know.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# `check --deploy` would warn about them being off: off is the deliberate default.
SILENCED_SYSTEM_CHECKS = [
    *(["security.W005"] if not SECURE_HSTS_INCLUDE_SUBDOMAINS else []),
    *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
]
# Behind a TLS reverse proxy that sets X-Forwarded-Proto (and drops any the client sent), the
# site believes it: without it, an HTTPS site behind such a proxy would redirect forever.
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
X_FRAME_OPTIONS = "DENY"

# --- REST API -----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation_site.api.auth.BearerOrTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotation_site.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttles key on the connection's address, never on a client-sent X-Forwarded-For.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "annotation_site API",
    "DESCRIPTION": "Wildfire-smoke sequence annotation with sequence groups.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per label vocabulary, however many fields use it (a list or a value).
    "ENUM_NAME_OVERRIDES": {
        "SmokeTypeEnum": "sequences.payloads.SMOKE_TYPES",
        "FalsePositiveTypeEnum": "sequences.payloads.FALSE_POSITIVE_TYPES",
    },
}
# API logins per username and address (DRF throttling, on top of the lockout above).
API_LOGIN_RATE = os.environ.get("API_LOGIN_RATE", "10/minute")
# API tokens (django-rest-knox): one per client login, hashed at rest, expiring this long
# after their last use (a working day), never renewed past API_TOKEN_MAX_AGE_DAYS.
API_TOKEN_TTL_HOURS = env_number("API_TOKEN_TTL_HOURS", 10, int)
API_TOKEN_MAX_AGE_DAYS = env_number("API_TOKEN_MAX_AGE_DAYS", 30, int)
API_TOKENS_PER_USER = env_number("API_TOKENS_PER_USER", 10, int)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=API_TOKEN_MAX_AGE_DAYS),
    "TOKEN_LIMIT_PER_USER": None,  # the login view revokes the oldest instead of refusing
}
API_DEFAULT_PAGE_SIZE = env_number("API_DEFAULT_PAGE_SIZE", 50, int)
API_MAX_PAGE_SIZE = env_number("API_MAX_PAGE_SIZE", 100, int)

# --- Sequence groups (documented in the README; validated by a system check) --------------------

GROUPS_MATCH_IOU_THRESHOLD = env_number("GROUPS_MATCH_IOU_THRESHOLD", 0.3)
GROUPS_INHERITANCE_ENABLED = env_bool("GROUPS_INHERITANCE_ENABLED", True)
GROUPS_INHERITANCE_MIN_IOU = env_number("GROUPS_INHERITANCE_MIN_IOU", 0.5)
GROUPS_MIN_LISTED_MEMBERS = env_number("GROUPS_MIN_LISTED_MEMBERS", 2, int)
GROUPS_REPRESENTATIVE_DETECTIONS = env_number("GROUPS_REPRESENTATIVE_DETECTIONS", 10, int)
GROUPS_LIST_PAGE_SIZE = env_number("GROUPS_LIST_PAGE_SIZE", 50, int)
# Member cards per page of a group page. Drawing a card is most of what the page costs: 24 (the
# check queue's screenful) keeps a big group's page within the budget of a team at once.
GROUPS_MEMBERS_PAGE_SIZE = env_number("GROUPS_MEMBERS_PAGE_SIZE", 24, int)
# Cards per page of the check queue: one screenful to confirm at a time.
GROUPS_CHECK_PAGE_SIZE = env_number("GROUPS_CHECK_PAGE_SIZE", 24, int)
GROUPS_ASSIGN_STALE_AFTER_SECONDS = env_number("GROUPS_ASSIGN_STALE_AFTER_SECONDS", 1800, int)
# Most ids one request may list (bulk annotate, check confirm; API and pages): a bound on the
# work and the locks of one request.
GROUPS_MAX_REQUEST_IDS = env_number("GROUPS_MAX_REQUEST_IDS", 1000, int)
# Machine labels hold back (sequences.safeguards): no machine false-positive label on a sequence
# the platform's temporal model scores at least this, or whose box moves at least this much.
GROUPS_HOLD_BACK_TEMPORAL_SCORE = env_number("GROUPS_HOLD_BACK_TEMPORAL_SCORE", 0.5)
# 0.02: still boxes with a detector's jitter stay below it, plumes growing 3 % a frame reach it
# (bench/README.md, "Holding back").
GROUPS_HOLD_BACK_MOTION = env_number("GROUPS_HOLD_BACK_MOTION", 0.02)
# A machine label this risky is "look closely" in the check queue: confirmed one by one.
GROUPS_LOOK_CLOSELY_RISK = env_number("GROUPS_LOOK_CLOSELY_RISK", 0.5)

# --- Annotation and import ----------------------------------------------------------------------

ANNOTATION_AUTOGEN_CONFIDENCE_THRESHOLD = env_number("ANNOTATION_AUTOGEN_CONFIDENCE_THRESHOLD", 0.0)
ANNOTATION_AUTOGEN_IOU_THRESHOLD = env_number("ANNOTATION_AUTOGEN_IOU_THRESHOLD", 0.0)
ANNOTATION_AUTOGEN_MIN_CLUSTER_SIZE = env_number("ANNOTATION_AUTOGEN_MIN_CLUSTER_SIZE", 1, int)
IMPORT_DETECTIONS_LIMIT = env_number("IMPORT_DETECTIONS_LIMIT", 30, int)
# Images of one sequence fetched (and checked) at once by every importer: a pull from an object
# store 50 ms away reaches 100 images per second from 8 on (bench/README.md, "Pulling").
IMPORT_DOWNLOAD_CONCURRENCY = env_number("IMPORT_DOWNLOAD_CONCURRENCY", 8, int)
IMPORT_CHAIN_ASSIGNMENT = env_bool("IMPORT_CHAIN_ASSIGNMENT", True)
# What an import calls at its end (a dotted path: the sequences app never imports the groups app).
IMPORT_ASSIGNMENT_HOOK = os.environ.get(
    "IMPORT_ASSIGNMENT_HOOK", "groups.import_hook.assignment_after_import"
)
# What records an annotation delete (sequences.services.annotation_delete) in the audit log, in
# the delete's transaction; staff undo it there. Not read from the environment: never off.
ANNOTATION_DELETE_AUDIT_HOOK = "groups.services.audit.annotation_delete_log"
# What validates a sequence's group when a save asks for it ("Save and validate the group"), in
# the save's transaction. Not read from the environment.
GROUP_VALIDATE_HOOK = "groups.services.validation.group_validate_for_save"
IMAGE_THUMBNAIL_WIDTH = env_number("IMAGE_THUMBNAIL_WIDTH", 640, int)
# Every image that comes in (API upload, local import, platform pull, demo) is refused beyond
# these (sequences.services.images.image_check): 25 megapixels is three 4K frames (about 100 MB
# once decoded), 10 MiB several times a camera's largest JPEG. Platform downloads are cut at the
# byte cap.
IMAGE_MAX_PIXELS = env_number("IMAGE_MAX_PIXELS", 25_000_000, int)
IMAGE_MAX_BYTES = env_number("IMAGE_MAX_BYTES", 10 * 1024 * 1024, int)

# --- Pyronear platform (pull_sequences); read from the environment only ------------------------

PLATFORM_API_URL = os.environ.get("PLATFORM_API_URL", "https://alertapi.pyronear.org")
PLATFORM_LOGIN = os.environ.get("PLATFORM_LOGIN", "")
PLATFORM_PASSWORD = os.environ.get("PLATFORM_PASSWORD", "")
PLATFORM_ADMIN_LOGIN = os.environ.get("PLATFORM_ADMIN_LOGIN", "")
PLATFORM_ADMIN_PASSWORD = os.environ.get("PLATFORM_ADMIN_PASSWORD", "")
# Retries: 3 attempts after the first, backing off 1, 2, 4 s times this base.
PLATFORM_RETRY_BACKOFF = env_number("PLATFORM_RETRY_BACKOFF", 1.0)
PLATFORM_CONNECT_TIMEOUT = env_number("PLATFORM_CONNECT_TIMEOUT", 5.0)
PLATFORM_READ_TIMEOUT = env_number("PLATFORM_READ_TIMEOUT", 60.0)
PLATFORM_IMAGE_READ_TIMEOUT = env_number("PLATFORM_IMAGE_READ_TIMEOUT", 30.0)

# --- Another annotation API (clone_sequences, push_annotations); from the environment only ------

# The account on the API sequences are cloned from; push_annotations uses it too unless the
# REMOTE_ANNOTATION_* pair is set. Calls follow the platform's retry and timeout settings above.
SOURCE_ANNOTATION_LOGIN = os.environ.get("SOURCE_ANNOTATION_LOGIN", "")
SOURCE_ANNOTATION_PASSWORD = os.environ.get("SOURCE_ANNOTATION_PASSWORD", "")
REMOTE_ANNOTATION_LOGIN = os.environ.get("REMOTE_ANNOTATION_LOGIN", "")
REMOTE_ANNOTATION_PASSWORD = os.environ.get("REMOTE_ANNOTATION_PASSWORD", "")

# --- Logging ------------------------------------------------------------------------------------

# One line per request and per project command (annotation_site.logs), each with its request id;
# LOG_FORMAT=json writes one JSON object per line for a log collector.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
# The demo (DEBUG) keeps runserver's own request lines only.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING" if DEBUG else "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "annotation_site.logs.RequestContextFilter"}},
    "formatters": {
        "text": {"()": "annotation_site.logs.TextFormatter"},
        "json": {"()": "annotation_site.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-axes announces itself at every start; its lockouts are warnings and still show.
    "loggers": {"axes.apps": {"level": "WARNING"}},
}
