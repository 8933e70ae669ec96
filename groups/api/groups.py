"""Endpoints of the groups themselves (SPEC §5.2–§5.6, §7.2): the list and its counts, one group,
validation, removing and re-including members, and running the assignment."""

from __future__ import annotations

from django.conf import settings
from django.db.models import prefetch_related_objects
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import (
    API_PARSERS,
    BooleanField,
    api_schema,
    page_of,
    paginated_response,
    path_id,
    validated_body,
    validated_query,
)
from groups.api.shapes import (
    OutcomeChar,
    OutcomeInteger,
    SequenceGroupDetailSerializer,
    SequenceGroupListItemSerializer,
    SequenceGroupReadSerializer,
    _StatsSerializer,
)
from groups.assignment import AssignmentAlreadyRunning, assignment_run
from groups.filters import SequenceGroupFilter
from groups.models import RunTrigger, SequenceGroup
from groups.selectors import group_detail, group_stats, held_back_counts
from groups.services import (
    GroupNotFound,
    group_member_reinclude,
    group_member_remove,
    group_unvalidate,
    group_validate,
)
from sequences.filters import FilteredListSchema

GROUP_ID = path_id("group_id", "sequence group id")
SEQUENCE_ID = path_id("sequence_id", "sequence id")


class IsStaff(IsAdminUser):
    """Staff only (assign, undo): 403 for annotators; anonymous requests still get the 401."""

    message = "Only staff members can do this."


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
            serialize=lambda rows, query: (
                SequenceGroupListItemSerializer(
                    rows, many=True, context={"held_back": held_back_counts(rows)}
                ).data
            ),
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

    class MembersQuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupMembersQuery"

        members_page = serializers.IntegerField(
            required=False,
            default=1,
            min_value=1,
            max_value=2**31 - 1,
            help_text="the page of members (by recorded time) to include; past the end: the last",
        )
        members_size = serializers.IntegerField(
            required=False,
            default=settings.API_MAX_PAGE_SIZE,
            min_value=1,
            max_value=settings.API_MAX_PAGE_SIZE,
            help_text=f"members per page, 1..{settings.API_MAX_PAGE_SIZE} "
            f"(default {settings.API_MAX_PAGE_SIZE})",
        )

    class PatchInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupPatchInput"

        is_validated = BooleanField()

    class PatchOutputSerializer(SequenceGroupReadSerializer):
        class Meta:
            ref_name = "SequenceGroupPatchOutput"

        validation_warning = OutcomeChar(allow_null=True)
        propagated_count = OutcomeInteger()

    @api_schema(
        summary="One sequence group with a page of its members (members_page, members_size)",
        parameters=[GROUP_ID, MembersQuerySerializer],
        responses={200: SequenceGroupDetailSerializer},
        errors=(404, 422),
        tags=["sequence_groups"],
    )
    def get(self, request, group_id: int):
        query = validated_query(self.MembersQuerySerializer, request)
        try:
            page = group_detail(
                group_id=group_id,
                members_page=query["members_page"],
                members_size=query["members_size"],
            )
        except SequenceGroup.DoesNotExist as exc:
            raise GroupNotFound(group_id) from exc
        # A member's camera may differ from the group's: one query for all of them.
        prefetch_related_objects([member.sequence for member in page.members], "camera")
        return Response(SequenceGroupDetailSerializer(page).data)

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
        return Response(self.PatchOutputSerializer(group, context={"outcome": outcome}).data)


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
        held_back = serializers.IntegerField()
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
