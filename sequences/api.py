"""REST endpoints of the sequence domain (SPEC §7.2): auth, users, sequences, detections,
sequence annotations.

One APIView per path, each operation with its own nested input serializer; every write goes
through `sequences.services` (annotation saves are human saves, so they lock and propagate
through the groups app's receivers) and the views only translate HTTP to service calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import (
    API_PARSERS,
    INT_MAX,
    BooleanField,
    CharField,
    FiniteFloatField,
    IgnoreAcceptNegotiation,
    IntegerField,
    JsonInputField,
    RequestInvalid,
    api_schema,
    auth_token_for,
    id_field,
    page_of,
    paginated_response,
    path_id,
    validated_body,
    validated_query,
)
from sequences.filters import (
    DetectionFilter,
    FilteredListSchema,
    SequenceAnnotationFilter,
    SequenceFilter,
)
from sequences.models import (
    AnnotationType,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
    SourceApi,
)
from sequences.serializers import (
    AnnotationPayloadField,
    DetectionReadSerializer,
    SequenceAnnotationReadSerializer,
    SequenceReadSerializer,
    SequenceWithAnnotationReadSerializer,
    detection_image_url,
    save_warning_context,
)
from sequences.services import (
    IMAGE_MEDIA_TYPES,
    AlreadyExists,
    AutogenParams,
    annotation_content_errors,
    annotation_create,
    annotation_delete,
    annotation_update,
    detection_create,
    detection_payload_errors,
    image_check,
    sequence_create,
)
from sequences.services.images import thumbnail_open

LOGIN_FAILED = "Incorrect username or password"
INACTIVE_USER = "Inactive user"
SEQUENCE_NOT_FOUND = "Sequence not found."
DETECTION_NOT_FOUND = "Detection not found."
ANNOTATION_NOT_FOUND = "Sequence annotation not found."
SEQUENCE_UNKNOWN = "sequence {sequence_id} does not exist"
IMAGE_FILE_NOT_FOUND = "Image file not found."


def _conflict(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_409_CONFLICT)


def _unknown_sequence(sequence_id: int) -> tuple:
    """A body naming a missing sequence is a 422 on the field (SPEC §7.1), not a 404."""
    return (("body", "sequence_id"), SEQUENCE_UNKNOWN.format(sequence_id=sequence_id))


def _sequence_errors(values: dict[str, Any], raw=None) -> list[tuple]:
    """The body's sequence must exist; found, it is kept as ``values["sequence"]``."""
    if "sequence_id" not in values:
        return []
    values["sequence"] = Sequence.objects.filter(pk=values["sequence_id"]).first()
    return [] if values["sequence"] else [_unknown_sequence(values["sequence_id"])]


def _content_errors(values: dict[str, Any], sequence: Sequence | None) -> list[tuple]:
    """An annotation's own problems, as `annotation_write` checks them (SPEC §3.5).

    Empty ones are left out: at `ready_to_annotate` they are generated.
    """
    annotation = values.get("annotation")
    if sequence is None or annotation in (None, {}, {"sequences_bbox": []}):
        return []
    errors = annotation_content_errors(sequence=sequence, annotation=annotation)
    return [(("body", *loc), message) for loc, message in errors]


def _upload_errors(values: dict[str, Any], raw) -> list[tuple]:
    """A detection upload's sequence must exist and its image open.

    Keeps the image's bytes and extension in ``values`` for the write.
    """
    errors = _sequence_errors(values)
    if "file" in values:
        values["image_bytes"] = values["file"].read()
        try:
            values["extension"] = image_check(values["image_bytes"])
        except ValueError as exc:
            errors.append((("body", "file"), str(exc)))
    return errors


def _box_errors(values: dict[str, Any]) -> list[tuple]:
    """The upload's boxes, as `detection_create` checks them."""
    if "algo_predictions" not in values:
        return []
    _, _, errors = detection_payload_errors(
        algo_predictions=values["algo_predictions"], others_bboxes=values.get("others_bboxes")
    )
    return [(("body", *loc), message) for loc, message in errors]


# --- Auth and users ----------------------------------------------------------------------------


class AuthLoginApi(APIView):
    """`POST /auth/login`: the user's token for `Authorization: Bearer <key>`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthLoginInput"

        username = CharField(max_length=150)
        password = CharField(max_length=4096, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthLoginOutput"

        access_token = serializers.CharField()
        token_type = serializers.CharField()

    @api_schema(
        summary="Log in and get an API token",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(400, 401, 422),
        public=True,
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = validated_body(self.InputSerializer, request)
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
        return Response({"access_token": auth_token_for(user=user), "token_type": "bearer"})


class UserMeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "UserMeOutput"

        id = serializers.IntegerField()
        username = serializers.CharField()
        is_active = serializers.BooleanField()
        is_staff = serializers.BooleanField()
        is_superuser = serializers.BooleanField()

    @api_schema(summary="The authenticated user", responses={200: OutputSerializer}, tags=["auth"])
    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)


# --- Sequences ---------------------------------------------------------------------------------


class SequenceCollectionApi(APIView):
    """`GET /sequences/` (filtered page) and `POST /sequences/` (create)."""

    parser_classes = API_PARSERS
    # Read by drf-spectacular's django-filter extension to document the query parameters.
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SequenceFilter
    queryset = Sequence.objects.none()

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceCreateInput"

        source_api = serializers.ChoiceField(choices=SourceApi.choices)
        alert_api_id = id_field()
        camera_id = IntegerField(min_value=0, max_value=INT_MAX)
        camera_name = CharField(max_length=255)
        # The service's names: the whole body is the arguments of `sequence_create`.
        organisation_id = IntegerField(source="organization_id", min_value=0, max_value=INT_MAX)
        organisation_name = CharField(source="organization_name", max_length=255)
        lat = FiniteFloatField(min_value=-90, max_value=90)
        lon = FiniteFloatField(min_value=-180, max_value=180)
        azimuth = FiniteFloatField(
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

    @api_schema(
        summary="List sequences",
        operation_id="sequences_list",
        responses={200: page_of(SequenceWithAnnotationReadSerializer)},
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

        return paginated_response(
            request=request, queryset=queryset, serialize=serialize, filterset_class=SequenceFilter
        )

    @api_schema(
        summary="Create a sequence (its organisation and camera are upserted)",
        request=CreateInputSerializer,
        responses={201: SequenceReadSerializer},
        errors=(409, 422),
        tags=["sequences"],
    )
    def post(self, request):
        data = validated_body(self.CreateInputSerializer, request)
        try:
            sequence = sequence_create(**data)
        except AlreadyExists as exc:
            return _conflict(str(exc))
        return Response(SequenceReadSerializer(sequence).data, status=status.HTTP_201_CREATED)


class SequenceDetailApi(APIView):
    @api_schema(
        summary="One sequence",
        parameters=[path_id("sequence_id", "sequence id")],
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


# --- Detections --------------------------------------------------------------------------------


def _detection_or_404(detection_id: int) -> Detection:
    detection = Detection.objects.filter(pk=detection_id).first()
    if detection is None:
        raise NotFound(DETECTION_NOT_FOUND)
    return detection


class DetectionCollectionApi(APIView):
    """`GET /detections/` (filtered page) and `POST /detections/` (multipart upload)."""

    parser_classes = [MultiPartParser, FormParser]
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = DetectionFilter
    queryset = Detection.objects.none()

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DetectionCreateInput"

        sequence_id = id_field()
        alert_api_id = id_field()
        recorded_at = serializers.DateTimeField()
        file = serializers.FileField(help_text="a JPEG, PNG or WebP image")
        algo_predictions = JsonInputField(
            help_text='JSON text: {"predictions": [{"xyxyn": [x1, y1, x2, y2], '
            '"confidence": c, "class_name": "smoke"}]}'
        )
        others_bboxes = JsonInputField(
            required=False, allow_null=True, default=None, help_text="JSON text, same shape"
        )

    @api_schema(
        summary="List detections",
        operation_id="detections_list",
        responses={200: page_of(DetectionReadSerializer)},
        paged=True,
        errors=(422,),
        tags=["detections"],
    )
    def get(self, request):
        return paginated_response(
            request=request,
            queryset=Detection.objects.all(),
            serialize=lambda rows, query: (
                DetectionReadSerializer(rows, many=True, context={"request": request}).data
            ),
            filterset_class=DetectionFilter,
        )

    @api_schema(
        summary="Upload a detection (an image and its predictions)",
        request={"multipart/form-data": CreateInputSerializer},
        responses={201: DetectionReadSerializer},
        errors=(409, 422),
        tags=["detections"],
    )
    def post(self, request):
        data = validated_body(
            self.CreateInputSerializer,
            request,
            extra_checks=_upload_errors,
            service_checks=_box_errors,
        )
        try:
            detection = detection_create(
                sequence=data["sequence"],
                alert_api_id=data["alert_api_id"],
                recorded_at=data["recorded_at"],
                image_bytes=data["image_bytes"],
                extension=data["extension"],
                algo_predictions=data["algo_predictions"],
                others_bboxes=data["others_bboxes"],
            )
        except AlreadyExists as exc:
            return _conflict(str(exc))
        body = DetectionReadSerializer(detection, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class DetectionDetailApi(APIView):
    @api_schema(
        summary="One detection",
        parameters=[path_id("detection_id", "detection id")],
        responses={200: DetectionReadSerializer},
        errors=(404,),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        detection = _detection_or_404(detection_id)
        return Response(DetectionReadSerializer(detection, context={"request": request}).data)


class DetectionImageApi(APIView):
    """The image bytes; `variant=thumb` is a JPEG at most IMAGE_THUMBNAIL_WIDTH wide (cached)."""

    content_negotiation_class = IgnoreAcceptNegotiation

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "DetectionImageQuery"

        variant = serializers.ChoiceField(
            choices=["thumb"], required=False, help_text="omit for the original image"
        )

    @api_schema(
        summary="The image of a detection",
        parameters=[path_id("detection_id", "detection id"), QuerySerializer],
        responses={
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="image bytes")
            for media_type in ("image/jpeg", "image/png", "image/webp")
        },
        errors=(404, 422),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        query = validated_query(self.QuerySerializer, request)
        detection = _detection_or_404(detection_id)
        variant = query.get("variant")
        try:
            handle = thumbnail_open(detection, variant) if variant else detection.image.open("rb")
        except FileNotFoundError as exc:
            raise NotFound(IMAGE_FILE_NOT_FOUND) from exc
        # Variants are JPEG; originals keep the format image_check found on upload.
        extension = Path(detection.image.name).suffix.lower()
        media_type = "image/jpeg" if variant else IMAGE_MEDIA_TYPES.get(extension, "image/jpeg")
        return FileResponse(handle, content_type=media_type)


class DetectionUrlApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DetectionUrlOutput"

        url = serializers.CharField(help_text="absolute URL of the image endpoint")

    @api_schema(
        summary="The URL of a detection's image (kept for reference clients)",
        parameters=[path_id("detection_id", "detection id")],
        responses={200: OutputSerializer},
        errors=(404,),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        detection = _detection_or_404(detection_id)
        return Response({"url": detection_image_url(request, detection.pk)})


# --- Sequence annotations ----------------------------------------------------------------------


class _AutogenInputSerializer(serializers.Serializer):
    """Thresholds of cluster auto-generation (SPEC §4.2), used at `ready_to_annotate`."""

    confidence_threshold = FiniteFloatField(required=False, min_value=0, max_value=1)
    iou_threshold = FiniteFloatField(required=False, min_value=0, max_value=1)
    min_cluster_size = IntegerField(required=False, min_value=1, max_value=INT_MAX)


def _autogen(data: dict) -> AutogenParams:
    given = {name: data[name] for name in _AutogenInputSerializer().fields if name in data}
    return AutogenParams(**given)


def _annotation_or_404(annotation_id: int) -> SequenceAnnotation:
    row = SequenceAnnotation.objects.filter(pk=annotation_id).first()
    if row is None:
        raise NotFound(ANNOTATION_NOT_FOUND)
    return row


class SequenceAnnotationCollectionApi(APIView):
    """`GET /annotations/sequences/` (filtered page) and `POST` (a human save)."""

    parser_classes = API_PARSERS
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SequenceAnnotationFilter
    queryset = SequenceAnnotation.objects.none()

    class CreateInputSerializer(_AutogenInputSerializer):
        class Meta:
            ref_name = "SequenceAnnotationCreateInput"

        sequence_id = id_field()
        annotation = AnnotationPayloadField(
            required=False,
            help_text="omitted or empty at ready_to_annotate: generated from the predictions",
        )
        processing_stage = serializers.ChoiceField(choices=ProcessingStage.choices)
        has_missed_smoke = BooleanField()
        is_unsure = BooleanField(required=False)

    @api_schema(
        summary="List sequence annotations",
        operation_id="annotations_sequences_list",
        responses={200: page_of(SequenceAnnotationReadSerializer)},
        paged=True,
        errors=(422,),
        tags=["annotations"],
    )
    def get(self, request):
        return paginated_response(
            request=request,
            queryset=SequenceAnnotation.objects.all(),
            serialize=lambda rows, query: SequenceAnnotationReadSerializer(rows, many=True).data,
            filterset_class=SequenceAnnotationFilter,
        )

    @api_schema(
        summary="Annotate a sequence (a human save: may label and fan out through its group)",
        request=CreateInputSerializer,
        responses={201: SequenceAnnotationReadSerializer},
        errors=(409, 422),
        tags=["annotations"],
    )
    def post(self, request):
        data = validated_body(
            self.CreateInputSerializer,
            request,
            extra_checks=_sequence_errors,
            service_checks=lambda values: _content_errors(values, values.get("sequence")),
        )
        try:
            outcome = annotation_create(
                sequence_id=data["sequence_id"],
                annotation=data.get("annotation"),
                processing_stage=data["processing_stage"],
                has_missed_smoke=data["has_missed_smoke"],
                is_unsure=data.get("is_unsure"),
                source=LabelSource.HUMAN,
                actor=request.user,
                autogen=_autogen(data),
            )
        except Sequence.DoesNotExist:  # deleted since the check above
            raise RequestInvalid([_unknown_sequence(data["sequence_id"])]) from None
        except AlreadyExists as exc:
            return _conflict(str(exc))
        body = SequenceAnnotationReadSerializer(
            outcome.annotation, context=save_warning_context(outcome)
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class SequenceAnnotationDetailApi(APIView):
    """`GET`, `PATCH` (a human save) and `DELETE /annotations/sequences/{id}`."""

    parser_classes = API_PARSERS

    class PatchInputSerializer(_AutogenInputSerializer):
        class Meta:
            ref_name = "SequenceAnnotationPatchInput"

        annotation = AnnotationPayloadField(required=False)
        processing_stage = serializers.ChoiceField(choices=ProcessingStage.choices, required=False)
        has_missed_smoke = BooleanField(required=False)
        is_unsure = BooleanField(required=False)

    parameters = [path_id("annotation_id", "sequence annotation id")]

    @api_schema(
        summary="One sequence annotation",
        parameters=parameters,
        responses={200: SequenceAnnotationReadSerializer},
        errors=(404,),
        tags=["annotations"],
    )
    def get(self, request, annotation_id: int):
        return Response(SequenceAnnotationReadSerializer(_annotation_or_404(annotation_id)).data)

    @api_schema(
        summary="Update a sequence annotation (a human save: may label and fan out)",
        parameters=parameters,
        request=PatchInputSerializer,
        responses={200: SequenceAnnotationReadSerializer},
        errors=(404, 422),
        tags=["annotations"],
    )
    def patch(self, request, annotation_id: int):
        row = _annotation_or_404(annotation_id)
        data = validated_body(
            self.PatchInputSerializer,
            request,
            service_checks=lambda values: _content_errors(values, row.sequence),
        )
        if not data:
            return Response(SequenceAnnotationReadSerializer(row).data)
        thresholds_sent = set(_AutogenInputSerializer().fields) & set(data)
        try:
            outcome = annotation_update(
                annotation_id=row.pk,
                changes=data,
                source=LabelSource.HUMAN,
                actor=request.user,
                autogen=_autogen(data) if thresholds_sent else None,
            )
        except SequenceAnnotation.DoesNotExist:  # deleted meanwhile
            raise NotFound(ANNOTATION_NOT_FOUND) from None
        body = SequenceAnnotationReadSerializer(
            outcome.annotation, context=save_warning_context(outcome)
        ).data
        return Response(body)

    @api_schema(
        summary="Delete a sequence annotation (the sequence is kept; nothing propagates)",
        parameters=parameters,
        responses={204: None},
        errors=(404,),
        tags=["annotations"],
    )
    def delete(self, request, annotation_id: int):
        annotation_delete(annotation=_annotation_or_404(annotation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
