"""REST endpoints of sequence groups (SPEC §5.2–§5.9, §7.2): list, stats, detail, validation,
members, assignment, the audit log and undo, bulk annotate, and the check queue.

One APIView per path, each operation with nested input/output serializers. Every rule lives in
`groups.services`, `groups.selectors` or `groups.assignment`; their `GroupServiceError`s become
responses in `annotation_site.api.exception_handler` (status and detail as the service says).
"""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import (
    API_PARSERS,
    BooleanField,
    api_schema,
    id_field,
    page_of,
    paginated_response,
    path_id,
    validated_body,
)
from groups.assignment import AssignmentAlreadyRunning, assignment_run
from groups.filters import SequenceGroupFilter
from groups.models import RunTrigger, SequenceGroup
from groups.selectors import group_detail, group_history, group_stats
from groups.services import (
    GroupNotFound,
    bulk_label_choice_errors,
    group_bulk_annotate,
    group_member_reinclude,
    group_member_remove,
    group_operation_undo,
    group_unvalidate,
    group_validate,
    label_check_confirm,
    label_check_reject,
)
from sequences.filters import FilteredListSchema
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES, annotation_label
from sequences.serializers import PredictionsField, RepresentativeBboxDoc


class IsStaff(IsAdminUser):
    """Staff only (assign, undo): 403 for annotators; anonymous requests still get the 401."""

    message = "Only staff members can do this."


def _id_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=id_field(), **kwargs)


# --- Read shapes (SPEC §7.3) -------------------------------------------------------------------


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
    member_count = serializers.IntegerField()


class SequenceGroupReadSerializer(SequenceGroupBaseSerializer):
    labeled_by_user_id = serializers.IntegerField(source="labeled_by_id", allow_null=True)
    validated_by_user_id = serializers.IntegerField(source="validated_by_id", allow_null=True)
    validated_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class GroupMemberSerializer(serializers.Serializer):
    sequence_id = serializers.IntegerField(source="pk")
    alert_api_id = serializers.IntegerField()
    camera_name = serializers.CharField(source="camera.name")
    recorded_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    annotation_processing_stage = serializers.SerializerMethodField()
    annotation_label = serializers.SerializerMethodField()
    label_source = serializers.SerializerMethodField()
    first_detection_id = serializers.SerializerMethodField()
    first_detection_algo_predictions = serializers.SerializerMethodField()

    def get_annotation_processing_stage(self, member) -> str | None:
        row = member.annotation_row
        return row.processing_stage if row else None

    def get_annotation_label(self, member) -> str | None:
        row = member.annotation_row
        label = annotation_label(row.annotation) if row else None
        return str(label) if label else None

    def get_label_source(self, member) -> str | None:
        row = member.annotation_row
        return row.label_source if row else None

    def get_first_detection_id(self, member) -> int | None:
        detection = member.first_detection
        return detection.pk if detection else None

    @extend_schema_field(PredictionsField(allow_null=True))
    def get_first_detection_algo_predictions(self, member) -> dict | None:
        detection = member.first_detection
        return detection.algo_predictions if detection else None


class SequenceGroupDetailSerializer(SequenceGroupReadSerializer):
    member_count = serializers.SerializerMethodField()
    members = GroupMemberSerializer(source="members_ordered", many=True)

    def get_member_count(self, group) -> int:
        return len(group.members_ordered)


class _StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    labeled = serializers.IntegerField()
    unlabeled = serializers.IntegerField()
    validated = serializers.IntegerField()
    unvalidated = serializers.IntegerField()


# --- Groups ------------------------------------------------------------------------------------

GROUP_ID = path_id("group_id", "sequence group id")
SEQUENCE_ID = path_id("sequence_id", "sequence id")


class SequenceGroupCollectionApi(APIView):
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SequenceGroupFilter
    queryset = SequenceGroup.objects.none()

    @api_schema(
        summary="List sequence groups (only groups with at least GROUPS_MIN_LISTED_MEMBERS)",
        operation_id="sequence_groups_list",
        responses={200: page_of(SequenceGroupListItemSerializer)},
        paged=True,
        errors=(422,),
        tags=["sequence_groups"],
    )
    def get(self, request):
        return paginated_response(
            request=request,
            queryset=SequenceGroup.objects.none(),
            serialize=lambda rows, query: SequenceGroupListItemSerializer(rows, many=True).data,
            filterset_class=SequenceGroupFilter,
        )


class SequenceGroupStatsApi(APIView):
    @api_schema(
        summary="Counts of the listed groups (the tabs' and the badge's numbers)",
        responses={200: _StatsSerializer},
        tags=["sequence_groups"],
    )
    def get(self, request):
        return Response(_StatsSerializer(group_stats()).data)


class SequenceGroupDetailApi(APIView):
    parser_classes = API_PARSERS

    class PatchInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupPatchInput"

        is_validated = BooleanField()

    class PatchOutputSerializer(SequenceGroupReadSerializer):
        class Meta:
            ref_name = "SequenceGroupPatchOutput"

        validation_warning = serializers.CharField(allow_null=True)
        propagated_count = serializers.IntegerField()

    @api_schema(
        summary="One sequence group with its members",
        parameters=[GROUP_ID],
        responses={200: SequenceGroupDetailSerializer},
        errors=(404,),
        tags=["sequence_groups"],
    )
    def get(self, request, group_id: int):
        try:
            group = group_detail(group_id=group_id)
        except SequenceGroup.DoesNotExist as exc:
            raise GroupNotFound(group_id) from exc
        # A member's camera may differ from the group's: one query for all of them.
        prefetch_related_objects(group.members_ordered, "camera")
        return Response(SequenceGroupDetailSerializer(group).data)

    @api_schema(
        summary="Validate or unvalidate a group (validating may label it from its members)",
        parameters=[GROUP_ID],
        request=PatchInputSerializer,
        responses={200: PatchOutputSerializer},
        errors=(404, 422),
        tags=["sequence_groups"],
    )
    def patch(self, request, group_id: int):
        data = validated_body(self.PatchInputSerializer, request)
        toggle = group_validate if data["is_validated"] else group_unvalidate
        outcome = toggle(group_id=group_id, actor=request.user)
        group = SequenceGroup.objects.select_related("camera").get(pk=outcome.group.pk)
        group.validation_warning = outcome.validation_warning
        group.propagated_count = outcome.propagated_count
        return Response(self.PatchOutputSerializer(group).data)


class SequenceGroupMemberApi(APIView):
    @api_schema(
        summary="Remove a member (it stays out of every group until re-included)",
        parameters=[GROUP_ID, SEQUENCE_ID],
        responses={204: None},
        errors=(400, 404),
        tags=["sequence_groups"],
    )
    def delete(self, request, group_id: int, sequence_id: int):
        group_member_remove(group_id=group_id, sequence_id=sequence_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SequenceGroupMemberReincludeApi(APIView):
    @api_schema(
        summary="Re-include a removed sequence (the next assignment run may group it)",
        parameters=[SEQUENCE_ID],
        request=None,
        responses={204: None},
        errors=(404,),
        tags=["sequence_groups"],
    )
    def post(self, request, sequence_id: int):
        group_member_reinclude(sequence_id=sequence_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SequenceGroupAssignApi(APIView):
    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupAssignOutput"

        run_id = serializers.IntegerField()
        processed = serializers.IntegerField()
        new_groups = serializers.IntegerField()
        joined_existing = serializers.IntegerField()
        inherited_annotations = serializers.IntegerField()
        joined_not_inherited = serializers.IntegerField()
        skipped_no_bbox = serializers.IntegerField()

    @api_schema(
        summary="Run the group assignment now (staff; 409 while another run holds the lock)",
        request=None,
        responses={200: OutputSerializer},
        errors=(403, 409),
        tags=["sequence_groups"],
    )
    def post(self, request):
        try:
            outcome = assignment_run(trigger=RunTrigger.API, actor=request.user)
        except AssignmentAlreadyRunning as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.OutputSerializer(outcome.as_dict()).data)


# --- Audit log and undo ------------------------------------------------------------------------


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


class SequenceGroupOperationsApi(APIView):
    @api_schema(
        summary="The audit log of a group, newest first",
        parameters=[GROUP_ID],
        responses={200: page_of(GroupOperationSerializer)},
        paged=True,
        errors=(404, 422),
        tags=["sequence_groups"],
    )
    def get(self, request, group_id: int):
        if not SequenceGroup.objects.filter(pk=group_id).exists():
            raise GroupNotFound(group_id)

        def serialize(rows, query):
            # Member rows of the page only: one query whatever the page holds.
            prefetch_related_objects(rows, "members")
            return GroupOperationSerializer(rows, many=True).data

        # The group page's history (operations naming the group, those that wrote one of its
        # members, and their undos), complete: the API pages it.
        operations = group_history(group_id=group_id, limit=None)
        return paginated_response(request=request, queryset=operations, serialize=serialize)


class GroupOperationUndoApi(APIView):
    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GroupOperationUndoOutput"

        class LeftAloneSerializer(serializers.Serializer):
            class Meta:
                ref_name = "GroupOperationUndoOutputLeftAlone"

            sequence_id = serializers.IntegerField()
            reason = serializers.CharField()

        operation_id = serializers.IntegerField()
        undo_operation_id = serializers.IntegerField()
        restored = serializers.ListField(child=serializers.IntegerField())
        left_alone = LeftAloneSerializer(many=True)
        group_restored = serializers.BooleanField()

    @api_schema(
        summary="Undo one operation as a unit (staff)",
        parameters=[path_id("operation_id", "operation id")],
        request=None,
        responses={200: OutputSerializer},
        errors=(403, 404, 409),
        tags=["sequence_groups"],
    )
    def post(self, request, operation_id: int):
        outcome = group_operation_undo(operation_id=operation_id, actor=request.user)
        return Response(self.OutputSerializer(outcome).data)


# --- Bulk annotate and the check queue ---------------------------------------------------------


def _label_choice_errors(values, raw) -> list:
    """Neither or both labels, judged on what was sent: reported beside a field's own error."""
    return bulk_label_choice_errors(raw.get("smoke_type"), raw.get("false_positive_type"))


class SequenceAnnotationBulkApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceAnnotationBulkInput"

        sequence_ids = _id_list(min_length=1)
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

    @api_schema(
        summary="Label many sequences at once (exactly one of smoke_type / false_positive_type)",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(400, 404, 409, 422),
        tags=["annotations"],
    )
    def post(self, request):
        data = validated_body(self.InputSerializer, request, extra_checks=_label_choice_errors)
        outcome = group_bulk_annotate(actor=request.user, **data)
        return Response(self.OutputSerializer(outcome).data)


class LabelCheckApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelCheckInput"

        annotation_ids = _id_list(min_length=1)

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

    @api_schema(
        summary="Confirm machine-applied labels (marks them checked)",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(404, 422),
        tags=["check"],
    )
    def post(self, request):
        data = validated_body(self.InputSerializer, request)
        outcome = label_check_confirm(annotation_ids=data["annotation_ids"], actor=request.user)
        return Response(self.OutputSerializer(outcome).data)


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

    @api_schema(
        summary="'Not this': eject the sequence from its group and revert its machine label",
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(404, 422),
        tags=["check"],
    )
    def post(self, request):
        data = validated_body(self.InputSerializer, request)
        outcome = label_check_reject(sequence_id=data["sequence_id"], actor=request.user)
        return Response(self.OutputSerializer(outcome).data)
