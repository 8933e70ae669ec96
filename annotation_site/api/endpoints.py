"""Endpoint shapes the apps share: a POST whose body goes through an input serializer (one 422
for every problem), calls one service and answers with its outcome through an output
serializer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework import serializers
from rest_framework.response import Response

from annotation_site.api.parsing import ExtraChecks, validated_body
from annotation_site.api.schema import api_schema


def service_post(
    service: Callable[..., Any],
    *,
    summary: str,
    input_serializer: type[serializers.Serializer],
    output_serializer: type[serializers.Serializer],
    errors: Iterable[int],
    tags: list[str],
    extra_checks: ExtraChecks | None = None,
):
    """The documented `post` method of an APIView: `service(actor=<user>, **<valid body>)`,
    answered 200 with the outcome; `extra_checks` as in `validated_body`."""

    @api_schema(
        summary=summary,
        request=input_serializer,
        responses={200: output_serializer},
        errors=errors,
        tags=tags,
    )
    def post(self, request):
        data = validated_body(input_serializer, request, extra_checks=extra_checks)
        return Response(output_serializer(service(actor=request.user, **data)).data)

    return post
