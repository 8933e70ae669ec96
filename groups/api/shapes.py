"""What the group endpoints answer (SPEC §7.3): a group in the list, in detail with its members,
the list's counts, and an audited operation with its member rows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_attribute

from sequences.payloads import annotation_label
from sequences.safeguards import HoldBack
from sequences.serializers import PredictionsField, RepresentativeBboxDoc


@extend_schema_field(RepresentativeBboxDoc)
class RepresentativeBboxField(serializers.JSONField):
    """`{"xyxyn": [...], "confidence": c}` of the group's founding sequence (§3.4)."""


class SequenceGroupBaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    camera_id = serializers.IntegerField(source="camera.platform_id")
    camera_name = serializers.CharField(source="camera.name")
    source_api = serializers.CharField(source="camera.source_api")
    azimuth = serializers.IntegerField()
    representative_bbox = RepresentativeBboxField()
    smoke_type = serializers.CharField(allow_null=True)
    false_positive_type = serializers.CharField(allow_null=True)
    is_unsure = serializers.BooleanField()
    is_validated = serializers.BooleanField()
    labeled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class SequenceGroupListItemSerializer(SequenceGroupBaseSerializer):
    """A group in a list. Its held-back count comes from `context["held_back"]` (counts by
    group id, `groups.selectors.held_back_counts`: one query for the page)."""

    member_count = serializers.IntegerField()
    held_back_count = serializers.SerializerMethodField(
        help_text="Members a safeguard kept from the group's label, waiting for a person"
    )

    def get_held_back_count(self, group) -> int:
        return self.context["held_back"].get(group.pk, 0)


class FromOutcome:
    """A field of the write that produced an answer (the serializer's `context["outcome"]`),
    beside the fields of the group the answer shows: `class OutcomeInteger(FromOutcome,
    serializers.IntegerField)`."""

    def get_attribute(self, instance):
        return get_attribute(self.context["outcome"], self.source_attrs)


class OutcomeInteger(FromOutcome, serializers.IntegerField):
    pass


class OutcomeChar(FromOutcome, serializers.CharField):
    pass


class SequenceGroupReadSerializer(SequenceGroupBaseSerializer):
    labeled_by_user_id = serializers.IntegerField(source="labeled_by_id", allow_null=True)
    validated_by_user_id = serializers.IntegerField(source="validated_by_id", allow_null=True)
    validated_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


HOLD_BACK_CODES = [code.value for code in HoldBack]


class GroupMemberSerializer(serializers.Serializer):
    """A member of a group's page (`groups.selectors.Member`)."""

    sequence_id = serializers.IntegerField(source="sequence.pk")
    alert_api_id = serializers.IntegerField(source="sequence.alert_api_id")
    camera_name = serializers.CharField(source="sequence.camera.name")
    recorded_at = serializers.DateTimeField(source="sequence.recorded_at")
    last_seen_at = serializers.DateTimeField(source="sequence.last_seen_at", allow_null=True)
    annotation_processing_stage = serializers.SerializerMethodField()
    annotation_label = serializers.SerializerMethodField()
    label_source = serializers.SerializerMethodField()
    first_detection_id = serializers.SerializerMethodField()
    first_detection_algo_predictions = serializers.SerializerMethodField()
    # Why the group's label was not applied to this member (null: not held back), and in words.
    held_back = serializers.SerializerMethodField()
    held_back_reason = serializers.SerializerMethodField()

    def get_annotation_processing_stage(self, member) -> str | None:
        row = member.annotation
        return row.processing_stage if row else None

    def get_annotation_label(self, member) -> str | None:
        row = member.annotation
        label = annotation_label(row.annotation) if row else None
        return str(label) if label else None

    def get_label_source(self, member) -> str | None:
        row = member.annotation
        return row.label_source if row else None

    def get_first_detection_id(self, member) -> int | None:
        detection = member.first_detection
        return detection.pk if detection else None

    @extend_schema_field(PredictionsField(allow_null=True))
    def get_first_detection_algo_predictions(self, member) -> dict | None:
        detection = member.first_detection
        return detection.algo_predictions if detection else None

    @extend_schema_field(serializers.ChoiceField(choices=HOLD_BACK_CODES, allow_null=True))
    def get_held_back(self, member) -> str | None:
        held = member.held_back
        return str(held.code) if held else None

    def get_held_back_reason(self, member) -> str | None:
        held = member.held_back
        return held.text if held else None


class SequenceGroupDetailSerializer(SequenceGroupReadSerializer):
    """A group with one page of its members: serializes a `groups.selectors.GroupPage`."""

    member_count = serializers.IntegerField(help_text="every member, on any page")
    held_back_count = serializers.IntegerField()
    members = GroupMemberSerializer(
        many=True,
        help_text="one page of the members by (recorded_at, id): `members_page` of "
        "`members_pages`, at most `members_size`; ask for the others with `?members_page=`",
    )
    members_page = serializers.IntegerField(source="page.number")
    members_size = serializers.IntegerField(source="page.size")
    members_pages = serializers.IntegerField(source="page.pages")

    # Read from the page itself; every other field is the group's own, read from `page.group`.
    PAGE_FIELDS = ("held_back_count", "members", "members_page", "members_size", "members_pages")

    def to_representation(self, page):
        representation = {}
        for field in self._readable_fields:
            source = page if field.field_name in self.PAGE_FIELDS else page.group
            value = field.get_attribute(source)
            representation[field.field_name] = (
                None if value is None else field.to_representation(value)
            )
        return representation


class _StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    labeled = serializers.IntegerField(help_text="with a label (unsure or not: the label wins)")
    unsure = serializers.IntegerField(help_text="unsure without a label (the Unsure tab)")
    unlabeled = serializers.IntegerField(help_text="neither (the To-label tab and the badge)")
    validated = serializers.IntegerField()
    unvalidated = serializers.IntegerField()


class _OperationMemberSerializer(serializers.Serializer):
    sequence_id = serializers.IntegerField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class GroupOperationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    run_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    group_before = serializers.JSONField(allow_null=True)
    group_after = serializers.JSONField(allow_null=True)
    details = serializers.JSONField()
    members = _OperationMemberSerializer(many=True, source="members.all")
    undone_by_operation_id = serializers.SerializerMethodField()

    def get_undone_by_operation_id(self, operation) -> int | None:
        undo = getattr(operation, "undone_by", None)
        return undo.pk if undo else None
