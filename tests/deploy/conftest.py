"""Fixtures of the deployment tests: an S3 protocol server for the session, a bucket per test,
and two gunicorn servers."""

import subprocess
import sys
from dataclasses import dataclass

import pytest
from django.db import connection

from tests.support.servers import (
    ROOT,
    S3Server,
    SiteServer,
    postgres_url,
    site_environment,
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on a loopback port. A server that cannot start fails the tests that
    need it (the error names why); they are never skipped."""
    server = S3Server.start(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings) -> str:
    """A new, empty bucket that holds the detection images, configured as S3_* would."""
    bucket = s3_server.bucket_new()
    settings.S3_BUCKET = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_server.backend(bucket, url_expiry_seconds=settings.IMAGE_URL_EXPIRY_SECONDS),
    }
    return bucket


@dataclass
class TwoSites:
    a: SiteServer
    b: SiteServer
    env: dict[str, str]
    bucket: str


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> str:
    """A STATIC_ROOT filled by `collectstatic`, as `make serve` fills it (DEBUG off needs it)."""
    root = tmp_path_factory.mktemp("static")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=site_environment(STATIC_ROOT=str(root), SECRET_KEY="collect"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return str(root)


@pytest.fixture
def two_sites(transactional_db, postgres_only, s3_server, collected_static, tmp_path):
    """Two gunicorn servers on two loopback ports over this test's PostgreSQL database and one
    bucket, configured as an operator would (DEBUG off, JSON logs)."""
    bucket = s3_server.bucket_new()
    env = site_environment(
        DATABASE_URL=postgres_url(connection.settings_dict),
        SECRET_KEY="two-servers-share-this-key-" + "k" * 30,
        DEBUG="false",
        SECURE_HTTPS="false",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_FORMAT="json",
        WEB_CONCURRENCY="1",
        MEDIA_ROOT=str(tmp_path / "unused-media"),
        STATIC_ROOT=collected_static,
        **s3_server.environment(bucket),
    )
    a, b = SiteServer.start_many(tmp_path, ["a", "b"], env)
    yield TwoSites(a=a, b=b, env=env, bucket=bucket)
    a.stop()
    b.stop()
