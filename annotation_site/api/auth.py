"""API authentication: `Authorization: Bearer <key>` (the reference's scheme) or `Token <key>`
over django-rest-knox's hashed, expiring tokens; the throttle of the login endpoint; and how
the schema documents the scheme."""

from __future__ import annotations

import hashlib
import string
from hmac import compare_digest

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

INVALID_TOKEN = "Invalid token."
TOKEN_EXPIRED = "Token expired; log in again."
_HEX = frozenset(string.hexdigits)


class BearerOrTokenAuthentication(TokenAuthentication):
    """Knox token authentication accepting both `Bearer <key>` and `Token <key>`.

    Defining `authenticate_header` makes DRF answer 401, not 403, to a request without
    credentials. Keys are checked for shape before any query, so garbage never reaches the
    database; an expired token is deleted when it is presented, a used one is renewed
    (knox's AUTO_REFRESH), an inactive user's token is refused.
    """

    keywords = ("Bearer", "Token")

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in {k.lower().encode() for k in self.keywords}:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: expected '<Bearer|Token> <key>'."
            )
        key = auth[1]
        if len(key) != knox_settings.AUTH_TOKEN_CHARACTER_LENGTH or not _HEX.issuperset(
            key.decode("latin-1")
        ):
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, token: bytes):
        """The user of a live token, in one query (knox's own also sweeps the user's other
        tokens on every request; expired ones are swept at login instead). An expired token is
        deleted and refused."""
        key = token.decode("ascii")
        digest = hash_token(key)
        rows = AuthToken.objects.filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH])
        for auth_token in rows.select_related("user"):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise exceptions.AuthenticationFailed(TOKEN_EXPIRED)
            if knox_settings.AUTO_REFRESH and auth_token.expiry:
                self.renew_token(auth_token)
            return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(INVALID_TOKEN)

    def authenticate_header(self, request) -> str:
        return "Bearer"


class LoginRateThrottle(SimpleRateThrottle):
    """`API_LOGIN_RATE` login requests per username and client address.

    Keyed on both, so one user's failed attempts never slow down another user's login. The
    count lives in Django's cache (per process with the default local-memory cache); the
    lockout of repeated failures (django-axes) is shared through the database.
    """

    scope = "login"

    def get_rate(self) -> str:
        return settings.API_LOGIN_RATE

    def get_cache_key(self, request, view) -> str:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        who = f"{str(username or '').casefold()}\n{self.get_ident(request)}"
        return self.cache_format % {
            "scope": self.scope,
            "ident": hashlib.sha256(who.encode("utf-8", "replace")).hexdigest(),
        }


class BearerOrTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme as HTTP bearer (`Token <key>` is accepted as well)."""

    target_class = BearerOrTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer"
        )
        scheme["description"] = (
            "The access_token of POST /api/v1/auth/login, sent as `Bearer <key>` "
            "(or `Token <key>`); it expires after a working day without use."
        )
        return scheme
