"""Fixtures of the groups tests: the page tests browse as a logged-in annotator."""

import pytest


@pytest.fixture
def client(client, annotator):
    """Django's test client, logged in as an annotator (every group page needs a login)."""
    client.force_login(annotator)
    return client
