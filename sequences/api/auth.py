"""REST endpoints of authentication (SPEC §7.2): `POST /auth/login`, `POST /auth/logout` and
`GET /users/me`.

A login answers a new token for that client (django-rest-knox: hashed at rest, expiring, see
`annotation_site.accounts.tokens`); its request and response keep the reference's shape, so
the reference's client logs in unchanged. Logins are throttled per username and address and
locked out after repeated failures (django-axes, through `authenticate`), and never cached.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api
from annotation_site.accounts.tokens import api_token_create, api_token_revoke

LOGIN_FAILED = "Incorrect username or password"
INACTIVE_USER = "Inactive user"
LOCKED_OUT = "Too many failed logins for this account from this address; try again later."
# Tokens and login failures must never sit in a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class AuthLoginApi(APIView):
    """`POST /auth/login`: a new token for this client, for `Authorization: Bearer <key>`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [site_api.LoginRateThrottle]
    parser_classes = site_api.API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthLoginInput"

        username = site_api.CharField(max_length=150)
        password = site_api.CharField(max_length=4096, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthLoginOutput"

        access_token = serializers.CharField()
        token_type = serializers.CharField()

    @site_api.api_schema(
        summary="Log in and get an API token (one per client; it expires when left unused)",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(400, 401, 422, 429),
        public=True,
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = site_api.validated_body(self.InputSerializer, request)
        lockout: dict = {}
        user = authenticate(
            request,
            username=data["username"],
            password=data["password"],
            response_context=lockout,
        )
        if user is None:
            return self._refused(data, locked_out=bool(lockout.get("error")))
        return Response({"access_token": api_token_create(user=user), "token_type": "bearer"})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in NO_STORE.items():  # errors and throttling answers included
            response[name] = value
        return response

    @staticmethod
    def _refused(data: dict, *, locked_out: bool) -> Response:
        if locked_out:
            return Response({"detail": LOCKED_OUT}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        candidate = get_user_model().objects.filter(username=data["username"]).first()
        if candidate and not candidate.is_active and candidate.check_password(data["password"]):
            return Response({"detail": INACTIVE_USER}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {"detail": LOGIN_FAILED},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )


class AuthLogoutApi(APIView):
    """`POST /auth/logout`: revokes the token the request is sent with (this client only)."""

    @site_api.api_schema(
        summary="Log out: revoke the token this request carries",
        request=None,
        responses={204: None},
        tags=["auth"],
    )
    def post(self, request):
        if request.auth is not None:
            api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserMeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "UserMeOutput"

        id = serializers.IntegerField()
        username = serializers.CharField()
        is_active = serializers.BooleanField()
        is_staff = serializers.BooleanField()
        is_superuser = serializers.BooleanField()

    @site_api.api_schema(
        summary="The authenticated user", responses={200: OutputSerializer}, tags=["auth"]
    )
    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)
