"""REST endpoints of detections (SPEC §7.2): the filtered list, the multipart upload, one
detection, its image (or thumbnail) and the image's URL.

With object storage the image endpoint redirects to a presigned URL of the bucket and the URL
endpoint answers that presigned URL; with the local disk they stream the bytes and answer the
image endpoint's address."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api
from sequences.api.bodies import body_errors, sequence_errors
from sequences.filters import DetectionFilter, FilteredListSchema
from sequences.image_responses import stored_image_response
from sequences.models import Detection
from sequences.serializers import DetectionReadSerializer, detection_image_url
from sequences.services import (
    detection_create,
    detection_payload_errors,
    image_check,
    thumbnail_open,
)
from sequences.services.images import image_bytes_check, image_presigned_url, thumbnail_name

DETECTION_NOT_FOUND = "Detection not found."
IMAGE_FILE_NOT_FOUND = "Image file not found."


def _upload_errors(values: dict[str, Any], raw) -> list[tuple]:
    """A detection upload's sequence must exist and its image open.

    Keeps the image's bytes and extension in ``values`` for the write.
    """
    errors = sequence_errors(values)
    if "file" in values:
        try:
            # An upload over the byte cap is refused before it is read into memory.
            image_bytes_check(values["file"].size)
            values["image_bytes"] = values["file"].read()
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
    return body_errors(errors)


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

        sequence_id = site_api.id_field()
        alert_api_id = site_api.id_field()
        recorded_at = serializers.DateTimeField()
        file = serializers.FileField(help_text="a JPEG, PNG or WebP image")
        algo_predictions = site_api.JsonInputField(
            help_text='JSON text: {"predictions": [{"xyxyn": [x1, y1, x2, y2], '
            '"confidence": c, "class_name": "smoke"}]}'
        )
        others_bboxes = site_api.JsonInputField(
            required=False, allow_null=True, default=None, help_text="JSON text, same shape"
        )

    @site_api.api_schema(
        summary="List detections",
        operation_id="detections_list",
        responses={200: site_api.page_of(DetectionReadSerializer)},
        paged=True,
        errors=(422,),
        tags=["detections"],
    )
    def get(self, request):
        return site_api.paginated_response(
            request=request,
            queryset=Detection.objects.all(),
            serialize=lambda rows, query: (
                DetectionReadSerializer(rows, many=True, context={"request": request}).data
            ),
            filterset_class=DetectionFilter,
        )

    @site_api.api_schema(
        summary="Upload a detection (an image and its predictions)",
        request={"multipart/form-data": CreateInputSerializer},
        responses={201: DetectionReadSerializer},
        errors=(409, 422),
        tags=["detections"],
    )
    def post(self, request):
        data = site_api.validated_body(
            self.CreateInputSerializer,
            request,
            extra_checks=_upload_errors,
            service_checks=_box_errors,
        )
        # A repeated alert_api_id raises DetectionExists: a 409 naming it.
        detection = detection_create(
            sequence=data["sequence"],
            alert_api_id=data["alert_api_id"],
            recorded_at=data["recorded_at"],
            image_bytes=data["image_bytes"],
            extension=data["extension"],
            algo_predictions=data["algo_predictions"],
            others_bboxes=data["others_bboxes"],
        )
        body = DetectionReadSerializer(detection, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class DetectionDetailApi(APIView):
    @site_api.api_schema(
        summary="One detection",
        parameters=[site_api.path_id("detection_id", "detection id")],
        responses={200: DetectionReadSerializer},
        errors=(404,),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        detection = _detection_or_404(detection_id)
        return Response(DetectionReadSerializer(detection, context={"request": request}).data)


class DetectionImageApi(APIView):
    """The image bytes; `variant=thumb` is a JPEG at most IMAGE_THUMBNAIL_WIDTH wide (cached).

    Served as the page's image view serves it (`sequences.image_responses`): ETag,
    Last-Modified, a day of private cache and 304s; with object storage a 302 to a presigned
    URL valid IMAGE_URL_EXPIRY_SECONDS, kept by the browser for half of that at most.
    """

    content_negotiation_class = site_api.IgnoreAcceptNegotiation

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "DetectionImageQuery"

        variant = serializers.ChoiceField(
            choices=["thumb"], required=False, help_text="omit for the original image"
        )

    @site_api.api_schema(
        summary="The image of a detection",
        parameters=[site_api.path_id("detection_id", "detection id"), QuerySerializer],
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="image bytes")
                for media_type in ("image/jpeg", "image/png", "image/webp")
            },
            302: OpenApiResponse(
                description="with object storage: Location is a presigned URL of the image"
            ),
            304: OpenApiResponse(
                description="the image is unchanged (If-None-Match with its ETag, or "
                "If-Modified-Since)"
            ),
        },
        errors=(404, 422),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        query = site_api.validated_query(self.QuerySerializer, request)
        detection = _detection_or_404(detection_id)
        variant = query.get("variant")
        try:
            location = image_presigned_url(detection, variant)
        except (FileNotFoundError, ValueError) as exc:  # ValueError: the image does not decode
            raise NotFound(IMAGE_FILE_NOT_FOUND) from exc
        # The page view's rule: validators, a day of private cache, 304s, a 404 for an image
        # that does not decode into its variant.
        return stored_image_response(
            request,
            detection,
            thumbnail_name(detection.image.name, variant) if variant else detection.image.name,
            location,
            lambda: thumbnail_open(detection, variant) if variant else detection.image.open("rb"),
            not_found=IMAGE_FILE_NOT_FOUND,
        )


class DetectionUrlApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DetectionUrlOutput"

        url = serializers.CharField(
            help_text="absolute URL of the image endpoint; with object storage, a presigned "
            "URL of the image, valid IMAGE_URL_EXPIRY_SECONDS"
        )

    @site_api.api_schema(
        summary="The URL of a detection's image (kept for reference clients)",
        parameters=[site_api.path_id("detection_id", "detection id")],
        responses={200: OutputSerializer},
        errors=(404,),
        tags=["detections"],
    )
    def get(self, request, detection_id: int):
        detection = _detection_or_404(detection_id)
        url = image_presigned_url(detection) or detection_image_url(request, detection.pk)
        return Response({"url": url})
