"""REST endpoints of sequences (SPEC §7.2): the filtered list, creation (the organisation and
camera upserted by `sequence_create`) and one sequence."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api
from sequences.filters import FilteredListSchema, SequenceFilter
from sequences.models import AnnotationType, Sequence, SourceApi
from sequences.payloads import INT_MAX
from sequences.serializers import SequenceReadSerializer, SequenceWithAnnotationReadSerializer
from sequences.services import TEMPORAL_VERSION_MAX_LENGTH, sequence_create

SEQUENCE_NOT_FOUND = "Sequence not found."


class SequenceCollectionApi(APIView):
    """`GET /sequences/` (filtered page) and `POST /sequences/` (create)."""

    parser_classes = site_api.API_PARSERS
    # Read by drf-spectacular's django-filter extension to document the query parameters.
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SequenceFilter
    queryset = Sequence.objects.none()

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceCreateInput"

        source_api = serializers.ChoiceField(choices=SourceApi.choices)
        alert_api_id = site_api.id_field()
        camera_id = site_api.IntegerField(min_value=0, max_value=INT_MAX)
        camera_name = site_api.CharField(max_length=255)
        # The service's names: the whole body is the arguments of `sequence_create`.
        organisation_id = site_api.IntegerField(
            source="organization_id", min_value=0, max_value=INT_MAX
        )
        organisation_name = site_api.CharField(source="organization_name", max_length=255)
        lat = site_api.FiniteFloatField(min_value=-90, max_value=90)
        lon = site_api.FiniteFloatField(min_value=-180, max_value=180)
        azimuth = site_api.FiniteFloatField(
            required=False,
            allow_null=True,
            default=None,
            help_text="degrees; rounded half to even and wrapped to 0..359; null = unknown",
        )
        is_wildfire_alertapi = serializers.ChoiceField(
            choices=AnnotationType.choices, required=False, allow_null=True, default=None
        )
        recorded_at = serializers.DateTimeField()
        last_seen_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        temporal_model_score = site_api.FiniteFloatField(
            min_value=0,
            max_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="the platform's temporal model score of the sequence; null = not scored",
        )
        temporal_model_version = site_api.CharField(
            max_length=TEMPORAL_VERSION_MAX_LENGTH, required=False, allow_null=True, default=None
        )
        temporal_api_version = site_api.CharField(
            max_length=TEMPORAL_VERSION_MAX_LENGTH, required=False, allow_null=True, default=None
        )

    @site_api.api_schema(
        summary="List sequences",
        operation_id="sequences_list",
        responses={200: site_api.page_of(SequenceWithAnnotationReadSerializer)},
        paged=True,
        errors=(422,),
        tags=["sequences"],
    )
    def get(self, request):
        queryset = Sequence.objects.select_related("camera", "organization", "annotation")

        def serialize(rows, query):
            if query.get("include_annotation"):
                return SequenceWithAnnotationReadSerializer(rows, many=True).data
            return SequenceReadSerializer(rows, many=True).data

        return site_api.paginated_response(
            request=request, queryset=queryset, serialize=serialize, filterset_class=SequenceFilter
        )

    @site_api.api_schema(
        summary=(
            "Create a sequence (its organisation and camera are upserted; renaming existing "
            "ones needs staff)"
        ),
        request=CreateInputSerializer,
        responses={201: SequenceReadSerializer},
        errors=(403, 409, 422),
        tags=["sequences"],
    )
    def post(self, request):
        data = site_api.validated_body(self.CreateInputSerializer, request)
        # A taken (source_api, alert_api_id) raises SequenceExists: a 409 naming it.
        # A non-staff caller renaming an existing camera or organisation: a 403 naming it.
        sequence = sequence_create(**data, actor=request.user)
        return Response(SequenceReadSerializer(sequence).data, status=status.HTTP_201_CREATED)


class SequenceDetailApi(APIView):
    @site_api.api_schema(
        summary="One sequence",
        parameters=[site_api.path_id("sequence_id", "sequence id")],
        responses={200: SequenceReadSerializer},
        errors=(404,),
        tags=["sequences"],
    )
    def get(self, request, sequence_id: int):
        sequence = (
            Sequence.objects.select_related("camera", "organization").filter(pk=sequence_id).first()
        )
        if sequence is None:
            raise NotFound(SEQUENCE_NOT_FOUND)
        return Response(SequenceReadSerializer(sequence).data)
