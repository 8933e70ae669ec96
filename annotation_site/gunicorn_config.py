"""gunicorn's settings for `make serve`: `gunicorn -c python:annotation_site.gunicorn_config
annotation_site.wsgi`.

- bind: `HOST`:`PORT` (127.0.0.1:8000: behind a reverse proxy on the same machine);
- workers: `WEB_CONCURRENCY` processes (2 by default), each serving one request at a time;
- timeout: `WEB_TIMEOUT` seconds (60) before a stuck worker is restarted;
- garbage collection: a worker that has loaded the site freezes what it loaded and runs a
  young-generation pass every `WEB_GC_THRESHOLD` allocations (50,000; Python's default is 700);
- X-Forwarded-Proto is believed only with TRUST_X_FORWARDED_PROTO (off by default), and then
  only from `FORWARDED_ALLOW_IPS` (gunicorn's own variable; 127.0.0.1 by default). gunicorn's
  own default would believe it (and X-Forwarded-Protocol, X-Forwarded-SSL) from any client a
  local proxy passes them through for;
- no access log: the site writes one line per request itself (annotation_site.logs), and with
  LOG_FORMAT=json gunicorn's own lines are JSON too.
"""

import gc
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
_TRUE = ("1", "true", "yes", "on")
_trusted = os.environ.get("TRUST_X_FORWARDED_PROTO", "").strip().lower() in _TRUE
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"} if _trusted else {}
accesslog = None
errorlog = "-"
loglevel = "info"
# Objects allocated between two young-generation collections (Python's default: 700).
GC_YOUNG_THRESHOLD = int(os.environ.get("WEB_GC_THRESHOLD", "50000"))

if os.environ.get("LOG_FORMAT", "text") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "annotation_site.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": [], "level": "WARNING"},
    }


def post_worker_init(worker):
    """Once a worker has loaded the site: move what it loaded (modules, URL patterns, settings)
    out of the garbage collector's sight, and let a request's short-lived objects pile up longer
    between young-generation passes. A page allocates tens of thousands of objects (model
    instances, template contexts); with Python's default threshold (700) the collector passes
    over them dozens of times a request, and now and then over every object the site holds.
    Measured in bench/README.md ("Workers' garbage collection")."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
