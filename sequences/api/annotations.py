"""REST endpoints of sequence annotations (SPEC §7.2): the filtered list, and a human save to
create or update one (it may label and fan out through its group, through the groups app's
receiver; `validate_group` validates the group first, in the same transaction), and deletion
(staff only, audited: see `annotation_delete`). Every write goes through `sequences.services`."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation_site import api as site_api
from sequences.api.bodies import body_errors, sequence_errors, unknown_sequence
from sequences.filters import FilteredListSchema, SequenceAnnotationFilter
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from sequences.payloads import INT_MAX
from sequences.serializers import (
    AnnotationPayloadField,
    SequenceAnnotationReadSerializer,
    save_warning_context,
)
from sequences.services import (
    EMPTY_ANNOTATIONS,
    AutogenParams,
    actor_may,
    annotation_content_errors,
    annotation_create,
    annotation_delete,
    annotation_update,
)

ANNOTATION_NOT_FOUND = "Sequence annotation not found."
VALIDATE_GROUP_HELP = (
    "true: first validate the sequence's group (as the group page does: who and when, "
    "audited), in the same transaction, so this save's label fans out to the group at once; "
    "a sequence in no group is refused (422 on this field)"
)
DELETE_PERMISSION = "sequences.delete_sequenceannotation"
DELETE_FORBIDDEN = (
    "Deleting an annotation needs staff or the permission "
    f"{DELETE_PERMISSION}; send it back to an earlier stage instead."
)


def _content_errors(values: dict[str, Any], sequence: Sequence | None) -> list[tuple]:
    """An annotation's own problems, as `annotation_write` checks them (SPEC §3.5).

    Empty ones are left out: at `ready_to_annotate` they are generated.
    """
    annotation = values.get("annotation")
    if sequence is None or annotation in EMPTY_ANNOTATIONS:
        return []
    return body_errors(annotation_content_errors(sequence=sequence, annotation=annotation))


class _AutogenInputSerializer(serializers.Serializer):
    """Thresholds of cluster auto-generation (SPEC §4.2), used at `ready_to_annotate`."""

    confidence_threshold = site_api.FiniteFloatField(required=False, min_value=0, max_value=1)
    iou_threshold = site_api.FiniteFloatField(required=False, min_value=0, max_value=1)
    min_cluster_size = site_api.IntegerField(required=False, min_value=1, max_value=INT_MAX)


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

    parser_classes = site_api.API_PARSERS
    schema = FilteredListSchema()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SequenceAnnotationFilter
    queryset = SequenceAnnotation.objects.none()

    class CreateInputSerializer(_AutogenInputSerializer):
        class Meta:
            ref_name = "SequenceAnnotationCreateInput"

        sequence_id = site_api.id_field()
        annotation = AnnotationPayloadField(
            required=False,
            help_text="omitted or empty at ready_to_annotate: generated from the predictions",
        )
        processing_stage = serializers.ChoiceField(choices=ProcessingStage.choices)
        has_missed_smoke = site_api.BooleanField()
        is_unsure = site_api.BooleanField(required=False)
        validate_group = site_api.BooleanField(required=False, help_text=VALIDATE_GROUP_HELP)

    @site_api.api_schema(
        summary="List sequence annotations",
        operation_id="annotations_sequences_list",
        responses={200: site_api.page_of(SequenceAnnotationReadSerializer)},
        paged=True,
        errors=(422,),
        tags=["annotations"],
    )
    def get(self, request):
        return site_api.paginated_response(
            request=request,
            queryset=SequenceAnnotation.objects.all(),
            serialize=lambda rows, query: SequenceAnnotationReadSerializer(rows, many=True).data,
            filterset_class=SequenceAnnotationFilter,
        )

    @site_api.api_schema(
        summary="Annotate a sequence (a human save: may label and fan out through its group)",
        request=CreateInputSerializer,
        responses={201: SequenceAnnotationReadSerializer},
        errors=(409, 422),
        tags=["annotations"],
    )
    def post(self, request):
        data = site_api.validated_body(
            self.CreateInputSerializer,
            request,
            extra_checks=sequence_errors,
            service_checks=lambda values: _content_errors(values, values.get("sequence")),
        )
        try:  # a sequence annotated already raises AlreadyExists: a 409 naming it
            outcome = annotation_create(
                sequence_id=data["sequence_id"],
                annotation=data.get("annotation"),
                processing_stage=data["processing_stage"],
                has_missed_smoke=data["has_missed_smoke"],
                is_unsure=data.get("is_unsure"),
                source=LabelSource.HUMAN,
                actor=request.user,
                autogen=_autogen(data),
                validate_group=data.get("validate_group", False),
            )
        except Sequence.DoesNotExist:  # deleted since the check above
            raise site_api.RequestInvalid([unknown_sequence(data["sequence_id"])]) from None
        body = SequenceAnnotationReadSerializer(
            outcome.annotation, context=save_warning_context(outcome)
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class SequenceAnnotationDetailApi(APIView):
    """`GET`, `PATCH` (a human save) and `DELETE /annotations/sequences/{id}`."""

    parser_classes = site_api.API_PARSERS

    class PatchInputSerializer(_AutogenInputSerializer):
        class Meta:
            ref_name = "SequenceAnnotationPatchInput"

        annotation = AnnotationPayloadField(required=False)
        processing_stage = serializers.ChoiceField(choices=ProcessingStage.choices, required=False)
        has_missed_smoke = site_api.BooleanField(required=False)
        is_unsure = site_api.BooleanField(required=False)
        validate_group = site_api.BooleanField(required=False, help_text=VALIDATE_GROUP_HELP)

    parameters = [site_api.path_id("annotation_id", "sequence annotation id")]

    @site_api.api_schema(
        summary="One sequence annotation",
        parameters=parameters,
        responses={200: SequenceAnnotationReadSerializer},
        errors=(404,),
        tags=["annotations"],
    )
    def get(self, request, annotation_id: int):
        return Response(SequenceAnnotationReadSerializer(_annotation_or_404(annotation_id)).data)

    @site_api.api_schema(
        summary="Update a sequence annotation (a human save: may label and fan out)",
        parameters=parameters,
        request=PatchInputSerializer,
        responses={200: SequenceAnnotationReadSerializer},
        errors=(404, 422),
        tags=["annotations"],
    )
    def patch(self, request, annotation_id: int):
        row = _annotation_or_404(annotation_id)
        data = site_api.validated_body(
            self.PatchInputSerializer,
            request,
            service_checks=lambda values: _content_errors(values, row.sequence),
        )
        validate_group = data.pop("validate_group", False)
        if not data and not validate_group:
            return Response(SequenceAnnotationReadSerializer(row).data)
        thresholds_sent = set(_AutogenInputSerializer().fields) & set(data)
        try:
            outcome = annotation_update(
                annotation_id=row.pk,
                changes=data,
                source=LabelSource.HUMAN,
                actor=request.user,
                autogen=_autogen(data) if thresholds_sent else None,
                validate_group=validate_group,
            )
        except SequenceAnnotation.DoesNotExist:  # deleted meanwhile
            raise NotFound(ANNOTATION_NOT_FOUND) from None
        body = SequenceAnnotationReadSerializer(
            outcome.annotation, context=save_warning_context(outcome)
        ).data
        return Response(body)

    @site_api.api_schema(
        summary=(
            "Delete a sequence annotation (staff, or the delete permission; audited and "
            "undoable; the sequence is kept; nothing propagates)"
        ),
        parameters=parameters,
        responses={204: None},
        errors=(403, 404),
        tags=["annotations"],
    )
    def delete(self, request, annotation_id: int):
        if not actor_may(request.user, DELETE_PERMISSION):
            raise PermissionDenied(DELETE_FORBIDDEN)
        try:
            annotation_delete(annotation=_annotation_or_404(annotation_id), actor=request.user)
        except SequenceAnnotation.DoesNotExist:  # deleted meanwhile
            raise NotFound(ANNOTATION_NOT_FOUND) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
