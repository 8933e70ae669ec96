"""`GET /export/alerts`: the training export the model team walks, keyset page by keyset page.

Shaped like the reference's endpoint: `{"items": [...], "next_cursor": "<source_api>:<id>"}`,
`cursor` and `limit` (1..500, default 100), never an offset. Which alerts come out (labels a
person stands behind by default, withdrawn alerts after a watermark) is `sequences.exporting`'s
rule; this module reads the query string, answers the page, and says where a frame's image is
fetched (`export_image_urls`). Two queries per page whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.files.storage import default_storage
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api
from annotation_site.storage import storage_presigns
from sequences.exporting import (
    CURSOR_INVALID,
    CURSOR_PATTERN,
    FREE_TEXT,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    MULTIPLE,
    ORIGINS,
    RECORD_KINDS,
    ExportFilterSet,
    cursor_parse,
    cursor_text,
    filters_read,
    page_items,
    page_read,
)
from sequences.filters import FilteredListSchema
from sequences.models import LabelSource, Sequence, SourceApi
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES
from sequences.serializers import detection_image_url
from sequences.services.images import stored_image_url

# An id that appears nowhere else in an image URL: where the detection id goes in the template.
_MARKER_ID = 10**17 + 7


def export_image_urls(request) -> Callable[[int, str], str]:
    """Where the caller fetches each detection's image: the one place the export decides it.

    Returns `url(detection_id, image_name)`: with object storage a presigned URL of the image's
    key, valid IMAGE_URL_EXPIRY_SECONDS, which the caller fetches without credentials;
    otherwise the login-protected image endpoint of the API, resolved once per request (a
    reverse per frame cost a third of a page).
    """
    if storage_presigns(default_storage):
        return lambda detection_id, image_name: stored_image_url(image_name)
    head, tail = detection_image_url(request, _MARKER_ID).rsplit(str(_MARKER_ID), 1)
    return lambda detection_id, image_name: f"{head}{detection_id}{tail}"


# --- Documented shapes (the items themselves are built by `sequences.exporting.items`) ---------


class ExportBoxDoc(serializers.Serializer):
    class Meta:
        ref_name = "ExportBox"

    xyxyn = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), min_length=4, max_length=4
    )
    smoke_type = serializers.ChoiceField(choices=SMOKE_TYPES, allow_null=True)
    false_positive_types = serializers.ListField(
        child=serializers.ChoiceField(choices=FALSE_POSITIVE_TYPES), allow_null=True
    )
    origin = serializers.ChoiceField(
        choices=ORIGINS,
        help_text="engine: one of the detector's boxes on this frame; human: a box a client sent",
    )


class ExportFrameDoc(serializers.Serializer):
    class Meta:
        ref_name = "ExportFrame"

    detection_id = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    bucket_key = serializers.CharField(help_text="the image's key in storage")
    image_url = serializers.CharField(help_text="where the caller fetches the image")
    boxes = ExportBoxDoc(many=True, help_text="the object's boxes on this frame; may be empty")


class ExportObjectDoc(serializers.Serializer):
    class Meta:
        ref_name = "ExportObject"

    sequence_id = serializers.IntegerField()
    cluster_index = serializers.IntegerField(help_text="the cluster's place in the annotation")
    record_kind = serializers.ChoiceField(choices=RECORD_KINDS)
    smoke_types = serializers.ListField(child=serializers.ChoiceField(choices=SMOKE_TYPES))
    false_positive_types = serializers.ListField(
        child=serializers.ChoiceField(choices=FALSE_POSITIVE_TYPES)
    )
    label_source = serializers.ChoiceField(choices=LabelSource.choices)
    checked = serializers.BooleanField(help_text="a person made or confirmed the label")
    group_id = serializers.IntegerField(allow_null=True, help_text="the sequence's group")
    label_source_group_id = serializers.IntegerField(
        allow_null=True, help_text="the group a machine label came from"
    )
    frames = ExportFrameDoc(many=True, help_text="every frame of the sequence, in time order")


class ExportAlertDoc(serializers.Serializer):
    class Meta:
        ref_name = "ExportAlert"

    source_api = serializers.ChoiceField(choices=SourceApi.choices)
    platform_alert_id = serializers.IntegerField()
    camera_id = serializers.IntegerField(help_text="the platform's camera id")
    camera_name = serializers.CharField()
    organisation_id = serializers.IntegerField(help_text="the platform's organisation id")
    organisation_name = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    azimuth = serializers.IntegerField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    last_annotated_at = serializers.DateTimeField()
    temporal_model_score = serializers.FloatField(
        allow_null=True, help_text="null when the platform did not score the alert (never 0)"
    )
    temporal_model_version = serializers.CharField(allow_null=True)
    temporal_api_version = serializers.CharField(allow_null=True)
    has_missed_smoke = serializers.BooleanField()
    withdrawn = serializers.BooleanField(
        help_text="its label was withdrawn since the watermark: drop it (no objects)"
    )
    objects = ExportObjectDoc(many=True, help_text="one per labeled cluster")


class ExportPageDoc(serializers.Serializer):
    class Meta:
        ref_name = "ExportAlertPage"

    items = ExportAlertDoc(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="the cursor of the next page; null on the last one"
    )


# --- The endpoint --------------------------------------------------------------------------------


class ExportAlertsApi(APIView):
    """`GET /export/alerts`: one keyset page of the training export."""

    # Read by drf-spectacular's django-filter extension to document the filters.
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = ExportFilterSet
    queryset = Sequence.objects.none()

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "ExportAlertsQuery"

        cursor = serializers.RegexField(
            CURSOR_PATTERN,
            required=False,
            max_length=64,
            error_messages={"invalid": CURSOR_INVALID},
            help_text="the next_cursor of the previous page; omit for the first page",
        )
        limit = site_api.IntegerField(
            required=False,
            default=LIMIT_DEFAULT,
            min_value=1,
            max_value=LIMIT_MAX,
            help_text=f"alerts per page, 1..{LIMIT_MAX}, default {LIMIT_DEFAULT}",
        )

    @site_api.api_schema(
        summary="Export labeled alerts for training, keyset page by keyset page",
        operation_id="export_alerts",
        parameters=[QuerySerializer],
        responses={200: ExportPageDoc},
        errors=(422,),
        tags=["export"],
    )
    def get(self, request):
        errors = site_api.query_shape_errors(
            request,
            allowed=[*self.QuerySerializer().fields, *ExportFilterSet.base_filters],
            free_text=FREE_TEXT,
            repeatable=MULTIPLE,
        )
        paging = self.QuerySerializer(data=request.query_params)
        if not paging.is_valid():
            errors += site_api.flatten_errors(paging.errors, ("query",))
        filters, filter_errors = filters_read(request.query_params)
        errors += site_api.query_errors(filter_errors)
        if errors:
            raise site_api.RequestInvalid(errors)
        cursor = paging.validated_data.get("cursor")
        page = page_read(
            filters,
            after=cursor_parse(cursor) if cursor else None,
            limit=paging.validated_data["limit"],
        )
        image_url = export_image_urls(request)
        items = page_items(
            page, lambda frame: {"image_url": image_url(frame.detection_id, frame.image_name)}
        )
        next_cursor = cursor_text(page.next_key) if page.next_key else None
        return Response({"items": items, "next_cursor": next_cursor})
