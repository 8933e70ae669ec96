"""Fixtures of the clone and push tests: a second instance of this site on loopback (one for
the session, over a database of its own), and this site's settings pointing at it."""

import pytest
from django.conf import settings as django_settings

from tests.support.fake_reference import LOGIN as REFERENCE_LOGIN
from tests.support.fake_reference import PASSWORD as REFERENCE_PASSWORD
from tests.support.fake_reference import FakeReference
from tests.support.remote_site import (
    LOGIN,
    PASSWORD,
    RemoteSite,
    postgres_database_drop,
    postgres_database_new,
)
from tests.support.servers import postgres_url


@pytest.fixture(scope="session")
def remote_site(django_db_setup, tmp_path_factory):
    """Another instance of this site under gunicorn: a separate SQLite file, or a separate
    PostgreSQL database beside the test database, migrated, with a staff account. Tests share
    it, each with sequences of its own days and alert ids."""
    folder = tmp_path_factory.mktemp("remote")
    database = django_settings.DATABASES["default"]
    url = None
    if database["ENGINE"] == "django.db.backends.postgresql":
        url = postgres_database_new(postgres_url(database), f"{database['NAME']}_remote")
        database_url = url
    else:
        database_url = f"sqlite:///{folder / 'remote.sqlite3'}"
    site = RemoteSite.start(folder, database_url)
    yield site
    site.stop()
    if url is not None:
        postgres_database_drop(url)


@pytest.fixture
def remote(remote_site, settings):
    """The remote site, with this site's credentials for it and a fast retry backoff."""
    settings.SOURCE_ANNOTATION_LOGIN = LOGIN
    settings.SOURCE_ANNOTATION_PASSWORD = PASSWORD
    settings.REMOTE_ANNOTATION_LOGIN = ""
    settings.REMOTE_ANNOTATION_PASSWORD = ""
    settings.PLATFORM_RETRY_BACKOFF = 0.01
    settings.PLATFORM_READ_TIMEOUT = 10.0
    settings.PLATFORM_IMAGE_READ_TIMEOUT = 10.0
    return remote_site


@pytest.fixture
def reference(settings):
    """A fake of the reference annotation API on loopback (tests.support.fake_reference), with
    this site's credentials for it and a fast retry backoff."""
    fake = FakeReference()
    with fake.running():
        settings.SOURCE_ANNOTATION_LOGIN = REFERENCE_LOGIN
        settings.SOURCE_ANNOTATION_PASSWORD = REFERENCE_PASSWORD
        settings.PLATFORM_RETRY_BACKOFF = 0.01
        yield fake
