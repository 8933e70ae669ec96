"""Endpoints that regroup members: the groups a group may merge with, a merge, a split.

Both writes are one audited operation each, undone through the operations' undo endpoint.
"""

from __future__ import annotations

from dataclasses import replace

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site.api import API_PARSERS, IdListField, api_schema, id_field, validated_body
from groups.api.groups import GROUP_ID
from groups.api.shapes import (
    OutcomeChar,
    OutcomeInteger,
    SequenceGroupListItemSerializer,
    SequenceGroupReadSerializer,
)
from groups.candidates import merge_candidates
from groups.models import SequenceGroup
from groups.selectors import group_previews, held_back_counts
from groups.services import GroupNotFound, group_merge, group_split


class SequenceGroupMergeCandidatesApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupMergeCandidate"

        group = SequenceGroupListItemSerializer()
        iou = serializers.FloatField(help_text="IoU of the two groups' reference boxes")
        preview_detection_ids = serializers.SerializerMethodField(
            help_text="first detections of the group's first, middle and last member (their "
            "images: /detections/{id}/image)",
        )

        @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
        def get_preview_detection_ids(self, candidate) -> list[int]:
            return self.context["previews"].get(candidate.group.pk, [])

    @api_schema(
        summary=(
            "The groups this group may merge with: same camera and azimuth, most overlapping "
            "reference box first"
        ),
        parameters=[GROUP_ID],
        responses={200: OutputSerializer(many=True)},
        errors=(404,),
        tags=["sequence_groups"],
    )
    def get(self, request, group_id: int):
        group = SequenceGroup.objects.filter(pk=group_id).first()
        if group is None:
            raise GroupNotFound(group_id)
        candidates = merge_candidates(group)
        groups = [candidate.group for candidate in candidates]
        context = {
            "held_back": held_back_counts(groups),
            "previews": group_previews(group_ids=[group.pk for group in groups]),
        }
        return Response(self.OutputSerializer(candidates, many=True, context=context).data)


class SequenceGroupMergeApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupMergeInput"

        source_group_id = id_field(
            help_text="the group whose members all move into this one (it is then retired)"
        )

    class OutputSerializer(SequenceGroupReadSerializer):
        class Meta:
            ref_name = "SequenceGroupMergeOutput"

        member_count = serializers.IntegerField()
        operation_id = OutcomeInteger(help_text="the `merge` operation, to undo it")
        merged_group_id = OutcomeInteger(source="source_id")
        moved = OutcomeInteger(help_text="members moved into this group")
        label_taken = OutcomeChar(
            allow_null=True, help_text="the label this group took from the merged group"
        )
        propagated_count = OutcomeInteger()
        held_back_count = OutcomeInteger()

    @api_schema(
        summary=(
            "Merge another group of the same camera and azimuth into this one (its members "
            "move here; this group keeps its reference box; labels are reconciled)"
        ),
        parameters=[GROUP_ID],
        request=InputSerializer,
        responses={200: OutputSerializer},
        errors=(400, 404, 409, 422),
        tags=["sequence_groups"],
    )
    def post(self, request, group_id: int):
        data = validated_body(self.InputSerializer, request)
        outcome = group_merge(
            target_group_id=group_id, source_group_id=data["source_group_id"], actor=request.user
        )
        group = SequenceGroup.objects.select_related("camera").get(pk=outcome.target.pk)
        return Response(self.OutputSerializer(group, context={"outcome": outcome}).data)


class SequenceGroupSplitApi(APIView):
    parser_classes = API_PARSERS

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupSplitInput"

        sequence_ids = IdListField(
            min_length=1,
            help_text="members of this group to move into a new group (not all of them)",
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SequenceGroupSplitOutput"

        group_id = serializers.IntegerField(source="group.pk")
        new_group = SequenceGroupReadSerializer()
        moved = serializers.ListField(child=serializers.IntegerField())
        operation_id = serializers.IntegerField(help_text="the `split` operation, to undo it")

    @api_schema(
        summary=("Split chosen members out into a new group (reference box: the median of theirs)"),
        parameters=[GROUP_ID],
        request=InputSerializer,
        responses={201: OutputSerializer},
        errors=(400, 404, 422),
        tags=["sequence_groups"],
    )
    def post(self, request, group_id: int):
        data = validated_body(self.InputSerializer, request)
        outcome = group_split(
            group_id=group_id, sequence_ids=data["sequence_ids"], actor=request.user
        )
        # The new group with its camera, which the answer shows.
        new_group = SequenceGroup.objects.select_related("camera").get(pk=outcome.new_group.pk)
        answer = self.OutputSerializer(replace(outcome, new_group=new_group)).data
        return Response(answer, status=status.HTTP_201_CREATED)
