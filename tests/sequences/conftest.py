"""Fixtures of the sequences tests: the page tests browse as a logged-in annotator."""

import pytest


@pytest.fixture
def client_in(client, annotator):
    """Django's test client, logged in as an annotator (every sequence page needs a login)."""
    client.force_login(annotator)
    return client
