"""Endpoints that write labels on many sequences (SPEC §5.7, §5.9, §7.2): bulk annotate, and the
check queue's confirm and "Not this"."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.views import APIView

from annotation_site.api import API_PARSERS, BooleanField, IdListField, id_field
from annotation_site.api.endpoints import service_post
from groups.services import (
    bulk_label_choice_errors,
    group_bulk_annotate,
    label_check_confirm,
    label_check_reject,
)
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES


def _label_choice_errors(values, raw) -> list:
    """Neither or both labels, judged on what was sent: reported beside a field's own error."""
    return bulk_label_choice_errors(raw.get("smoke_type"), raw.get("false_positive_type"))


class SequenceAnnotationBulkApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceAnnotationBulkInput"

        sequence_ids = IdListField(min_length=1)
        group_id = id_field(required=False, allow_null=True, default=None)
        smoke_type = serializers.ChoiceField(
            choices=SMOKE_TYPES, required=False, allow_null=True, default=None
        )
        false_positive_type = serializers.ChoiceField(
            choices=FALSE_POSITIVE_TYPES, required=False, allow_null=True, default=None
        )
        is_unsure = BooleanField(required=False, default=False)
        force = BooleanField(required=False, default=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceAnnotationBulkOutput"

        class ItemSerializer(serializers.Serializer):
            class Meta:
                ref_name = "SequenceAnnotationBulkOutputItem"

            sequence_id = serializers.IntegerField()
            status = serializers.CharField()
            reason = serializers.CharField(allow_null=True)
            annotation_id = serializers.IntegerField(allow_null=True)

        applied = ItemSerializer(many=True)
        skipped = ItemSerializer(many=True)
        group_label_updated = serializers.BooleanField()
        operation_id = serializers.IntegerField(allow_null=True)

    post = service_post(
        group_bulk_annotate,
        summary="Label many sequences at once (exactly one of smoke_type / false_positive_type)",
        input_serializer=InputSerializer,
        output_serializer=OutputSerializer,
        errors=(400, 403, 404, 409, 422),
        tags=["annotations"],
        extra_checks=_label_choice_errors,
    )


class LabelCheckApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelCheckInput"

        annotation_ids = IdListField(min_length=1)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelCheckOutput"

        class SkippedSerializer(serializers.Serializer):
            class Meta:
                ref_name = "LabelCheckOutputSkipped"

            annotation_id = serializers.IntegerField()
            reason = serializers.CharField()

        operation_id = serializers.IntegerField(allow_null=True)
        checked = serializers.ListField(child=serializers.IntegerField())
        skipped = SkippedSerializer(many=True)

    post = service_post(
        label_check_confirm,
        summary="Confirm machine-applied labels (marks them checked)",
        input_serializer=InputSerializer,
        output_serializer=OutputSerializer,
        errors=(404, 422),
        tags=["check"],
    )


class LabelCheckRejectApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelCheckRejectInput"

        sequence_id = id_field()

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelCheckRejectOutput"

        operation_id = serializers.IntegerField()
        sequence_id = serializers.IntegerField()

    post = service_post(
        label_check_reject,
        summary="'Not this': eject the sequence from its group and revert its machine label",
        input_serializer=InputSerializer,
        output_serializer=OutputSerializer,
        errors=(404, 422),
        tags=["check"],
    )
