"""`/healthz` and `/readyz`: no login, no HTTPS redirect, no host check, 200 or 503, nothing
secret in the body."""

import json

import pytest

from tests.support.servers import closed_port_url, probe_in_fresh_process, site_environment

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "migrations": "ok", "storage": "ok"}


def test_healthz_answers_anonymous_probes_over_plain_http_by_address(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # as in production
    settings.ALLOWED_HOSTS = ["annotation.example.org"]

    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_200_when_everything_answers(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/readyz", HTTP_HOST="10.0.0.7")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


def test_readyz_with_the_bucket_is_200(client, s3_bucket):
    response = client.get("/readyz")

    assert (response.status_code, response.json()["checks"]) == (200, ALL_OK)


def test_readyz_is_503_when_the_storage_does_not_answer(client, s3_server, settings):
    endpoint = closed_port_url()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **s3_server.backend("images"),
            "OPTIONS": {**s3_server.backend("images")["OPTIONS"], "endpoint_url": endpoint},
        },
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "ok", "storage": "unavailable"},
    }
    assert endpoint.rsplit(":", 1)[1] not in response.content.decode()


def test_readyz_is_503_when_the_bucket_is_missing(client, s3_server, settings):
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.backend("no-such-bucket")}

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unavailable"
    assert "no-such-bucket" not in response.content.decode()


def test_readyz_is_503_when_the_media_folder_cannot_be_written(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "not-a-folder" / "media"
    (tmp_path / "not-a-folder").write_text("a file where the folder should be")

    response = client.get("/readyz")

    assert (response.status_code, response.json()["checks"]["storage"]) == (503, "unavailable")


def test_health_endpoints_refuse_other_methods(client):
    assert client.post("/readyz").status_code == 405
    assert client.post("/healthz").status_code == 405


def test_readyz_is_503_when_the_database_is_down(tmp_path):
    # A PostgreSQL address where nothing listens: the connection is refused.
    closed = closed_port_url().replace("http://", "postgres://nobody:s3cret@") + "/annotation"
    status, body = probe_in_fresh_process(
        "/readyz",
        site_environment(DATABASE_URL=closed, SECRET_KEY="k", MEDIA_ROOT=str(tmp_path / "m")),
    )

    assert status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "migrations": "unknown", "storage": "ok"},
    }
    assert "s3cret" not in body and "nobody" not in body


def test_readyz_is_503_until_the_migrations_are_applied(tmp_path):
    env = site_environment(
        DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
        SECRET_KEY="k",
        MEDIA_ROOT=str(tmp_path / "m"),
    )

    status, body = probe_in_fresh_process("/readyz", env)

    assert status == 503
    assert json.loads(body)["checks"] == {
        "database": "ok",
        "migrations": "unapplied",
        "storage": "ok",
    }
