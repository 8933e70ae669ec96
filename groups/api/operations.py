"""Endpoints of the audit log (SPEC §5.8, §7.2): a group's operations, newest first, and the
staff undo of one operation."""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import api_schema, page_of, paginated_response, path_id
from groups.api.groups import GROUP_ID, IsStaff
from groups.api.shapes import GroupOperationSerializer
from groups.models import SequenceGroup
from groups.selectors import group_operations
from groups.services import GroupNotFound, group_operation_undo


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
        # members, and their undos), paged in the database: one page of rows is read.
        operations = group_operations(group_id=group_id)
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
