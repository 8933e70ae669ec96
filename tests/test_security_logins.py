"""Logins resist password guessing (issue: hardening for an open site, finding 4).

The page and admin logins lock a username out from one address after `LOGIN_FAILURE_LIMIT`
failures (django-axes); the API login is throttled per username and address (DRF) and goes
through the same lockout. Other users, and the same user from elsewhere, still log in.
"""

import pytest
from django.contrib.auth import authenticate
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "secret-password"  # UserFactory's
ATTACKER = "203.0.113.9"
ELSEWHERE = "198.51.100.7"
API_LOGIN = "/api/v1/auth/login"


@pytest.fixture
def users(db):
    return UserFactory(username="alice", is_staff=True), UserFactory(username="bob", is_staff=True)


def _page_login(client, url: str, username: str, password: str, address: str = ATTACKER):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def _api_login(username: str, password: str, address: str = ATTACKER):
    return APIClient().post(
        API_LOGIN, {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def _logged_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response.url


@pytest.mark.parametrize("url", [reverse("login"), reverse("admin:login")], ids=["page", "admin"])
def test_ten_wrong_passwords_lock_the_page_logins_of_that_user_from_that_address(
    client, users, url
):
    for _ in range(10):
        _page_login(client, url, "alice", "wrong-password")

    refused = _page_login(client, url, "alice", PASSWORD)

    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Someone else from the same address, and alice from her own, are not held up.
    assert _logged_in(_page_login(client.__class__(), url, "bob", PASSWORD))
    assert _logged_in(_page_login(client.__class__(), url, "alice", PASSWORD, ELSEWHERE))


def test_the_lockout_threshold_is_a_setting(client, users, settings):
    settings.AXES_FAILURE_LIMIT = 2
    url = reverse("login")

    _page_login(client, url, "alice", "wrong-password")
    assert _logged_in(_page_login(client.__class__(), url, "alice", PASSWORD))
    for _ in range(2):
        _page_login(client, url, "alice", "wrong-password")
    assert _page_login(client, url, "alice", PASSWORD).status_code == 429


def test_a_success_before_the_limit_forgives_earlier_failures(client, users):
    url = reverse("login")
    for _ in range(4):
        _page_login(client, url, "alice", "wrong-password")
    assert _logged_in(_page_login(client.__class__(), url, "alice", PASSWORD))
    for _ in range(4):
        _page_login(client, url, "alice", "wrong-password")

    assert _logged_in(_page_login(client.__class__(), url, "alice", PASSWORD))


def test_ten_wrong_passwords_then_the_right_one_is_refused_by_the_api(users):
    answers = [_api_login("alice", "wrong-password").status_code for _ in range(10)]

    refused = _api_login("alice", PASSWORD)

    assert answers[0] == 401 and answers[-1] == 429
    assert refused.status_code == 429
    assert "access_token" not in refused.json()
    assert _api_login("bob", PASSWORD).status_code == 200
    assert _api_login("alice", PASSWORD, ELSEWHERE).status_code == 200


def test_the_api_login_is_throttled_per_user_and_address_at_a_set_rate(users, settings):
    settings.API_LOGIN_RATE = "3/minute"
    assert [_api_login("alice", PASSWORD).status_code for _ in range(3)] == [200] * 3

    throttled = _api_login("alice", PASSWORD)

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert _api_login("bob", PASSWORD).status_code == 200
    assert _api_login("alice", PASSWORD, ELSEWHERE).status_code == 200


def test_a_forged_forwarded_address_does_not_escape_the_throttle(users, settings):
    settings.API_LOGIN_RATE = "2/minute"
    for index in range(2):
        APIClient().post(
            API_LOGIN,
            {"username": "alice", "password": PASSWORD},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{index}",
        )

    response = APIClient().post(
        API_LOGIN,
        {"username": "alice", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="10.0.0.99",
    )

    assert response.status_code == 429


def test_a_login_from_code_without_a_request_still_authenticates(users):
    assert authenticate(username="alice", password=PASSWORD) == users[0]
