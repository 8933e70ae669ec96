"""API tokens: django-rest-knox's `AuthToken`, one per client login.

Only a SHA-512 digest of each token is stored (the secret is shown once, in the login
response), with the first characters of the secret to find its row. A token expires
`API_TOKEN_TTL_HOURS` after its last use (each use renews it, never past
`API_TOKEN_MAX_AGE_DAYS` after its creation). Logout revokes the token it is sent with; a
password change and a deactivation revoke every token of the user.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

# What the admin shows of a token: enough of its first characters to tell tokens apart.
SHOWN_KEY_CHARACTERS = 8


@transaction.atomic
def api_token_create(*, user) -> str:
    """A new token for one client of `user`; returns its secret (only its digest is stored).

    The user's expired tokens are deleted, and beyond `API_TOKENS_PER_USER` live tokens the
    oldest are revoked, so a script that logs in on every call cannot pile tokens up.
    """
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    _, secret = AuthToken.objects.create(user=user)
    surplus = (
        AuthToken.objects.filter(user=user)
        .order_by("-created", "-digest")
        .values_list("digest", flat=True)[settings.API_TOKENS_PER_USER :]
    )
    AuthToken.objects.filter(digest__in=list(surplus)).delete()
    return secret


def api_token_revoke(*, token: AuthToken) -> None:
    """Revoke one token (a client's logout)."""
    AuthToken.objects.filter(digest=token.digest).delete()


def api_tokens_revoke(*, user) -> int:
    """Revoke every token of `user`; returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def token_shown_key(token: AuthToken) -> str:
    """The start of a token as staff see it (never the secret itself)."""
    return f"{token.token_key[:SHOWN_KEY_CHARACTERS]}…"


# --- Revocation on a password change or a deactivation (receivers, see AccountsConfig) --------


def _rehash_only(user, update_fields) -> bool:
    """Whether this save only stores the same password re-hashed.

    `check_password` upgrades an outdated hash at login with `save(update_fields=["password"])`
    after resetting `_password`; every real change goes through `set_password` (or
    `set_unusable_password`, which changes the hash in a full save).
    """
    return getattr(user, "_password", None) is None and set(update_fields or ()) == {"password"}


def user_credentials_note(sender, instance, raw: bool = False, update_fields=None, **kwargs):
    """`pre_save` of a user: note whether the save changes the password or deactivates it."""
    instance._api_tokens_revoke = False
    if raw or instance.pk is None:
        return
    watched = {"password", "is_active"}
    if update_fields is not None and not watched & set(update_fields):
        return  # a last_login update at each login costs no query
    stored = sender._default_manager.filter(pk=instance.pk).values(*watched).first()
    if stored is None:
        return
    password_changed = stored["password"] != instance.password and not _rehash_only(
        instance, update_fields
    )
    deactivated = stored["is_active"] and not instance.is_active
    instance._api_tokens_revoke = password_changed or deactivated


def user_tokens_revoke_if_needed(sender, instance, raw: bool = False, **kwargs):
    """`post_save` of a user: revoke its tokens when `user_credentials_note` said so."""
    if getattr(instance, "_api_tokens_revoke", False):
        instance._api_tokens_revoke = False
        api_tokens_revoke(user=instance)
