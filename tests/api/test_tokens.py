"""API tokens (finding 5): hashed at rest, expiring unless used, one per client login, revoked
by logout, a password change and a deactivation, listed for staff without their secret; login
answers are never cached. The reference's client keeps logging in as it does."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


def _login(username: str = "alice", password: str = "secret-password") -> str:
    """Log in as the reference's client does: JSON in, `access_token` out."""
    response = APIClient().post(LOGIN, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "bearer"
    return response.json()["access_token"]


def _client(token: str, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client


def _works(token: str) -> bool:
    return _client(token).get(ME).status_code == 200


def test_a_token_is_stored_as_a_digest_never_in_clear(annotator):
    token = _login()

    row = AuthToken.objects.get(user=annotator)
    assert row.digest == hashlib.sha512(token.encode()).hexdigest()
    stored = " ".join(str(value) for value in AuthToken.objects.values_list().get())
    assert token not in stored


def test_staff_list_tokens_in_the_admin_without_their_secret(client, staff_user, annotator):
    token = _login()
    client.force_login(staff_user)

    changelist = client.get(reverse("admin:knox_authtoken_changelist")).content.decode()
    row = AuthToken.objects.get(user=annotator)
    change = client.get(reverse("admin:knox_authtoken_change", args=[row.pk])).content.decode()

    assert "alice" in changelist and f"{row.token_key[:8]}…" in changelist
    for page in (changelist, change):
        assert token not in page
        assert row.token_key not in page


def test_every_login_is_a_client_of_its_own_and_logout_revokes_only_its_token(annotator):
    laptop, script = _login(), _login()

    assert laptop != script
    assert _client(laptop).post(LOGOUT).status_code == 204
    assert not _works(laptop)
    assert _works(script)
    assert _client(laptop).post(LOGOUT).status_code == 401


def test_a_password_change_revokes_every_token(annotator):
    tokens = [_login(), _login()]

    annotator.set_password("a-new-password-2026")
    annotator.save()

    assert not any(_works(token) for token in tokens)
    assert _works(_login(password="a-new-password-2026"))


def test_a_password_change_in_the_admin_revokes_every_token(client, staff_user, annotator):
    token = _login()
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[annotator.pk]),
        {"password1": "a-new-password-2026", "password2": "a-new-password-2026"},
    )

    assert response.status_code == 302
    assert not _works(token)


def test_an_upgrade_of_the_password_hash_at_login_keeps_the_other_tokens(annotator, settings):
    token = _login()
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    second = _login()  # re-hashes the stored password with the preferred hasher

    annotator.refresh_from_db()
    assert annotator.password.startswith("pbkdf2_sha256$")
    assert _works(token) and _works(second)


def test_a_deactivation_revokes_every_token_for_good(annotator):
    token = _login()

    annotator.is_active = False
    annotator.save()
    annotator.is_active = True
    annotator.save()

    assert not AuthToken.objects.filter(user=annotator).exists()
    assert not _works(token)


def test_a_token_left_unused_for_a_working_day_expires(annotator):
    token = _login()
    AuthToken.objects.filter(user=annotator).update(expiry=timezone.now() - timedelta(seconds=1))

    assert not _works(token)
    assert not AuthToken.objects.filter(user=annotator).exists()


def test_a_token_in_use_is_renewed(annotator, settings):
    token = _login()
    soon = timezone.now() + timedelta(minutes=5)
    AuthToken.objects.filter(user=annotator).update(expiry=soon)

    assert _works(token)

    renewed = AuthToken.objects.get(user=annotator).expiry
    assert renewed > timezone.now() + timedelta(hours=settings.API_TOKEN_TTL_HOURS - 1)


def test_a_user_holds_at_most_the_configured_number_of_tokens(annotator, settings):
    settings.API_TOKENS_PER_USER = 3
    tokens = [_login() for _ in range(5)]

    assert AuthToken.objects.filter(user=annotator).count() == 3
    assert [_works(token) for token in tokens] == [False, False, True, True, True]


def test_login_answers_are_never_cached(annotator):
    good = APIClient().post(
        LOGIN, {"username": "alice", "password": "secret-password"}, format="json"
    )
    bad = APIClient().post(LOGIN, {"username": "alice", "password": "nope"}, format="json")

    for response in (good, bad):
        assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_both_header_schemes_take_a_login_token(annotator, scheme):
    assert _client(_login(), scheme).get(ME).json()["username"] == "alice"


def test_an_unknown_token_of_the_right_shape_is_401(db):
    UserFactory(username="bob")

    assert _client("ab" * 32).get(ME).status_code == 401
