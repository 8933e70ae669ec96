"""REST endpoints of authentication (SPEC §7.2): `POST /auth/login` and `GET /users/me`."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api

LOGIN_FAILED = "Incorrect username or password"
INACTIVE_USER = "Inactive user"


class AuthLoginApi(APIView):
    """`POST /auth/login`: the user's token for `Authorization: Bearer <key>`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
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
        summary="Log in and get an API token",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(400, 401, 422),
        public=True,
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = site_api.validated_body(self.InputSerializer, request)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            candidate = get_user_model().objects.filter(username=data["username"]).first()
            if candidate and not candidate.is_active and candidate.check_password(data["password"]):
                return Response({"detail": INACTIVE_USER}, status=status.HTTP_400_BAD_REQUEST)
            return Response(
                {"detail": LOGIN_FAILED},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(
            {"access_token": site_api.auth_token_for(user=user), "token_type": "bearer"}
        )


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
