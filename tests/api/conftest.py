"""API clients authenticated the way scripts authenticate: a real token in a Bearer header."""

import pytest
from rest_framework.test import APIClient

from tests.support import token_client


@pytest.fixture
def api(staff_user) -> APIClient:
    """SPEC §9.1: the client is authenticated as staff."""
    return token_client(staff_user)


@pytest.fixture
def annotator_api(annotator) -> APIClient:
    return token_client(annotator)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()
