"""API authentication: `Authorization: Bearer <key>` (the reference's scheme) or `Token <key>`
over rest_framework.authtoken's tokens, and how the schema documents it."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

INVALID_TOKEN = "Invalid token."


class BearerOrTokenAuthentication(TokenAuthentication):
    """Token authentication accepting both `Bearer <key>` and `Token <key>`.

    Defining `authenticate_header` (inherited) makes DRF answer 401, not 403, to a request
    without credentials. Keys are checked for shape before any query, so garbage never reaches
    the database.
    """

    keywords = ("Bearer", "Token")
    key_length = 40

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in {k.lower().encode() for k in self.keywords}:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: expected '<Bearer|Token> <key>'."
            )
        try:
            key = auth[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from exc
        if len(key) != self.key_length or not key.isalnum():
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return self.authenticate_credentials(key)

    def authenticate_header(self, request) -> str:
        return "Bearer"


def auth_token_for(*, user) -> str:
    """The user's single API token (created on first use); revoked tokens are re-created."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


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
            "(or `Token <key>`)."
        )
        return scheme
