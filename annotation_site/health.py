"""Health endpoints for a load balancer or an orchestrator: `/healthz` and `/readyz`.

- `/healthz`: the process answers (200, nothing checked).
- `/readyz`: 200 when the database answers, every migration is applied and the image storage
  answers; 503 otherwise. The body names each check and its state, never an error's text
  (which may hold a host or a key name): the reason goes to the `annotation_site.health` log.

`HealthMiddleware` answers both paths itself, right after the request id and before anything
else: a probe needs no login, sends no cookie, may come over plain HTTP (no redirect to HTTPS)
and may name the server by its address (no ALLOWED_HOSTS check, no CSRF, no session).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponseNotAllowed, JsonResponse

from annotation_site.storage import storage_check

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
UNAPPLIED = "unapplied"
UNKNOWN = "unknown"


def _database_check() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.warning("readyz: the database does not answer", exc_info=True)
        # A broken connection would be handed to the next request of this thread as it is.
        connection.close_if_unusable_or_obsolete()
        return UNAVAILABLE
    return OK


def _migrations_check() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        logger.warning("readyz: the migrations cannot be read", exc_info=True)
        return UNKNOWN
    if plan:
        logger.warning("readyz: %d migrations are not applied (run manage.py migrate)", len(plan))
        return UNAPPLIED
    return OK


def _storage_check() -> str:
    try:
        storage_check(default_storage)
    except Exception:
        logger.warning("readyz: the image storage does not answer", exc_info=True)
        return UNAVAILABLE
    return OK


def readiness() -> dict[str, str]:
    """Each check's state; the site is ready when every one is `ok`."""
    database = _database_check()
    return {
        "database": database,
        "migrations": _migrations_check() if database == OK else UNKNOWN,
        "storage": _storage_check(),
    }


def healthz_response() -> JsonResponse:
    return _answer({"status": OK}, 200)


def readyz_response() -> JsonResponse:
    checks = readiness()
    ready = all(state == OK for state in checks.values())
    body = {"status": OK if ready else UNAVAILABLE, "checks": checks}
    return _answer(body, 200 if ready else 503)


def _answer(body: dict, status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


class HealthMiddleware:
    """Answers GET and HEAD of `/healthz` and `/readyz` before the rest of the stack."""

    ROUTES: dict[str, Callable[[], JsonResponse]] = {
        "/healthz": healthz_response,
        "/readyz": readyz_response,
    }

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        route = self.ROUTES.get(request.path_info)
        if route is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return route()
