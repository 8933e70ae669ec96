"""Read shapes of the sequence domain in the REST API (SPEC §7.3), and the documented JSON shapes.

The `*Doc` serializers only describe JSON columns in the OpenAPI schema (annotation payload,
predictions, boxes); validation of those values is `sequences.payloads`' job, called by the
services, so the rules live in one place.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation_site.api import JsonInputField
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES
from sequences.services import SaveOutcome

# --- Documented JSON shapes ------------------------------------------------------------------


def _box_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1),
        min_length=4,
        max_length=4,
        help_text="xyxyn: [x1, y1, x2, y2] normalised to the image, x1 < x2 and y1 < y2",
        **kwargs,
    )


class PredictionDoc(serializers.Serializer):
    xyxyn = _box_field()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    class_name = serializers.CharField(min_length=1)


class PredictionsDoc(serializers.Serializer):
    predictions = PredictionDoc(many=True)


class ClusterBoxDoc(serializers.Serializer):
    detection_id = serializers.IntegerField()
    xyxyn = _box_field()


class ClusterDoc(serializers.Serializer):
    is_smoke = serializers.BooleanField()
    smoke_type = serializers.ChoiceField(choices=SMOKE_TYPES, allow_null=True, required=False)
    false_positive_types = serializers.ListField(
        child=serializers.ChoiceField(choices=FALSE_POSITIVE_TYPES), required=False
    )
    bboxes = ClusterBoxDoc(many=True)


class AnnotationPayloadDoc(serializers.Serializer):
    sequences_bbox = ClusterDoc(many=True)


class RepresentativeBboxDoc(serializers.Serializer):
    xyxyn = _box_field()
    confidence = serializers.FloatField(min_value=0, max_value=1)


@extend_schema_field(AnnotationPayloadDoc)
class AnnotationPayloadField(JsonInputField):
    """An annotation payload (§3.3), passed as is to the annotation service for validation."""


@extend_schema_field(PredictionsDoc)
class PredictionsField(serializers.JSONField):
    """`algo_predictions` / `others_bboxes` (§3.2)."""


# --- Read shapes -----------------------------------------------------------------------------


SAVE_WARNING = "group_propagation_warning"


def save_warning_context(outcome: SaveOutcome) -> dict[str, str | None]:
    """The serializer context that shows what the group did with a save."""
    return {SAVE_WARNING: outcome.effect.warning}


class SequenceAnnotationReadSerializer(serializers.Serializer):
    """SequenceAnnotationRead; `group_propagation_warning` is set only on a create or patch."""

    # The warning comes from the save's outcome, passed in the context (`save_warning_context`).

    id = serializers.IntegerField()
    sequence_id = serializers.IntegerField()
    annotation = AnnotationPayloadField()
    processing_stage = serializers.CharField()
    has_smoke = serializers.BooleanField()
    has_false_positives = serializers.BooleanField()
    smoke_types = serializers.ListField(child=serializers.CharField())
    false_positive_types = serializers.ListField(child=serializers.CharField())
    has_missed_smoke = serializers.BooleanField()
    is_unsure = serializers.BooleanField()
    label_source = serializers.CharField(allow_null=True)
    label_source_group_id = serializers.IntegerField(allow_null=True)
    label_source_operation_id = serializers.IntegerField(allow_null=True)
    checked_at = serializers.DateTimeField(allow_null=True)
    checked_by_user_id = serializers.IntegerField(source="checked_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    contributors = serializers.SerializerMethodField()
    group_propagation_warning = serializers.SerializerMethodField()

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_contributors(self, row) -> None:
        # Kept for reference clients; null until contribution tables exist (SPEC §7.3).
        return None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_group_propagation_warning(self, row) -> str | None:
        return self.context.get(SAVE_WARNING)


class SequenceReadSerializer(serializers.Serializer):
    """SequenceRead; camera_id / organisation_id are the platform's ids, not local keys."""

    id = serializers.IntegerField()
    source_api = serializers.CharField()
    alert_api_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    camera_name = serializers.CharField(source="camera.name")
    camera_id = serializers.IntegerField(source="camera.platform_id")
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    azimuth = serializers.IntegerField(allow_null=True)
    is_wildfire_alertapi = serializers.CharField(allow_null=True)
    temporal_model_score = serializers.FloatField(
        allow_null=True, help_text="the platform's temporal model score; null = not scored"
    )
    temporal_model_version = serializers.CharField(allow_null=True)
    temporal_api_version = serializers.CharField(allow_null=True)
    motion = serializers.FloatField(
        allow_null=True,
        help_text="how fast the box grows and moves over the first frames; null = not measured",
    )
    organisation_name = serializers.CharField(source="organization.name")
    organisation_id = serializers.IntegerField(source="organization.platform_id")
    sequence_group_id = serializers.IntegerField(source="group_id", allow_null=True)
    is_group_excluded = serializers.BooleanField()


class SequenceWithAnnotationReadSerializer(SequenceReadSerializer):
    """A list item when `include_annotation=true`: the annotation, or null without one."""

    # Not read-only, so the schema does not list it as always present (it is only with
    # include_annotation=true); a sequence without an annotation gives null.
    annotation = SequenceAnnotationReadSerializer(required=False, allow_null=True)


class DetectionReadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sequence_id = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    alert_api_id = serializers.IntegerField()
    bucket_key = serializers.CharField()
    algo_predictions = PredictionsField()
    others_bboxes = PredictionsField(allow_null=True)
    created_at = serializers.DateTimeField()
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, detection) -> str:
        return detection_image_url(self.context["request"], detection.pk)


def detection_image_url(request, detection_id: int) -> str:
    """The absolute URL of the API's image endpoint for a detection."""
    return request.build_absolute_uri(reverse("api:detection_image", args=[detection_id]))
