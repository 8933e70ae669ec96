"""Issue 16, findings 10 and 15, under gunicorn as `make serve` runs it: X-Forwarded-Proto is
believed only when the operator says so, HSTS includeSubDomains and preload are opt-in, and a
database connection dropped between two requests costs no request (persistent connections are
health-checked)."""

import requests
from django.db import connection

from annotation_site.accounts.tokens import api_token_create
from tests.factories import SequenceFactory, UserFactory
from tests.support.servers import SiteServer, postgres_url, site_environment

REQUEST_TIMEOUT = 60
HTTPS = {"X-Forwarded-Proto": "https"}


def served(tmp_path, collected_static, names: list[str], **variables) -> list[SiteServer]:
    """gunicorn servers, one per name, with DEBUG off and HTTPS on (the production default)."""
    env = site_environment(
        SECRET_KEY="proxy-test-key-" + "p" * 40,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=collected_static,
        WEB_CONCURRENCY="1",
        **variables,
    )
    return SiteServer.start_many(tmp_path, names, env)


def test_x_forwarded_proto_is_believed_only_when_trusted(tmp_path, collected_static):
    (server,) = served(tmp_path, collected_static, ["default"])
    try:
        answer = requests.get(
            f"{server.url}/login/", headers=HTTPS, allow_redirects=False, timeout=REQUEST_TIMEOUT
        )
    finally:
        server.stop()

    # A client's header is not believed: the plain-HTTP request is sent to HTTPS.
    assert answer.status_code == 301
    assert answer.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in answer.headers


def test_a_trusted_proxy_gets_hsts_without_subdomains_or_preload_unless_asked(
    tmp_path, collected_static
):
    (plain,) = served(tmp_path, collected_static, ["plain"], TRUST_X_FORWARDED_PROTO="true")
    (opted_in,) = served(
        tmp_path,
        collected_static,
        ["opted-in"],
        TRUST_X_FORWARDED_PROTO="true",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    try:
        default = requests.get(f"{plain.url}/login/", headers=HTTPS, timeout=REQUEST_TIMEOUT)
        asked = requests.get(f"{opted_in.url}/login/", headers=HTTPS, timeout=REQUEST_TIMEOUT)
    finally:
        plain.stop()
        opted_in.stop()

    assert default.status_code == 200 and not default.history  # believed: no redirect
    assert default.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert asked.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


def test_a_dropped_database_connection_costs_no_request(
    transactional_db, postgres_only, collected_static, tmp_path
):
    user = UserFactory()
    token = api_token_create(user=user)
    sequence = SequenceFactory()
    env = site_environment(
        SECRET_KEY="connections-test-key-" + "c" * 40,
        DEBUG="false",
        SECURE_HTTPS="false",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=postgres_url(connection.settings_dict),
        CONN_MAX_AGE="600",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=collected_static,
        WEB_CONCURRENCY="1",  # one worker: the second request reuses the first one's connection
    )
    (server,) = SiteServer.start_many(tmp_path, ["persistent"], env)
    url = f"{server.url}/api/v1/sequences/{sequence.pk}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        first = requests.get(url, headers=headers, timeout=REQUEST_TIMEOUT)
        with connection.cursor() as cursor:
            # What a database restart or an idle-connection timeout does to the kept connection.
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (terminated,) = cursor.fetchone()
        answers = [requests.get(url, headers=headers, timeout=REQUEST_TIMEOUT) for _ in range(3)]
    finally:
        server.stop()

    assert first.status_code == 200, first.text
    assert terminated >= 1  # the worker's kept connection was there, and is gone
    assert [answer.status_code for answer in answers] == [200, 200, 200]
