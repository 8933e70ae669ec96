"""gunicorn's settings for `make serve`: `gunicorn -c python:annotation_site.gunicorn_config
annotation_site.wsgi`.

- bind: `HOST`:`PORT` (127.0.0.1:8000: behind a reverse proxy on the same machine);
- workers: `WEB_CONCURRENCY` processes (2 by default), each serving one request at a time;
- timeout: `WEB_TIMEOUT` seconds (60) before a stuck worker is restarted;
- X-Forwarded-Proto is believed only with TRUST_X_FORWARDED_PROTO (off by default), and then
  only from `FORWARDED_ALLOW_IPS` (gunicorn's own variable; 127.0.0.1 by default). gunicorn's
  own default would believe it (and X-Forwarded-Protocol, X-Forwarded-SSL) from any client a
  local proxy passes them through for;
- no access log: the site writes one line per request itself (annotation_site.logs), and with
  LOG_FORMAT=json gunicorn's own lines are JSON too.
"""

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
